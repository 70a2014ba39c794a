/* The pyharness AD stack: a drop-in for the push/pop part of Tapenade's
 * ADFirstAidKit (adStack.c), with exact byte accounting, a soft per-rank
 * limit, and a fault switch for testing gradient checks.
 *
 * One contiguous LIFO byte buffer per process. Every entry point Tapenade's
 * generated code calls exists under its Fortran name (lower case, trailing
 * underscore, arguments by reference) and its C name (pushReal8(double), ...).
 *
 * Byte accounting follows adStack.c, so budgets mean the same thing:
 *   - control bits (PUSHCONTROLnB: n bits) and scalar booleans (1 bit) go
 *     into a 32-bit word that reaches the stack (4 bytes) when it is full;
 *     bits still in the word are not on the stack;
 *   - boolean arrays: 4 bytes per element (a Fortran default LOGICAL);
 *   the control words on the stack are counted (in the paths that move a
 *   word, never in the fast paths), so that the recorder can give the control
 *   bits on the stack at each event: 32 per word plus those in the word;
 *   - character: 1 byte; integer4/real4/complex4-pair/pointer4: 4 (or 8 for
 *     complex8); integer8/real8/pointer8: 8; real16/complex16: 16.
 *
 * Repeat sections (fixed-point adjoints) behave as adStack.c's: after
 * adStack_startRepeat() the contents below the current top are frozen; a push
 * made while the top is inside the frozen part goes above it (the "free push"
 * location), and popping back down to that location returns to where the top
 * was (the "back pop" location). adStack_resetRepeat() returns the top (and
 * the bit word) to where they were at the start of the section.
 *
 * Speed: the state is one static struct (no GOT indirection in the shared
 * library), the entry points call static inline helpers (no call through an
 * interposable symbol), and everything rare (repeat sections, faults, growth,
 * the limit, errors) sits behind one flag or one bound check on a cold path.
 */

#include <complex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adStack.h"

#define PH_API __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((noinline, cold))

/* ------------------------------------------------------------------ state */

typedef struct level {
  int active;            /* 0 once adStack_endRepeat() closed it */
  int has_back_pop;
  uint64_t resume;       /* top at adStack_startRepeat() */
  uint64_t free_push;    /* where pushes made inside the frozen part go */
  uint64_t back_pop;     /* where the top returns when popped down to free_push */
  uint32_t bits;         /* bit word at the start of the section */
  int nbits;
  uint64_t ctl;          /* control words on the stack at the start */
  uint64_t free_push_ctl;   /* ... below free_push */
  uint64_t back_pop_ctl;    /* ... below back_pop */
  struct level *prev;
} level;

enum { FAULT_NONE = 0, FAULT_FLIP_REAL, FAULT_SKIP_PUSH, FAULT_BAD_CONTROL };

static struct {
  /* hot: touched by every push and pop */
  char *buf;
  uint64_t top;          /* bytes on the stack */
  uint64_t end;          /* pushes up to here need no check (capacity, limit) */
  uint64_t hw;           /* highest top since the last change of ext */
  uint64_t pushed, popped;
  uint32_t bits;         /* control bits and booleans not yet pushed */
  int nbits;
  int hooks;             /* nonzero: repeat levels or an armed fault (slow path) */
  int64_t floor;         /* pops leaving the top below this take the slow path */
  int bit_max;           /* pushes of bits beyond this many in the word: slow path */
  int bit_min;           /* pops of bits leaving fewer than this: slow path */
  /* cold */
  uint64_t cap;
  uint64_t ctlwords;     /* control words on the stack (moved by the slow paths only) */
  uint64_t limit;        /* 0: none */
  uint64_t ext;          /* bytes held outside the stack (time-loop snapshots) */
  uint64_t peak_before;  /* peak folded when ext changed */
  int limit_hit;
  uint64_t limit_need;   /* bytes needed when the limit was first passed */
  uint64_t limit_at_hit; /* and the limit then */
  int dead;              /* out of memory: pushes are dropped */
  int ierr;
  char errmsg[256];
  int ierr_read;          /* the status was asked for since it was set (else: said at exit) */
  level *rtop;
  int64_t look;          /* read position of look*, -1: start at the top */
  uint64_t look_top;
  /* fault switch */
  int fault_kind;
  int64_t fault_k;
  int fault_gate;        /* 0: a site was named and is not inhibited now */
  int64_t fault_count;
  int fault_fired;
  char fault_site[128];
  char fault_error[256];
} S = {.look = -1, .fault_gate = 1};

