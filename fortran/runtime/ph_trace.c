/* pyharness event recorder (see ph_trace.h): sites by id, names whole,
 * CLOCK_MONOTONIC wall time, the thread CPU clock on request, per-rank trace
 * files without Python (PYHARNESS_PROFILE=DIR). */
#define _GNU_SOURCE
#include "ph_trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dlfcn.h>

int32_t ph_trace_on = 0;

/* ------------------------------------------------------------------ names */

typedef struct {
  char *callee, *file;
  int64_t lc, lf;
  int32_t line;
  int8_t is_site, active;
} loc_t;

static loc_t *locs = NULL;       /* locs[id - 1] */
static int32_t nloc = 0, loccap = 0;
static int32_t *htab = NULL;     /* open addressing on the names: 0 empty, else id */
static int64_t hcap = 0;

/* cache of the string callbacks: the same call site passes the same literal
 * addresses every time, so (callee address, file address, line) -> id resolves
 * a name once; a hit is confirmed by comparing the names (a temporary buffer can
 * hold different names at one address). */
#define PCACHE 4096
typedef struct { const char *c, *f; int32_t line, id; } pcache_t;
static pcache_t pcache[PCACHE];

/* length of a name: up to the first NUL (or n bytes if n >= 0), blanks trimmed */
static int64_t name_len(const char *s, int64_t n) {
  int64_t k = 0;
  if (s == NULL) return 0;
  if (n < 0) k = (int64_t)strlen(s);
  else { const char *z = memchr(s, 0, (size_t)n); k = z ? (int64_t)(z - s) : n; }
  while (k > 0 && s[k - 1] == ' ') k--;
  return k;
}

static uint64_t hash_key(const char *c, int64_t lc, const char *f, int64_t lf, int32_t line) {
  uint64_t h = 1469598103934665603ULL;
  for (int64_t i = 0; i < lc; i++) h = (h ^ (unsigned char)c[i]) * 1099511628211ULL;
  h = (h ^ 0x100) * 1099511628211ULL;          /* a byte no name holds: "ab"+"c" != "a"+"bc" */
  for (int64_t i = 0; i < lf; i++) h = (h ^ (unsigned char)f[i]) * 1099511628211ULL;
  h = (h ^ (uint32_t)line) * 1099511628211ULL;
  return h;
}

static int same(const loc_t *L, const char *c, int64_t lc, const char *f, int64_t lf, int32_t line) {
  return L->line == line && L->lc == lc && L->lf == lf && memcmp(L->callee, c, (size_t)lc) == 0 &&
         memcmp(L->file, f, (size_t)lf) == 0;
}

static void rehash(int64_t cap) {
  free(htab);
  htab = calloc((size_t)cap, sizeof *htab);
  hcap = cap;
  for (int32_t id = 1; id <= nloc; id++) {
    loc_t *L = &locs[id - 1];
    uint64_t s = hash_key(L->callee, L->lc, L->file, L->lf, L->line) % (uint64_t)hcap;
    while (htab[s]) s = (s + 1) % (uint64_t)hcap;
    htab[s] = id;
  }
}

static int32_t lookup_trimmed(const char *c, int64_t lc, const char *f, int64_t lf, int32_t line) {
  if (hcap == 0) return 0;
  uint64_t s = hash_key(c, lc, f, lf, line) % (uint64_t)hcap;
  for (;;) {
    int32_t id = htab[s];
    if (id == 0) return 0;
    if (same(&locs[id - 1], c, lc, f, lf, line)) return id;
    s = (s + 1) % (uint64_t)hcap;
  }
}

static char *dup_name(const char *s, int64_t n) {
  char *p = malloc((size_t)n + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, (size_t)n);
  p[n] = 0;
  return p;
}

