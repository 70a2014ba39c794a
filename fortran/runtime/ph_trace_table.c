/* Tapenade's own profile table, printed by adprofileadj_showprofiles(file):
 * the nested-checkpoint merge of this rank's events per site (with the rebase
 * step, docs/FORMAT.md), then PEAK STACK and SUGGESTED NOCHECKPOINTs in three
 * groups, in the layout Tapenade's profiler prints. Differences, on purpose:
 * times are wall-clock (CLOCK_MONOTONIC) seconds with milliseconds, never
 * truncated to whole seconds. The same merge in Python is
 * pyharness/analysis/merge.py (merge_reference); ingest the traces
 * (python -m pyharness.ingest) for the cross-rank analysis. */
#include "ph_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the recorder's buffers (ph_trace.c) */
int64_t ph_trace_nevents(void);
int32_t ph_trace_nlocations(void);

typedef struct {
  int32_t loc, first;
  int64_t t1t2, snp, pk, tn, pending;
  int32_t *mem, nm;              /* groups present in this level's lists */
  int64_t *dt, *dpk, *dtn;
  uint8_t *in;
} level_t;

typedef struct { int64_t t, snp; int32_t depth, reversed, next; } adv_t;

typedef struct { int32_t *saved; int32_t depth; int64_t pending; } rep_t;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static void add_member(level_t *L, int32_t x) {
  if (!L->in[x]) { L->in[x] = 1; L->mem[L->nm++] = x; }
}

static void clear_level(level_t *L) {
  for (int32_t i = 0; i < L->nm; i++) {
    int32_t x = L->mem[i];
    L->in[x] = 0; L->dt[x] = 0; L->dpk[x] = 0; L->dtn[x] = 0;
  }
  L->nm = 0;
}

static void turn(level_t *L, int64_t s) {
  int64_t npk = max64(L->pk, s), ntn = max64(L->tn, s);
  for (int32_t i = 0; i < L->nm; i++) {
    int32_t y = L->mem[i];
    L->dpk[y] = max64(L->pk + L->dpk[y], s) - npk;
    L->dtn[y] = max64(L->tn + L->dtn[y], s) - ntn;
  }
  L->pk = npk;
  L->tn = ntn;
}

static void close_level(level_t *C, level_t *D, int32_t c) {
  int64_t offset = C->tn + C->dtn[c] - C->snp;
  int64_t npk = max64(D->pk, C->pk);
  add_member(C, c);
  for (int32_t i = 0; i < D->nm; i++) {           /* rebase what C does not hold */
    int32_t y = D->mem[i];
    if (!C->in[y]) D->dpk[y] = max64(D->pk + D->dpk[y], C->pk) - npk;
  }
  for (int32_t i = 0; i < C->nm; i++) {
    int32_t x = C->mem[i];
    int64_t off = x == c ? offset : 0;
    D->dt[x] += C->dt[x] + (x == c ? C->t1t2 : 0);
    D->dtn[x] += C->first ? off : 0;
    D->dpk[x] = max64(D->pk + D->dpk[x] + off, C->pk + C->dpk[x]) - npk;
    add_member(D, x);
  }
  D->pk = npk;
}

typedef struct { int32_t site; int64_t dt, dpk, count; } row_t;

static int by_time(const void *a, const void *b) {
  const row_t *x = a, *y = b;
  return (x->dt < y->dt) - (x->dt > y->dt);
}

static int by_ratio(const void *a, const void *b) {
  const row_t *x = a, *y = b;
  double rx = (double)x->dt / (double)x->dpk, ry = (double)y->dt / (double)y->dpk;
  return (rx < ry) - (rx > ry);
}

static void print_row(FILE *out, const row_t *r, const char *mem) {
  int64_t lc, lf;
  int32_t line, is_site;
  ph_trace_location_info(r->site + 1, &lc, &lf, &line, &is_site);
  char *c = calloc((size_t)lc + 1, 1), *f = calloc((size_t)lf + 1, 1);
  if (c && f) ph_trace_location_names(r->site + 1, c, lc, f, lf);
  int64_t ms = (r->dt + 500000) / 1000000;
  fprintf(out, "  - Time gain -%2lld.%03lld s. %s for call %s (%lld times), at location#%d: line %d of file %s\n",
          (long long)(ms / 1000), (long long)(ms % 1000), mem, c ? c : "?", (long long)r->count,
          (int)r->site + 1, (int)line, f ? f : "?");
  free(c);
  free(f);
}