static void set_error(int code, const char *msg) {
  if (S.ierr == 0) {
    S.ierr = code;
    S.ierr_read = 0;
    snprintf(S.errmsg, sizeof S.errmsg, "%s", msg);
  }
}

static void update_end(void);

/* With hooks on, every fast-path bound is made to fail, so each fast path
 * needs one comparison only. */
static void update_hooks(void) {
  S.hooks = (S.rtop != NULL) || S.dead || (S.fault_kind != FAULT_NONE && S.fault_gate && !S.fault_fired);
  S.floor = S.hooks ? INT64_MAX : 0;
  S.bit_max = S.hooks ? -64 : 31;
  S.bit_min = S.hooks ? 64 : 0;
  update_end();
}

static void update_end(void) {
  if (S.hooks) {
    S.end = 0;
  } else if (S.dead) {
    S.end = 0;
  } else if (S.limit == 0 || S.limit_hit) {
    S.end = S.cap;
  } else {
    uint64_t room = S.limit > S.ext ? S.limit - S.ext : 0;
    S.end = room < S.cap ? room : S.cap;
  }
}

/* Room for n more bytes: grow the buffer, and note (once) that the limit was
 * passed. Storing goes on past the limit, so the adjoint stays right on this
 * rank and its MPI calls keep matching the other ranks'; the status reports
 * the error when the run ends, where every rank can agree on it. */
COLD static int make_room(uint64_t n) {
  uint64_t need = S.top + n;
  if (S.limit > 0 && !S.limit_hit && need + S.ext > S.limit) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "AD stack limit exceeded: %llu bytes needed on this rank, limit %llu: "
             "raise the limit",
             (unsigned long long)(need + S.ext), (unsigned long long)S.limit);
    set_error(1, msg);
    S.limit_hit = 1;
    S.limit_need = need + S.ext;
    S.limit_at_hit = S.limit;
  }
  if (need > S.cap) {
    uint64_t cap = S.cap ? 2 * S.cap : (1u << 20);
    while (cap < need) cap *= 2;
    char *b = realloc(S.buf, cap);
    if (!b) {
      /* no memory: from here on pushes are dropped (the status says why and
       * fails the run at its end); the process is not stopped */
      char msg[160];
      snprintf(msg, sizeof msg, "AD stack: cannot allocate %llu bytes to grow the stack",
               (unsigned long long)cap);
      set_error(3, msg);
      S.dead = 1;
      S.end = 0;
      update_hooks();
      return 0;
    }
    S.buf = b;
    S.cap = cap;
  }
  update_end();
  return 1;
}

/* ------------------------------------------------------- repeat sections */

static level *top_active(void) {
  level *l = S.rtop;
  while (l && !l->active) l = l->prev;
  return l;
}

static void check_push_in_read_only(void) {
  level *l = top_active();
  if (l && S.top < l->free_push) {
    l->back_pop = S.top;
    l->back_pop_ctl = S.ctlwords;
    l->has_back_pop = 1;
    S.top = l->free_push;
    S.ctlwords = l->free_push_ctl;
  }
}

static void check_pop_to_read_only(void) {
  int can_erase = 1, can_remove = 1;
  level *l = S.rtop;
  while (l) {
    level *prev = l->prev;
    if (l->has_back_pop && l->active) {
      if (S.top == l->free_push) {
        S.top = l->back_pop;
        S.ctlwords = l->back_pop_ctl;
        if (can_remove) l->has_back_pop = 0;
      } else if (S.top == l->back_pop) {
        if (can_remove) l->has_back_pop = 0;
      }
    }
    if (!l->active && can_erase) {
      free(l);
      S.rtop = prev;
    } else {
      can_erase = 0;
      can_remove = 0;
    }
    l = prev;
  }
  update_hooks();
}

PH_API void adStack_startRepeat(void) {
  level *l = calloc(1, sizeof *l);
  if (!l) {
    set_error(4, "AD stack: out of memory for a repeat section");
    return;
  }
  l->active = 1;
  l->prev = S.rtop;
  l->bits = S.bits;
  l->nbits = S.nbits;
  l->ctl = S.ctlwords;
  l->resume = S.top;
  if (S.rtop && S.top < S.rtop->free_push) {
    l->free_push = S.rtop->free_push;
    l->free_push_ctl = S.rtop->free_push_ctl;
  } else {
    l->free_push = S.top;
    l->free_push_ctl = S.ctlwords;
  }
  S.rtop = l;
  update_hooks();
}