static int32_t register_trimmed(const char *c, int64_t lc, const char *f, int64_t lf, int32_t line,
                                int32_t is_site) {
  int32_t id = lookup_trimmed(c, lc, f, lf, line);
  if (id) return id;
  if (nloc == loccap) {
    int32_t cap = loccap ? 2 * loccap : 64;
    loc_t *p = realloc(locs, (size_t)cap * sizeof *locs);
    if (p == NULL) return 0;
    locs = p;
    loccap = cap;
  }
  loc_t *L = &locs[nloc];
  L->callee = dup_name(c, lc);
  L->file = dup_name(f, lf);
  if (L->callee == NULL || L->file == NULL) { free(L->callee); free(L->file); return 0; }
  L->lc = lc; L->lf = lf; L->line = line;
  L->is_site = is_site ? 1 : 0;
  L->active = 1;
  id = ++nloc;
  if (2 * (int64_t)nloc > hcap) {
    rehash(hcap ? 4 * hcap : 256);
  } else {
    uint64_t s = hash_key(c, lc, f, lf, line) % (uint64_t)hcap;
    while (htab[s]) s = (s + 1) % (uint64_t)hcap;
    htab[s] = id;
  }
  return id;
}

int32_t ph_trace_register(const char *callee, int64_t lc, const char *file, int64_t lf,
                          int32_t line, int32_t is_site) {
  return register_trimmed(callee, name_len(callee, lc), file, name_len(file, lf), line, is_site);
}

int32_t ph_trace_lookup(const char *callee, int64_t lc, const char *file, int64_t lf, int32_t line) {
  return lookup_trimmed(callee, name_len(callee, lc), file, name_len(file, lf), line);
}

void ph_trace_registry_clear(void) {
  for (int32_t i = 0; i < nloc; i++) { free(locs[i].callee); free(locs[i].file); }
  nloc = 0;
  if (htab) memset(htab, 0, (size_t)hcap * sizeof *htab);
  memset(pcache, 0, sizeof pcache);
}

int32_t ph_trace_nlocations(void) { return nloc; }

int32_t ph_trace_location_info(int32_t id, int64_t *lc, int64_t *lf, int32_t *line, int32_t *is_site) {
  if (id < 1 || id > nloc) { *lc = 0; *lf = 0; *line = -1; *is_site = 0; return -1; }
  const loc_t *L = &locs[id - 1];
  *lc = L->lc; *lf = L->lf; *line = L->line; *is_site = L->is_site;
  return 0;
}

void ph_trace_location_names(int32_t id, char *callee, int64_t nc, char *file, int64_t nf) {
  if (id < 1 || id > nloc) return;
  const loc_t *L = &locs[id - 1];
  memcpy(callee, L->callee, (size_t)(nc < L->lc ? nc : L->lc));
  memcpy(file, L->file, (size_t)(nf < L->lf ? nf : L->lf));
}

int32_t ph_trace_site_active(int32_t id) { return locs[id - 1].active; }

void ph_trace_set_active(int32_t id, int32_t flag) {
  if (id >= 1 && id <= nloc) locs[id - 1].active = flag ? 1 : 0;
}

void ph_trace_set_all_active(int32_t flag) {
  for (int32_t i = 0; i < nloc; i++) locs[i].active = flag ? 1 : 0;
}

/* does the string (n bytes at most, or NUL-terminated if n < 0) name exactly stored? */
static int matches(const char *s, int64_t n, const char *stored, int64_t ls) {
  if (n >= 0 && n < ls) return 0;
  if (memcmp(s, stored, (size_t)ls) != 0) return 0;
  for (int64_t i = ls; n < 0 || i < n; i++) {
    if (s[i] == 0) return 1;
    if (s[i] != ' ') return 0;
  }
  return 1;
}