/* the events, read through the recorder's copy routine */
void ph_trace_print_table(FILE *out) {
  int64_t n = ph_trace_nevents();
  int32_t nloc = ph_trace_nlocations();
  int64_t G = nloc > 0 ? nloc : 1;
  int8_t *kind = malloc((size_t)(n ? n : 1));
  int32_t *loc = malloc((size_t)(n ? n : 1) * 4);
  int64_t *wall = malloc((size_t)(n ? n : 1) * 8), *cpu = malloc((size_t)(n ? n : 1) * 8);
  int64_t *stk = malloc((size_t)(n ? n : 1) * 8);
  int32_t *wstate = calloc((size_t)G, 4), *rstate = calloc((size_t)G, 4), *advanced = malloc((size_t)G * 4);
  int64_t *wt = calloc((size_t)G, 8), *wsnp = calloc((size_t)G, 8), *rt = calloc((size_t)G, 8);
  int64_t *count = calloc((size_t)G, 8);
  uint8_t *is_site = calloc((size_t)G, 1);
  level_t *lv = NULL;
  int32_t nlv = 0, caplv = 0, depth = 0;
  adv_t *pool = NULL;
  int64_t npool = 0, cappool = 0;
  rep_t *reps = NULL;
  int32_t nrep = 0, caprep = 0;
  const char *err = NULL;
  int64_t at = -1;
  row_t *rows = NULL;

  if (!(kind && loc && wall && cpu && stk && wstate && rstate && advanced && wt && wsnp && rt && count && is_site)) {
    err = "out of memory";
    goto done;
  }
  ph_trace_copy(n, kind, loc, wall, cpu, stk);
  for (int32_t i = 0; i < nloc; i++) {
    int64_t a, b;
    int32_t line, s;
    ph_trace_location_info(i + 1, &a, &b, &line, &s);
    is_site[i] = (uint8_t)s;
    advanced[i] = -1;
  }

#define NEED_LEVEL(d)                                                                   \
  while (nlv <= (d)) {                                                                  \
    if (nlv == caplv) {                                                                 \
      caplv = caplv ? 2 * caplv : 16;                                                   \
      level_t *p = realloc(lv, (size_t)caplv * sizeof *lv);                             \
      if (!p) { err = "out of memory"; goto done; }                                     \
      lv = p;                                                                           \
    }                                                                                   \
    level_t *L = &lv[nlv];                                                              \
    memset(L, 0, sizeof *L);                                                            \
    L->mem = malloc((size_t)G * 4); L->dt = calloc((size_t)G, 8);                       \
    L->dpk = calloc((size_t)G, 8); L->dtn = calloc((size_t)G, 8); L->in = calloc((size_t)G, 1); \
    nlv++;                                                                              \
    if (!(L->mem && L->dt && L->dpk && L->dtn && L->in)) { err = "out of memory"; goto done; } \
  }

  NEED_LEVEL(0);
  lv[0].loc = -1;
  lv[0].first = 1;
  lv[0].pk = lv[0].tn = n ? stk[0] : 0;
  for (int64_t i = 0; i < n && !err; i++) {
    int32_t k = kind[i], l = loc[i];
    level_t *cur = &lv[depth];
    at = i;
    if (k < 1 || k > 10) { err = "unknown event kind"; break; }
    if (k <= 6 && !(l >= 0 && l < nloc && is_site[l])) { err = "event of a location that is not a site"; break; }
    switch (k) {
    case PH_EV_SNPWRITE:
      if (wstate[l]) { err = "SNPWRITE of a site whose advance is not finished"; break; }
      wstate[l] = 1; wt[l] = wall[i];
      break;
    case PH_EV_BEGINADVANCE:
      if (wstate[l] != 1) { err = "BEGINADVANCE without SNPWRITE"; break; }
      wstate[l] = 2; wsnp[l] = stk[i];
      break;
    case PH_EV_ENDADVANCE:
      if (wstate[l] != 2) { err = "ENDADVANCE without BEGINADVANCE"; break; }
      wstate[l] = 0;
      if (npool == cappool) {
        cappool = cappool ? 2 * cappool : 1024;
        adv_t *p = realloc(pool, (size_t)cappool * sizeof *pool);
        if (!p) { err = "out of memory"; break; }
        pool = p;
      }
      pool[npool] = (adv_t){wall[i] - wt[l], wsnp[l], depth, 0, advanced[l]};
      advanced[l] = (int32_t)npool++;
      cur->pending++;
      break;
    case PH_EV_SNPREAD:
      if (rstate[l]) { err = "SNPREAD of a site whose read is not finished"; break; }
      rstate[l] = 1; rt[l] = wall[i];
      break;
    case PH_EV_BEGINREVERSE: {
      if (!rstate[l]) { err = "BEGINREVERSE without SNPREAD"; break; }
      if (advanced[l] < 0) { err = "BEGINREVERSE of a site with no advanced instance"; break; }
      adv_t *a = &pool[advanced[l]];
      if (a->depth != depth) { err = "BEGINREVERSE of an instance advanced in another level"; break; }
      advanced[l] = a->next;
      cur->pending--;
      rstate[l] = 0;
      int first = !a->reversed;
      a->reversed = 1;
      count[l]++;
      NEED_LEVEL(depth + 1);
      depth++;
      level_t *L = &lv[depth];
      L->loc = l; L->first = first;
      L->t1t2 = (wall[i] - rt[l]) + (first ? a->t : 0);
      L->snp = a->snp; L->pk = L->tn = stk[i]; L->pending = 0;
      break;
    }
    case PH_EV_ENDREVERSE:
      if (depth == 0) { err = "ENDREVERSE with no open checkpoint level"; break; }
      if (cur->loc != l) { err = "ENDREVERSE of another site than the open level's"; break; }
      if (nrep && reps[nrep - 1].depth == depth) { err = "ENDREVERSE inside an unfinished repeat section"; break; }
      if (cur->pending) { err = "ENDREVERSE with instances never reversed"; break; }
      close_level(cur, &lv[depth - 1], l);
      clear_level(cur);
      depth--;
      break;
    case PH_EV_TURN:
      turn(cur, stk[i]);
      break;
    case PH_EV_STARTREPEAT:
      if (nrep == caprep) {
        caprep = caprep ? 2 * caprep : 8;
        rep_t *p = realloc(reps, (size_t)caprep * sizeof *reps);
        if (!p) { err = "out of memory"; break; }
        reps = p;
      }
      reps[nrep].saved = malloc((size_t)G * 4);
      if (!reps[nrep].saved) { err = "out of memory"; break; }
      memcpy(reps[nrep].saved, advanced, (size_t)G * 4);
      reps[nrep].depth = depth;
      reps[nrep].pending = cur->pending;
      nrep++;
      break;
    default:   /* RESETREPEAT, ENDREPEAT */
      if (!nrep) { err = "repeat event with no repeat section open"; break; }
      if (reps[nrep - 1].depth != depth) { err = "repeat event in another checkpoint level"; break; }
      if (k == PH_EV_RESETREPEAT) {
        memcpy(advanced, reps[nrep - 1].saved, (size_t)G * 4);
        cur->pending = reps[nrep - 1].pending;
      } else {
        free(reps[--nrep].saved);
      }
    }
  }
  if (!err && depth > 0) { err = "the events end inside a checkpoint level"; at = n; }

  if (!err) {
    level_t *R = &lv[0];
    int32_t nr = 0;
    rows = malloc((size_t)G * sizeof *rows);
    if (!rows) { err = "out of memory"; goto done; }
    fprintf(out, "PEAK STACK:%lld bytes\n", (long long)R->pk);
    fprintf(out, "SUGGESTED NOCHECKPOINTs:\n");
    for (int32_t s = 0; s < nloc; s++)
      if (is_site[s] && count[s] > 0) rows[nr++] = (row_t){s, R->dt[s], R->dpk[s], count[s]};
    static const char *head[3] = {" * Peak memory gain:\n", " * Peak memory neutral:\n", " * Peak memory cost:\n"};
    for (int grp = 0; grp < 3; grp++) {
      row_t *sel = malloc((size_t)(nr ? nr : 1) * sizeof *sel);
      int32_t ns = 0;
      if (!sel) { err = "out of memory"; break; }
      for (int32_t i = 0; i < nr; i++) {
        int g = rows[i].dpk < 0 ? 0 : rows[i].dpk == 0 ? 1 : 2;
        if (g == grp) sel[ns++] = rows[i];
      }
      qsort(sel, (size_t)ns, sizeof *sel, grp == 2 ? by_ratio : by_time);
      fputs(head[grp], out);
      for (int32_t i = 0; i < ns; i++) {
        char mem[96];
        if (grp == 0) snprintf(mem, sizeof mem, "and peak memory gain %lldb", (long long)sel[i].dpk);
        else if (grp == 1) snprintf(mem, sizeof mem, "at peak memory cost zero");
        else snprintf(mem, sizeof mem, "at peak memory cost %12.6f Mb", (double)sel[i].dpk / 1e6);
        print_row(out, &sel[i], mem);
      }
      free(sel);
    }
  }

done:
  if (err) fprintf(out, "pyharness: no profile table: %s (event %lld of %lld)\n", err, (long long)at, (long long)n);
  for (int32_t i = 0; i < nlv; i++) { free(lv[i].mem); free(lv[i].dt); free(lv[i].dpk); free(lv[i].dtn); free(lv[i].in); }
  for (int32_t i = 0; i < nrep; i++) free(reps[i].saved);
  free(lv); free(pool); free(reps); free(rows);
  free(kind); free(loc); free(wall); free(cpu); free(stk);
  free(wstate); free(rstate); free(advanced); free(wt); free(wsnp); free(rt); free(count); free(is_site);
}