PH_API void adStack_resetRepeat(void) {
  while (S.rtop && !S.rtop->active) {
    level *old = S.rtop;
    S.rtop = old->prev;
    free(old);
  }
  if (!S.rtop) {
    set_error(5, "AD stack: adStack_resetRepeat without adStack_startRepeat");
    update_hooks();
    return;
  }
  S.top = S.rtop->resume;
  S.ctlwords = S.rtop->ctl;
  S.bits = S.rtop->bits;
  S.nbits = S.rtop->nbits;
}

PH_API void adStack_endRepeat(void) {
  level *l = top_active();
  if (!l) {
    set_error(5, "AD stack: adStack_endRepeat without adStack_startRepeat");
    return;
  }
  l->active = 0;
  check_pop_to_read_only();
}

/* ------------------------------------------------------------ fault switch */

enum { K_OTHER = 0, K_REAL4, K_REAL8, K_CONTROL };

static const char *fault_names[] = {"", "flip-real", "skip-push", "bad-control"};

/* Parse PYHARNESS_FAULT="<kind>:<k>[:<site>]" (done when the library loads). */
static void fault_parse(const char *v) {
  char kind[32] = "";
  const char *c1 = strchr(v, ':');
  S.fault_kind = FAULT_NONE;
  if (!*v) return;
  if (c1 && (size_t)(c1 - v) < sizeof kind) {
    memcpy(kind, v, (size_t)(c1 - v));
    kind[c1 - v] = 0;
  }
  int k = FAULT_NONE;
  for (int i = 1; i <= 3; i++)
    if (strcmp(kind, fault_names[i]) == 0) k = i;
  char *rest = NULL;
  long long n = c1 ? strtoll(c1 + 1, &rest, 10) : 0;
  int ok = k != FAULT_NONE && c1 && rest != c1 + 1 && n >= 1 && (*rest == 0 || *rest == ':');
  if (ok && *rest == ':') {
    const char *site = rest + 1;
    ok = *site != 0 && strlen(site) < sizeof S.fault_site;
    if (ok) snprintf(S.fault_site, sizeof S.fault_site, "%s", site);
  }
  if (!ok) {
    snprintf(S.fault_error, sizeof S.fault_error,
             "PYHARNESS_FAULT='%.60s' is malformed: expected <kind>:<k>[:<site>] with kind "
             "flip-real, skip-push or bad-control and k >= 1 (e.g. flip-real:3)", v);
    S.fault_site[0] = 0;
    return;
  }
  S.fault_kind = k;
  S.fault_k = n;
  S.fault_gate = S.fault_site[0] == 0;
}

/* The event recorder (ph_trace.c) starts in its own constructor when
 * PYHARNESS_PROFILE is set, and writes the rank's trace at exit. From the
 * static archive (the default link) the linker takes only the members a
 * program references: a program that calls only PUSH/POP would lose the
 * recorder, and with it the trace at exit the shared library writes. This
 * reference (to a function only ph_trace.c defines) takes it along wherever
 * the stack goes. */
extern int32_t ph_trace_write(const char *dir, char *errmsg, int64_t errlen);
__attribute__((used)) static int32_t (*const ph_keep_recorder)(const char *, char *, int64_t) = ph_trace_write;

/* A program linked in place of adStack.c never asks for the status: an underflow
 * (adStack.c prints "Popping from an empty stack" and crashes), running out of
 * memory or a malformed PYHARNESS_FAULT would otherwise pass in silence, the
 * gradient computed from zeros. A status nobody asked for is said at exit. */
__attribute__((destructor)) static void ph_adstack_fini(void) {
  if (S.ierr != 0 && !S.ierr_read)      /* 1 (limit) stored everything; 6 (fault) did nothing */
    fprintf(stderr, "pyharness: the AD stack failed in this run (status %d): %s%s\n", S.ierr, S.errmsg,
            S.ierr == 1 || S.ierr == 6 ? "" : "; what the adjoint computed after that is wrong");
}

__attribute__((constructor)) static void ph_adstack_init(void) {
  const char *v = getenv("PYHARNESS_FAULT");
  if (v) {
    fault_parse(v);
    if (S.fault_error[0]) {
      fprintf(stderr, "pyharness: %s\n", S.fault_error);
      set_error(6, S.fault_error);
    }
  }
  update_hooks();
}

static void fault_fire(const char *what) {
  S.fault_fired = 1;
  fprintf(stderr, "pyharness: PYHARNESS_FAULT %s:%lld%s%s fired: %s\n", fault_names[S.fault_kind],
          (long long)S.fault_k, S.fault_site[0] ? ":" : "", S.fault_site, what);
  update_hooks();
}