/* id of (callee, file, line) given as Fortran or C strings, registered on first sight */
static int32_t resolve(const char *c, int64_t nc, const char *f, int64_t nf, int32_t line, int32_t is_site) {
  uintptr_t h = ((uintptr_t)c * 31u) ^ ((uintptr_t)f * 17u) ^ (uintptr_t)(uint32_t)line;
  h ^= h >> 15;
  pcache_t *e = &pcache[h % PCACHE];
  if (e->c == c && e->f == f && e->line == line && e->id) {
    const loc_t *L = &locs[e->id - 1];
    if (L->is_site == (is_site ? 1 : 0) && matches(c, nc, L->callee, L->lc) &&
        matches(f, nf, L->file, L->lf))
      return e->id;
  }
  int32_t id = register_trimmed(c, name_len(c, nc), f, name_len(f, nf), line, is_site);
  if (id && locs[id - 1].is_site != (is_site ? 1 : 0)) {
    /* a routine and a site with the same names: is_site tells them apart */
    id = 0;
  }
  e->c = c; e->f = f; e->line = line; e->id = id;
  return id;
}

/* ------------------------------------------------------------------ clocks */

int64_t ph_trace_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t ph_trace_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------ events */

static int64_t nev = 0, evcap = 0;
static int8_t *ev_kind = NULL;
static int32_t *ev_loc = NULL;
static int64_t *ev_wall = NULL, *ev_cpu = NULL, *ev_stack = NULL, *ev_ctl = NULL;
static int64_t wall0 = 0, cpu0 = 0, pcpu0 = 0, unix0 = 0;
static int32_t use_cpu = 0;
static int32_t lost = 0;          /* events dropped (out of memory) */

/* trace files */
static char *trace_dir = NULL;
static int64_t nev_written = -1;
static int env_done = 0;
static double cal_on_ns = -1, cal_off_ns = -1;   /* cost per event, measured at start-up */
static void read_env(void);

static int grow(void) {
  int64_t cap = evcap ? 2 * evcap : 65536;
  int8_t *k = realloc(ev_kind, (size_t)cap);
  if (k) ev_kind = k;
  int32_t *l = realloc(ev_loc, (size_t)cap * 4);
  if (l) ev_loc = l;
  int64_t *w = realloc(ev_wall, (size_t)cap * 8);
  if (w) ev_wall = w;
  int64_t *c = realloc(ev_cpu, (size_t)cap * 8);
  if (c) ev_cpu = c;
  int64_t *s = realloc(ev_stack, (size_t)cap * 8);
  if (s) ev_stack = s;
  int64_t *b = realloc(ev_ctl, (size_t)cap * 8);
  if (b) ev_ctl = b;
  if (!(k && l && w && c && s && b)) return 0;
  evcap = cap;
  return 1;
}

void ph_trace_record(int32_t kind, int32_t id) {
  if (!ph_trace_on) return;
  if (nev == evcap && !grow()) { lost = 1; return; }
  ev_kind[nev] = (int8_t)kind;
  ev_loc[nev] = id - 1;
  ev_wall[nev] = ph_trace_wall_ns() - wall0;
  ev_cpu[nev] = use_cpu ? thread_cpu_ns() - cpu0 : 0;
  ev_stack[nev] = ph_stack_bytes();
  ev_ctl[nev] = ph_stack_ctlbits();
  nev++;
}

void ph_trace_enable(int32_t flag) { read_env(); ph_trace_on = flag ? 1 : 0; }
int32_t ph_trace_enabled(void) { return ph_trace_on; }
void ph_trace_set_cpu_clock(int32_t flag) { use_cpu = flag ? 1 : 0; }
int32_t ph_trace_cpu_clock(void) { return use_cpu; }