/* Before a push: 1 if this push is the one to skip; moves above a frozen part. */
COLD static int push_hook(void) {
  if (S.dead) return 1;
  if (S.fault_kind == FAULT_SKIP_PUSH && S.fault_gate && !S.fault_fired
      && ++S.fault_count == S.fault_k) {
    fault_fire("push skipped");
    return 1;
  }
  if (S.rtop) check_push_in_read_only();
  return 0;
}

/* After a pop of n items of one kind into x. */
COLD static void pop_hook(int kind, void *x, int64_t n) {
  if (S.fault_gate && !S.fault_fired) {
    if (S.fault_kind == FAULT_FLIP_REAL && (kind == K_REAL4 || kind == K_REAL8)) {
      if (S.fault_count + n >= S.fault_k) {
        int64_t i = S.fault_k - S.fault_count - 1;
        char what[128];
        if (kind == K_REAL8) {
          /* the top bit of the mantissa: a nonzero value changes by a third to a half */
          double *d = (double *)x + i, before = *d;
          uint64_t u;
          memcpy(&u, d, 8);
          u ^= (uint64_t)1 << 51;
          memcpy(d, &u, 8);
          snprintf(what, sizeof what, "real(8) popped as %.17g instead of %.17g", *d, before);
        } else {
          float *f = (float *)x + i, before = *f;
          uint32_t u;
          memcpy(&u, f, 4);
          u ^= (uint32_t)1 << 22;
          memcpy(f, &u, 4);
          snprintf(what, sizeof what, "real(4) popped as %.9g instead of %.9g", (double)*f, (double)before);
        }
        S.fault_count = S.fault_k;
        fault_fire(what);
      } else {
        S.fault_count += n;
      }
    } else if (S.fault_kind == FAULT_BAD_CONTROL && kind == K_CONTROL
               && ++S.fault_count == S.fault_k) {
      int *cc = x;
      char what[96];
      snprintf(what, sizeof what, "control popped as %d instead of %d", *cc ^ 1, *cc);
      *cc ^= 1;
      fault_fire(what);
    }
  }
  if (S.rtop) check_pop_to_read_only();
}

/* ------------------------------------------------------------ byte moves */

/* The stack state is written before the copy, so the compiler need not reload
 * it after a store through a char pointer that might alias it. */
static inline void put(const void *x, uint64_t n) {
  uint64_t t = S.top;
  if (UNLIKELY(t + n > S.end) && !make_room(n)) return;
  char *b = S.buf;
  uint64_t nt = t + n;
  S.top = nt;
  S.pushed += n;
  if (nt > S.hw) S.hw = nt;
  memcpy(b + t, x, n);
}

COLD static void push_slow(const void *x, uint64_t n) {
  if (S.hooks && push_hook()) return;
  put(x, n);
}

/* A push: one test on the fast path (hooks, or no room without a check). */
static inline void push_bytes(const void *x, uint64_t n) {
  uint64_t t = S.top, nt = t + n;
  if (UNLIKELY(nt > S.end)) {        /* also when hooks are on (end = 0) */
    push_slow(x, n);
    return;
  }
  char *b = S.buf;
  S.top = nt;
  S.pushed += n;
  if (nt > S.hw) S.hw = nt;
  memcpy(b + t, x, n);
}

COLD static void underflow(void *x, uint64_t n) {
  char msg[160];
  snprintf(msg, sizeof msg, "AD stack underflow: %llu bytes popped with %llu on the stack "
           "(pushes and pops do not match)", (unsigned long long)n, (unsigned long long)S.top);
  set_error(2, msg);
  memset(x, 0, n);
  S.top = 0;
}

static inline void get(void *x, uint64_t n) {
  uint64_t t = S.top;
  if (UNLIKELY(n > t)) {
    underflow(x, n);
    return;
  }
  t -= n;
  S.top = t;
  S.popped += n;
  memcpy(x, S.buf + t, n);
}

/* After a pop of count items of one kind into x. */
COLD static void pop_hook(int kind, void *x, int64_t count);

COLD static void pop_slow(void *x, uint64_t n, int kind, int64_t count) {
  get(x, n);
  if (S.hooks) pop_hook(kind, x, count);
}

static inline void pop_bytes(void *x, uint64_t n, int kind, int64_t count) {
  uint64_t t = S.top;
  if (UNLIKELY((int64_t)(t - n) < S.floor)) {   /* underflow, or hooks on */
    pop_slow(x, n, kind, count);
    return;
  }
  t -= n;
  S.top = t;
  S.popped += n;
  memcpy(x, S.buf + t, n);
}

static inline void push_bit(int x) {
  uint32_t w = (S.bits << 1) | (x != 0);
  if (S.nbits >= 31) {
    S.bits = w;
    uint64_t t = S.top;
    put(&S.bits, 4);
    S.ctlwords += S.top != t;     /* not when out of memory dropped it */
    S.bits = 0;
    S.nbits = 0;
  } else {
    S.bits = w;
    S.nbits++;
  }
}

static inline int pop_bit(void) {
  if (S.nbits <= 0) {
    get(&S.bits, 4);
    if (S.ctlwords) S.ctlwords--;
    S.nbits = 31;
  } else {
    S.nbits--;
  }
  int r = S.bits & 1u;
  S.bits >>= 1;
  return r;
}

/* n bits of cc, lowest first (adStack.c's order: the highest bit is popped first) */
static inline void push_ctl(int cc, int n) {
  for (int i = 0; i < n - 1; i++) {
    push_bit(cc & 1);
    cc >>= 1;
  }
  push_bit(cc);
}

static inline int pop_ctl(int n) {
  int cc = pop_bit();
  for (int i = 1; i < n; i++) cc = (cc << 1) | pop_bit();
  return cc;
}

/* Control bits: the fast path works inside the 32-bit word only (no word
 * reaches or leaves the stack, no hook); anything else goes to a cold
 * function reached by a tail call, so the fast path needs no stack frame. */
COLD static void push_ctl_slow(int cc, int n) {
  if (S.hooks && push_hook()) return;
  push_ctl(cc, n);
}

static inline void push_control(int cc, int n) {
  if (UNLIKELY(S.nbits + n > S.bit_max)) {     /* a full word, or hooks on */
    push_ctl_slow(cc, n);
    return;
  }
  uint32_t w = S.bits;
  for (int i = 0; i < n - 1; i++) {
    w = (w << 1) | (uint32_t)(cc & 1);
    cc >>= 1;
  }
  S.bits = (w << 1) | (cc != 0);
  S.nbits += n;
}

COLD static void pop_ctl_slow(int *out, int n, int kind) {
  int cc = pop_ctl(n);
  if (S.hooks) pop_hook(kind, &cc, 1);
  *out = cc;
}

static inline void pop_control(int *out, int n, int kind) {
  if (UNLIKELY(S.nbits - n < S.bit_min)) {     /* a word to pop, or hooks on */
    pop_ctl_slow(out, n, kind);
    return;
  }
  uint32_t w = S.bits;
  int cc = 0;
  for (int i = 0; i < n; i++) {
    cc = (cc << 1) | (int)(w & 1u);
    w >>= 1;
  }
  S.bits = w;
  S.nbits -= n;
  *out = cc;
}

/* for the rare entry points without a fast path of their own */
#define PUSH_ENTRY() if (UNLIKELY(S.hooks) && push_hook()) return
#define POP_EXIT(kind, x, n) if (UNLIKELY(S.hooks)) pop_hook(kind, x, n)

/* ------------------------------------------------- entry points: scalars */

#define SCALAR(ctype, fname, cname, nbytes, kind)                                \
  PH_API void push##fname##_(const ctype *x) { push_bytes(x, nbytes); }          \
  PH_API void pop##fname##_(ctype *x) { pop_bytes(x, nbytes, kind, 1); }

SCALAR(double, real8, Real8, 8, K_REAL8)
SCALAR(float, real4, Real4, 4, K_REAL4)
SCALAR(int32_t, integer4, Integer4, 4, K_OTHER)
SCALAR(int64_t, integer8, Integer8, 8, K_OTHER)
SCALAR(char, character, Character, 1, K_OTHER)
SCALAR(float _Complex, complex8, Complex8, 8, K_OTHER)
SCALAR(double _Complex, complex16, Complex16, 16, K_OTHER)
SCALAR(long double, real16, Real16, 16, K_OTHER)
SCALAR(void *, pointer8, Pointer8, 8, K_OTHER)

/* a 4-byte pointer: the low 4 bytes go on the stack; the pop zero-extends */
PH_API void pushpointer4_(void *const *x) { push_bytes(x, 4); }
PH_API void poppointer4_(void **x) {
  uint32_t u;
  get(&u, 4);
  *x = (void *)(uintptr_t)u;
  POP_EXIT(K_OTHER, x, 1);
}

/* -------------------------------------------------- entry points: arrays */

#define ARRAY(ctype, fname, esize, kind)                                          \
  PH_API void push##fname##array_(const ctype *x, const int *n) {                \
    if (*n > 0) push_bytes(x, (uint64_t)(*n) * (esize));                         \
    else PUSH_ENTRY();                                                           \
  }                                                                              \
  PH_API void pop##fname##array_(ctype *x, const int *n) {                       \
    if (*n > 0) pop_bytes(x, (uint64_t)(*n) * (esize), kind, *n);                \
    else POP_EXIT(kind, x, 0);                                                   \
  }