void ph_trace_clear(void) {
  struct timespec ts;
  nev = 0;
  lost = 0;
  nev_written = -1;
  wall0 = ph_trace_wall_ns();
  cpu0 = thread_cpu_ns();
  pcpu0 = ph_trace_cpu_ns();
  clock_gettime(CLOCK_REALTIME, &ts);
  unix0 = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void ph_trace_release(void) {
  free(ev_kind); free(ev_loc); free(ev_wall); free(ev_cpu); free(ev_stack); free(ev_ctl);
  ev_kind = NULL; ev_loc = NULL; ev_wall = NULL; ev_cpu = NULL; ev_stack = NULL; ev_ctl = NULL;
  nev = 0; evcap = 0;
}

int64_t ph_trace_nevents(void) { return nev; }

void ph_trace_copy(int64_t n, int8_t *kind, int32_t *loc, int64_t *wall, int64_t *cpu, int64_t *stack) {
  int64_t m = n < nev ? n : nev;
  if (m <= 0) return;
  memcpy(kind, ev_kind, (size_t)m);
  memcpy(loc, ev_loc, (size_t)m * 4);
  memcpy(wall, ev_wall, (size_t)m * 8);
  memcpy(cpu, ev_cpu, (size_t)m * 8);
  memcpy(stack, ev_stack, (size_t)m * 8);
}

void ph_trace_copy_ctl(int64_t n, int64_t *ctl) {
  int64_t m = n < nev ? n : nev;
  if (m <= 0) return;
  memcpy(ctl, ev_ctl, (size_t)m * 8);
}

/* ------------------------------------------------------- Tapenade, Fortran names */
/* Fortran passes the lengths of character arguments after the others (gfortran,
 * ifort, flang: size_t by value); names may end with CHAR(0) or with blanks. */

#define FSITE(fname, KIND)                                                              \
  void fname(const char *callee, const char *file, const int32_t *line, size_t lc, size_t lf) { \
    if (!ph_trace_on) return;                                                           \
    ph_trace_record(KIND, resolve(callee, (int64_t)lc, file, (int64_t)lf, *line, 1));    \
  }
FSITE(adprofileadj_snpwrite_, PH_EV_SNPWRITE)
FSITE(adprofileadj_beginadvance_, PH_EV_BEGINADVANCE)
FSITE(adprofileadj_endadvance_, PH_EV_ENDADVANCE)
FSITE(adprofileadj_snpread_, PH_EV_SNPREAD)
FSITE(adprofileadj_beginreverse_, PH_EV_BEGINREVERSE)
FSITE(adprofileadj_endreverse_, PH_EV_ENDREVERSE)

void adprofileadj_turn_(const char *routine, const char *file, size_t lr, size_t lf) {
  if (!ph_trace_on) return;
  ph_trace_record(PH_EV_TURN, resolve(routine, (int64_t)lr, file, (int64_t)lf, 0, 0));
}
void adprofileadj_startrepeat_(void) { ph_trace_record(PH_EV_STARTREPEAT, 0); }
void adprofileadj_resetrepeat_(void) { ph_trace_record(PH_EV_RESETREPEAT, 0); }
void adprofileadj_endrepeat_(void) { ph_trace_record(PH_EV_ENDREPEAT, 0); }

/* ------------------------------------------------------------ Tapenade, C names */

#define CSITE(cname, KIND)                                                  \
  void cname(char *callee, char *file, unsigned int line) {                 \
    if (!ph_trace_on) return;                                               \
    ph_trace_record(KIND, resolve(callee, -1, file, -1, (int32_t)line, 1));  \
  }
CSITE(adProfileAdj_SNPWrite, PH_EV_SNPWRITE)
CSITE(adProfileAdj_beginAdvance, PH_EV_BEGINADVANCE)
CSITE(adProfileAdj_endAdvance, PH_EV_ENDADVANCE)
CSITE(adProfileAdj_SNPRead, PH_EV_SNPREAD)
CSITE(adProfileAdj_beginReverse, PH_EV_BEGINREVERSE)
CSITE(adProfileAdj_endReverse, PH_EV_ENDREVERSE)

void adProfileAdj_turn(char *routine, char *file) {
  if (!ph_trace_on) return;
  ph_trace_record(PH_EV_TURN, resolve(routine, -1, file, -1, 0, 0));
}
void adProfileAdj_startRepeat(void) { ph_trace_record(PH_EV_STARTREPEAT, 0); }
void adProfileAdj_resetRepeat(void) { ph_trace_record(PH_EV_RESETREPEAT, 0); }
void adProfileAdj_endRepeat(void) { ph_trace_record(PH_EV_ENDREPEAT, 0); }

/* ------------------------------------------------------------------ ranks */

static int env_int(const char *name, int32_t *out) {
  const char *v = getenv(name);
  if (v == NULL || *v == 0) return 0;
  char *end;
  long x = strtol(v, &end, 10);
  if (*end != 0 || x < 0) return 0;
  *out = (int32_t)x;
  return 1;
}

static int32_t mpi_rank = -1, mpi_size = -1;

/* The rank from MPI, without linking MPI. The runtime (static archive and
 * shared library alike) has no reference to any MPI symbol, so it links into
 * a program without MPI (plain gfortran) as into an MPI one (mpif90). MPI's
 * functions are looked up at run time with dlsym(RTLD_DEFAULT): that finds
 * the MPI library the program loaded however it was linked (directly, or only
 * through the Fortran bindings libmpi_mpifh, with or without --as-needed),
 * and nothing in a program without MPI. Weak symbols would not: a weak
 * reference from a static archive is resolved or not depending on the link
 * line, the linker and --as-needed, silently.
 *
 * MPI_COMM_WORLD is not a value the C ABI shares between MPI libraries:
 *   - Open MPI: a pointer, the address of the data symbol ompi_mpi_comm_world;
 *   - the MPICH ABI (MPICH, MVAPICH, Intel MPI, Cray MPICH): the int 0x44000000.
 * The library is recognised at run time (Open MPI by that symbol, the MPICH ABI
 * by MPI_Get_library_version), not by the mpi.h pyharness was built with, so
 * the runtime built with one MPI asks the other correctly. Any other MPI is not
 * asked, nor one that offers the MPI 5 standard ABI (MPI_Abi_get_version, or
 * the draft's MPI_Abi_version): its handles differ again, and a program built
 * against it may sit beside the implementation's own symbols. The launcher's
 * variables give the rank then, as for a program without MPI: a wrong handle
 * would crash the program, a skipped query costs nothing under a launcher. */
typedef int (*mpi_flag_fn)(int *);
typedef int (*ompi_comm_fn)(void *, int *);      /* MPI_Comm is a pointer */
typedef int (*mpich_comm_fn)(int, int *);        /* MPI_Comm is an int */
typedef int (*mpi_version_fn)(char *, int *);
#define PH_MPICH_COMM_WORLD 0x44000000

static void *mpi_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

static int mpich_abi(void) {
  mpi_version_fn version = (mpi_version_fn)mpi_sym("MPI_Get_library_version");
  if (version == NULL) return 0;
  static char v[16384];                /* MPICH's MPI_MAX_LIBRARY_VERSION_STRING is 8192 */
  int n = 0;
  if (version(v, &n) != 0) return 0;
  v[n >= 0 && n < (int)sizeof v ? n : (int)sizeof v - 1] = 0;
  return strstr(v, "MPICH") != NULL || strstr(v, "MVAPICH") != NULL || strstr(v, "Intel(R) MPI") != NULL;
}

static void query_mpi(void) {
  mpi_flag_fn initialized = (mpi_flag_fn)mpi_sym("MPI_Initialized");
  mpi_flag_fn finalized = (mpi_flag_fn)mpi_sym("MPI_Finalized");
  void *comm_rank = mpi_sym("MPI_Comm_rank"), *comm_size = mpi_sym("MPI_Comm_size");
  if (initialized == NULL || finalized == NULL || comm_rank == NULL || comm_size == NULL) return;
  if (mpi_sym("MPI_Abi_get_version") != NULL || mpi_sym("MPI_Abi_version") != NULL) return;
  int init = 0, fin = 0;
  if (initialized(&init) != 0 || !init || finalized(&fin) != 0 || fin) return;
  int r = -1, s = -1;
  void *ompi_world = mpi_sym("ompi_mpi_comm_world");
  if (ompi_world != NULL) {
    if (((ompi_comm_fn)comm_rank)(ompi_world, &r) != 0 || ((ompi_comm_fn)comm_size)(ompi_world, &s) != 0)
      return;
  } else if (mpich_abi()) {
    if (((mpich_comm_fn)comm_rank)(PH_MPICH_COMM_WORLD, &r) != 0
        || ((mpich_comm_fn)comm_size)(PH_MPICH_COMM_WORLD, &s) != 0)
      return;
  } else {
    return;
  }
  if (r >= 0 && s > r) {
    mpi_rank = r;
    mpi_size = s;
  }
}

void ph_trace_rank(int32_t *rank, int32_t *size) {
  query_mpi();
  if (mpi_rank >= 0) { *rank = mpi_rank; *size = mpi_size; return; }
  static const char *rv[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
  static const char *sv[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
  *rank = 0;
  *size = 1;
  for (int i = 0; i < 4; i++) {
    if (env_int(rv[i], rank)) {
      if (env_int(sv[i], size)) return;
      /* srun --mpi=pmix sets PMIX_RANK but no PMIX_SIZE: take the size another
       * launcher variable gives (SLURM_NTASKS), never rank + 1 (rank 0 of two
       * would say it ran alone, and its trace would not join the others) */
      for (int j = 0; j < 4; j++)
        if (j != i && env_int(sv[j], size) && *size > *rank) return;
      *size = *rank + 1;
      return;
    }
  }
}

/* ------------------------------------------------------------------ trace files */

typedef struct { char *p; size_t n, cap; int bad; } buf_t;

static void put(buf_t *b, const void *x, size_t n) {
  if (b->bad) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) { b->bad = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, x, n);
  b->n += n;
}
static void put_i32(buf_t *b, int32_t v) { put(b, &v, 4); }
static void put_i64(buf_t *b, int64_t v) { put(b, &v, 8); }
static void put_str(buf_t *b, const char *s, size_t n) { put_i32(b, (int32_t)n); put(b, s, n); }

static size_t read_small(const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  size_t n = fread(out, 1, cap, f);
  fclose(f);
  return n;
}

/* one identifier of the launch, the same on every rank of one mpiexec/srun */
static const char *run_id(void) {
  static const char *vars[] = {"PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "SLURM_STEP_ID", "SLURM_JOB_ID",
                               "PMI_JOBID"};
  static char id[512];
  id[0] = 0;
  for (int i = 0; i < 5; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) {
      size_t n = strlen(id);
      snprintf(id + n, sizeof id - n, "%s%s=%s", n ? " " : "", vars[i], v);
    }
  }
  return id;
}

int32_t ph_trace_write(const char *dir, char *errmsg, int64_t errlen) {
  int32_t rank, size;
  char path[4096], tmp[4200];
  ph_trace_rank(&rank, &size);
  if (errlen > 0) errmsg[0] = 0;
  if (dir == NULL || *dir == 0) dir = ".";
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    snprintf(errmsg, (size_t)errlen, "cannot create the trace directory %s: %s", dir, strerror(errno));
    return 1;
  }
  snprintf(path, sizeof path, "%s/pyharness.%05d.phtrace", dir, (int)rank);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());

  buf_t b = {0};
  int64_t cur, peak, pushed, popped;
  ph_stack_counts(&cur, &peak, &pushed, &popped);
  put(&b, "PHTRACE\0", 8);
  put_i32(&b, 2);                               /* format version (2: control bits per event) */
  put_i32(&b, (use_cpu ? 1 : 0) | (lost ? 2 : 0));
  put_i32(&b, rank);
  put_i32(&b, size);
  put_i64(&b, nloc);
  put_i64(&b, nev);
  put_i64(&b, ph_trace_wall_ns() - wall0);      /* wall ns since the clear */
  put_i64(&b, ph_trace_cpu_ns() - pcpu0);       /* process CPU ns since the clear */
  put_i64(&b, peak);
  put_i64(&b, pushed);
  put_i64(&b, popped);
  put_i64(&b, cur);
  put_i64(&b, unix0);
  put_i64(&b, (int64_t)getpid());
  put(&b, &cal_on_ns, 8);                       /* ns per event recorded (-1: not measured) */
  put(&b, &cal_off_ns, 8);                      /* ns per callback, recording off */
  {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
    put_str(&b, exe, n > 0 ? (size_t)n : 0);
    char *cmd = malloc(65536);
    size_t nc = cmd ? read_small("/proc/self/cmdline", cmd, 65536) : 0;
    while (nc > 0 && cmd[nc - 1] == 0) nc--;
    put_str(&b, cmd ? cmd : "", nc);          /* arguments separated by NUL */
    free(cmd);
    const char *id = run_id();
    put_str(&b, id, strlen(id));
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    put_str(&b, host, strlen(host));
  }
  for (int32_t i = 0; i < nloc; i++) {
    const loc_t *L = &locs[i];
    put_i32(&b, L->line);
    put_i32(&b, L->is_site | (L->active ? 0 : 2));
    put_str(&b, L->callee, (size_t)L->lc);
    put_str(&b, L->file, (size_t)L->lf);
  }
  if (nev > 0) {
    put(&b, ev_kind, (size_t)nev);
    put(&b, ev_loc, (size_t)nev * 4);
    put(&b, ev_wall, (size_t)nev * 8);
    put(&b, ev_cpu, (size_t)nev * 8);
    put(&b, ev_stack, (size_t)nev * 8);
    put(&b, ev_ctl, (size_t)nev * 8);
  }
  put(&b, "PHTREND\0", 8);
  put_i64(&b, (int64_t)b.n + 8);                /* total length, this field included */
  if (b.bad) {
    free(b.p);
    snprintf(errmsg, (size_t)errlen, "out of memory writing the trace %s", path);
    return 2;
  }
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) {
    snprintf(errmsg, (size_t)errlen, "cannot write %s: %s", tmp, strerror(errno));
    free(b.p);
    return 3;
  }
  size_t w = fwrite(b.p, 1, b.n, f);
  int bad = (w != b.n) | (fflush(f) != 0) | (fsync(fileno(f)) != 0);
  bad |= fclose(f) != 0;
  free(b.p);
  if (bad || rename(tmp, path) != 0) {
    snprintf(errmsg, (size_t)errlen, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return 4;
  }
  nev_written = nev;
  return 0;
}