ARRAY(double, real8, 8, K_REAL8)
ARRAY(float, real4, 4, K_REAL4)
ARRAY(int32_t, integer4, 4, K_OTHER)
ARRAY(int64_t, integer8, 8, K_OTHER)
ARRAY(char, character, 1, K_OTHER)
ARRAY(float _Complex, complex8, 8, K_OTHER)
ARRAY(double _Complex, complex16, 16, K_OTHER)
ARRAY(long double, real16, 16, K_OTHER)
ARRAY(int32_t, boolean, 4, K_OTHER) /* a default LOGICAL is 4 bytes, as in adStack.c */

/* ------------------------------------ entry points: control bits, booleans */

#define CONTROL(nb)                                                             \
  PH_API void pushcontrol##nb##b_(const int *cc) { push_control(*cc, nb); }   \
  PH_API void popcontrol##nb##b_(int *cc) { pop_control(cc, nb, K_CONTROL); }  \
  PH_API void pushControl##nb##b(int cc) { push_control(cc, nb); }            \
  PH_API void popControl##nb##b(int *cc) { pop_control(cc, nb, K_CONTROL); }

CONTROL(1) CONTROL(2) CONTROL(3) CONTROL(4) CONTROL(5) CONTROL(6) CONTROL(7) CONTROL(8)

PH_API void pushboolean_(const int *x) { push_control(*x != 0, 1); }
PH_API void popboolean_(int *x) { pop_control(x, 1, K_OTHER); }

/* ------------------------------------------- entry points: repeat, display */

PH_API void adstack_startrepeat_(void) { adStack_startRepeat(); }
PH_API void adstack_resetrepeat_(void) { adStack_resetRepeat(); }
PH_API void adstack_endrepeat_(void) { adStack_endRepeat(); }

static uint64_t peak_bytes(void) {
  uint64_t p = S.hw + S.ext;
  return p > S.peak_before ? p : S.peak_before;
}

PH_API uint64_t adStack_getCurrentStackSize(void) { return S.top; }

PH_API void adStack_showPeakSize(void) {
  uint64_t p = peak_bytes();
  printf("Peak stack size (%llu blocks): %llu bytes\n",
         (unsigned long long)((p + (1u << 20) - 1) >> 20), (unsigned long long)p);
}
PH_API void adStack_showTotalTraffic(void) {
  printf("Total push/pop traffic %llu bytes\n", (unsigned long long)(S.pushed + S.popped));
}
PH_API void adStack_showStackSize(int label) {
  printf(" %i--> <%llu>", label, (unsigned long long)S.top);
}
PH_API void adStack_showStack(char *location) {
  if (S.top == 0) {
    printf("Stack at %s is empty\n", location);
  } else {
    printf("Stack top at %s is %llu:", location, (unsigned long long)S.top);
    for (uint64_t i = 0; i < 20 && i < S.top; i++) printf(" %02x", (unsigned char)S.buf[S.top - 1 - i]);
    printf("\n");
  }
  if (S.nbits == 0) printf("Bit buffer is empty\n");
  else printf("Bit buffer:%1i in %08x\n", S.nbits, S.bits);
  printf("----------------\n");
}
PH_API int stackIsThreadSafe(void) { return 0; }
PH_API void showErrorContext(void) {
  printf("AD stack at %llu bytes%s%s\n", (unsigned long long)S.top, S.ierr ? ": " : "", S.errmsg);
}

PH_API void adstack_showpeaksize_(void) { adStack_showPeakSize(); }
PH_API void adstack_showtotaltraffic_(void) { adStack_showTotalTraffic(); }
PH_API void adstack_showstacksize_(const int *label) { adStack_showStackSize(*label); }
PH_API void adstack_showstack_(char *location) { adStack_showStack(location); }
PH_API int stackisthreadsafe_(void) { return 0; }
PH_API void showerrorcontext_(void) { showErrorContext(); fflush(stdout); }
/* adStack.c's location: block number (1 MiB blocks) and offset in the block */
PH_API int locstrb_(void) { return (int)(S.top >> 20) + 1; }
PH_API int locstro_(void) { return (int)(S.top & ((1u << 20) - 1)); }

/* look*: read downwards from the top without popping (older ADFirstAidKit).
 * The first look after the top moved starts at the top; resetadlookstack_()
 * starts again from the top. */
static void look(void *x, uint64_t n) {
  if (S.look < 0 || S.look_top != S.top) {
    S.look = (int64_t)S.top;
    S.look_top = S.top;
  }
  if ((uint64_t)S.look < n) {
    set_error(2, "AD stack underflow: look below the bottom of the stack");
    memset(x, 0, n);
    return;
  }
  S.look -= (int64_t)n;
  memcpy(x, S.buf + S.look, n);
}
PH_API void resetadlookstack_(void) { S.look = -1; }
PH_API void lookreal8_(double *x) { look(x, 8); }
PH_API void lookreal4_(float *x) { look(x, 4); }
PH_API void lookinteger4_(int32_t *x) { look(x, 4); }
PH_API void lookinteger8_(int64_t *x) { look(x, 8); }

/* --------------------------------------------------------------- C names */

PH_API void pushNArray(char *x, int n) { if (n > 0) push_bytes(x, (uint64_t)n); else PUSH_ENTRY(); }
PH_API void popNArray(char *x, int n) { if (n > 0) pop_bytes(x, (uint64_t)n, K_OTHER, 1); else POP_EXIT(K_OTHER, x, 1); }

#define CARRAY(ctype, cname, esize, kind)                                      \
  PH_API void push##cname##Array(ctype *x, int n) { if (n > 0) push_bytes(x, (uint64_t)n * (esize)); else PUSH_ENTRY(); } \
  PH_API void pop##cname##Array(ctype *x, int n) { if (n > 0) pop_bytes(x, (uint64_t)n * (esize), kind, n); else POP_EXIT(kind, x, 0); }

CARRAY(int, Integer4, 4, K_OTHER)
CARRAY(long, Integer8, 8, K_OTHER)
CARRAY(float, Real4, 4, K_REAL4)
CARRAY(double, Real8, 8, K_REAL8)
CARRAY(long double, Real16, 16, K_OTHER)
CARRAY(ph_ccmplx, Complex8, 8, K_OTHER)
CARRAY(double _Complex, Complex16, 16, K_OTHER)
CARRAY(char, Character, 1, K_OTHER)

#define CSCALAR(ctype, cname, nbytes, kind)                                    \
  PH_API void push##cname(ctype x) { push_bytes(&x, nbytes); }                \
  PH_API void pop##cname(ctype *x) { pop_bytes(x, nbytes, kind, 1); }

CSCALAR(char, Character, 1, K_OTHER)
CSCALAR(float, Real4, 4, K_REAL4)
CSCALAR(double, Real8, 8, K_REAL8)
CSCALAR(int, Integer4, 4, K_OTHER)
CSCALAR(long, Integer8, 8, K_OTHER)
CSCALAR(ph_ccmplx, Complex8, 8, K_OTHER)
CSCALAR(double _Complex, Complex16, 16, K_OTHER)
CSCALAR(void *, Pointer8, 8, K_OTHER)

PH_API void pushReal16(long double *x) { push_bytes(x, 16); }
PH_API void popReal16(long double *x) { pop_bytes(x, 16, K_OTHER, 1); }
PH_API void pushPointer4(void *x) { push_bytes(&x, 4); }
PH_API void popPointer4(void **x) { poppointer4_(x); }
PH_API void pushBoolean(int x) { push_control(x != 0, 1); }
PH_API void popBoolean(int *x) { pop_control(x, 1, K_OTHER); }

/* ------------------------------------------ pyharness's own stack control */

PH_API void ph_stack_push(const void *x, int64_t n) { if (n > 0) push_bytes(x, (uint64_t)n); else PUSH_ENTRY(); }
PH_API void ph_stack_pop(void *x, int64_t n) { if (n > 0) pop_bytes(x, (uint64_t)n, K_OTHER, 1); else POP_EXIT(K_OTHER, x, 1); }

PH_API void ph_stack_reset(void) {
  while (S.rtop) {
    level *l = S.rtop;
    S.rtop = l->prev;
    free(l);
  }
  S.top = S.hw = S.pushed = S.popped = S.ext = S.peak_before = 0;
  S.bits = 0;
  S.nbits = 0;
  S.ctlwords = 0;
  S.limit_hit = 0;
  S.limit_need = S.limit_at_hit = 0;
  S.dead = 0;
  S.look = -1;
  S.ierr = 0;
  S.errmsg[0] = 0;
  S.fault_count = 0;
  S.fault_fired = 0;
  if (S.fault_error[0]) set_error(6, S.fault_error);
  update_end();
  update_hooks();
}