static void write_env_trace(const char *why) {
  char msg[512];
  if (trace_dir == NULL) return;
  if (ph_trace_write(trace_dir, msg, sizeof msg) != 0)
    fprintf(stderr, "pyharness: %s: the profile trace was not written: %s\n", why, msg);
}

static void at_exit(void) {
  if (trace_dir != NULL && nev_written != nev) write_env_trace("at exit");
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* the recorder's cost per event through Tapenade's named callback, on and off
 * (median of 5 x 2000 events), measured before recording starts; written to the
 * trace so that the model can take the profiler's own cost out of predictions.
 * The probe's location is removed again. */
static void calibrate(void) {
  static const char callee[] = "pyharness_calibration_probe", file[] = "ph_trace.c";
  enum { N = 2000, R = 5 };
  double on[R], off[R];
  int32_t line = 1, was = ph_trace_on, n0 = nloc;
  /* called through a volatile pointer, as from another object file: the compiler
   * must not inline the callback and drop the loop when recording is off */
  void (*volatile cb)(const char *, const char *, const int32_t *, size_t, size_t) = adprofileadj_snpwrite_;
  for (int r = 0; r < R; r++) {
    ph_trace_clear();
    ph_trace_on = 1;
    int64_t t0 = ph_trace_wall_ns();
    for (int i = 0; i < N; i++) cb(callee, file, &line, sizeof callee - 1, sizeof file - 1);
    int64_t t1 = ph_trace_wall_ns();
    ph_trace_on = 0;
    for (int i = 0; i < N; i++) cb(callee, file, &line, sizeof callee - 1, sizeof file - 1);
    int64_t t2 = ph_trace_wall_ns();
    on[r] = (double)(t1 - t0) / N;
    off[r] = (double)(t2 - t1) / N;
  }
  qsort(on, R, sizeof *on, cmp_double);
  qsort(off, R, sizeof *off, cmp_double);
  cal_on_ns = on[R / 2];
  cal_off_ns = off[R / 2];
  while (nloc > n0) { nloc--; free(locs[nloc].callee); free(locs[nloc].file); }
  if (hcap) rehash(hcap);
  memset(pcache, 0, sizeof pcache);
  ph_trace_clear();
  ph_trace_on = was;
}

static void read_env(void) {
  if (env_done) return;
  env_done = 1;
  const char *d = getenv("PYHARNESS_PROFILE");
  const char *c = getenv("PYHARNESS_PROFILE_CPU");
  if (c && *c && strcmp(c, "0") != 0) use_cpu = 1;
  if (d && *d) {
    trace_dir = strdup(d);
    calibrate();
    ph_trace_clear();
    ph_trace_on = 1;
    atexit(at_exit);
  }
}

/* the environment is read before main (a Tapenade adjoint never calls us to start) */
__attribute__((constructor)) static void ph_trace_init(void) { read_env(); }

/* ------------------------------------------------ Tapenade's showprofiles */

void ph_trace_print_table(FILE *out);

void adProfileAdj_showProfiles(void) {
  ph_trace_print_table(stdout);
  fflush(stdout);
  write_env_trace("adProfileAdj_showProfiles");
}

void adProfileAdj_showProfilesFile(char *filename) {
  FILE *f = (filename && *filename) ? fopen(filename, "w") : NULL;
  if (f == NULL) {
    fprintf(stderr, "pyharness: cannot write the profile table to %s: %s\n",
            filename ? filename : "(no name)", strerror(errno));
  } else {
    ph_trace_print_table(f);
    fclose(f);
  }
  write_env_trace("adProfileAdj_showProfilesFile");
}

void adprofileadj_showprofiles_(void) { adProfileAdj_showProfiles(); }

void adprofileadj_showprofilesfile_(const char *filename, size_t lf) {
  int64_t n = name_len(filename, (int64_t)lf);
  char *name = dup_name(filename, n);
  adProfileAdj_showProfilesFile(name);
  free(name);
}

/* ------------------------------------------------------------ micro-benchmark */

/* ns per event of the recorder, best of reps: by id (the built-in kernels), through
 * Tapenade's Fortran-name callback with a name (resolved once per call site), and
 * with recording off. For bench/bench_adjoint.py; drops the recorded events. */
void ph_trace_bench(int64_t n, int32_t reps, double *ns_id, double *ns_named, double *ns_off) {
  static const char callee[] = "bench_callee_with_a_name_of_typical_length", file[] = "bench_file.f90";
  int32_t line = 7, on = ph_trace_on;
  void (*volatile cb)(const char *, const char *, const int32_t *, size_t, size_t) = adprofileadj_snpwrite_;
  void (*volatile rec)(int32_t, int32_t) = ph_trace_record;
  int32_t id = register_trimmed(callee, (int64_t)strlen(callee), file, (int64_t)strlen(file), line, 1);
  *ns_id = *ns_named = *ns_off = 1e30;
  for (int32_t r = 0; r < reps; r++) {
    ph_trace_clear();
    ph_trace_on = 1;
    int64_t t0 = ph_trace_wall_ns();
    for (int64_t i = 0; i < n; i++) rec(PH_EV_SNPWRITE, id);
    int64_t t1 = ph_trace_wall_ns();
    ph_trace_clear();
    for (int64_t i = 0; i < n; i++) cb(callee, file, &line, sizeof callee - 1, sizeof file - 1);
    int64_t t2 = ph_trace_wall_ns();
    ph_trace_on = 0;
    for (int64_t i = 0; i < n; i++) cb(callee, file, &line, sizeof callee - 1, sizeof file - 1);
    int64_t t3 = ph_trace_wall_ns();
    double a = (double)(t1 - t0) / (double)n, b = (double)(t2 - t1) / (double)n, c = (double)(t3 - t2) / (double)n;
    if (a < *ns_id) *ns_id = a;
    if (b < *ns_named) *ns_named = b;
    if (c < *ns_off) *ns_off = c;
  }
  ph_trace_clear();
  ph_trace_on = on;
}