PH_API void ph_stack_release(void) {
  free(S.buf);
  S.buf = NULL;
  S.cap = 0;
  ph_stack_reset();
}

PH_API void ph_stack_set_limit(int64_t nbytes) {
  S.limit = nbytes > 0 ? (uint64_t)nbytes : 0;
  S.limit_hit = 0;
  update_end();
}

PH_API int64_t ph_stack_limit(void) { return (int64_t)S.limit; }

/* The limit error as figures, for callers that word it themselves (pyharness'
 * Python side, which knows the configuration): when the status is the limit's
 * (code 1), the bytes needed when the limit was first passed and that limit;
 * else 0 and 0. */
PH_API void ph_stack_limit_error(int64_t *need, int64_t *limit) {
  int hit = S.ierr == 1;
  S.ierr_read = 1;
  *need = hit ? (int64_t)S.limit_need : 0;
  *limit = hit ? (int64_t)S.limit_at_hit : 0;
}
PH_API int64_t ph_stack_current(void) { return (int64_t)(S.top + S.ext); }
PH_API int64_t ph_stack_peak(void) { return (int64_t)peak_bytes(); }
PH_API int64_t ph_stack_pushed(void) { return (int64_t)S.pushed; }
PH_API int64_t ph_stack_popped(void) { return (int64_t)S.popped; }
PH_API int ph_stack_failed(void) { S.ierr_read = 1; return S.ierr != 0; }

/* For the event recorder (ph_trace.c): bytes now, and the four counts. */
PH_API int64_t ph_stack_bytes(void) { return (int64_t)(S.top + S.ext); }
/* Control bits on the stack: 32 per control word on it, plus those still in
 * the word. The bytes hold 4 per word only (adStack.c's accounting), so the
 * bytes of everything else are ph_stack_bytes() - 4 * (bits / 32): the model
 * adds up the two separately (docs/MODEL.md). */
PH_API int64_t ph_stack_ctlbits(void) { return (int64_t)(32 * S.ctlwords + (uint64_t)S.nbits); }
PH_API void ph_stack_counts(int64_t *current, int64_t *peak, int64_t *pushed, int64_t *popped) {
  *current = (int64_t)(S.top + S.ext);
  *peak = (int64_t)peak_bytes();
  *pushed = (int64_t)S.pushed;
  *popped = (int64_t)S.popped;
}

/* Bytes held outside the stack count in the current size and the peak. */
PH_API void ph_stack_external(int64_t delta) {
  uint64_t p = peak_bytes();
  S.peak_before = p;
  if (delta < 0 && (uint64_t)(-delta) > S.ext) S.ext = 0;
  else S.ext = (uint64_t)((int64_t)S.ext + delta);
  S.hw = S.top;
  if (S.top + S.ext > S.peak_before) S.peak_before = S.top + S.ext;
  update_end();
}

/* The status as a code and a blank-padded message (for Fortran). */
PH_API void ph_stack_status_c(int *ierr, char *msg, int len) {
  *ierr = S.ierr;
  S.ierr_read = 1;
  size_t m = strlen(S.errmsg);
  if (len < 0) len = 0;
  if (m > (size_t)len) m = (size_t)len;
  memcpy(msg, S.errmsg, m);
  memset(msg + m, ' ', (size_t)len - m);
}

PH_API void ph_stack_start_repeat(void) { adStack_startRepeat(); }
PH_API void ph_stack_reset_repeat(void) { adStack_resetRepeat(); }
PH_API void ph_stack_end_repeat(void) { adStack_endRepeat(); }

/* Fault switch, seen from Python: the parse error (empty if none), the site
 * that gates the fault (empty if none), whether it fired, and the gate. */
PH_API const char *ph_fault_error(void) {
  if (S.fault_error[0] && S.ierr == 6) S.ierr_read = 1;     /* the caller reports it */
  return S.fault_error;
}
PH_API const char *ph_fault_site(void) { return S.fault_site; }
PH_API const char *ph_fault_kind(void) { return fault_names[S.fault_kind]; }
PH_API int ph_fault_fired(void) { return S.fault_fired; }
PH_API int64_t ph_fault_k(void) { return S.fault_k; }
PH_API void ph_fault_set_gate(int open) {
  S.fault_gate = S.fault_site[0] == 0 || open != 0;
  update_hooks();
}
/* Re-read PYHARNESS_FAULT (tests set it after the library was loaded). */
PH_API void ph_fault_reload(void) {
  S.fault_error[0] = 0;
  S.fault_site[0] = 0;
  S.fault_kind = FAULT_NONE;
  S.fault_gate = 1;
  ph_adstack_init();
  ph_stack_reset();
}
