/* pyharness event recorder: the location table (checkpoint sites and adjoint
 * routines, names of any length), the run-time activation of each site, and
 * the per-rank event buffer that Tapenade's ADPROFILEADJ_* callbacks append to.
 *
 * Ids are 1-based (0: no location). Names are stored whole; trailing blanks
 * and anything from the first NUL on are not part of a name.
 *
 * Environment (read once, at the first use of the recorder):
 *   PYHARNESS_PROFILE=DIR   record from the start and write DIR/pyharness.NNNNN.phtrace
 *                           (NNNNN: the MPI rank) when the program calls
 *                           adprofileadj_showprofiles(file), and at normal exit
 *   PYHARNESS_PROFILE_CPU=1 also read the thread CPU clock at every event
 *
 * One recorder per process; not thread-safe (Tapenade's adjoints call it from
 * one thread per MPI rank). The trace file format is in docs/FORMAT.md. */
#ifndef PH_TRACE_H
#define PH_TRACE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ph_event_kind {
  PH_EV_SNPWRITE = 1, PH_EV_BEGINADVANCE = 2, PH_EV_ENDADVANCE = 3, PH_EV_SNPREAD = 4,
  PH_EV_BEGINREVERSE = 5, PH_EV_ENDREVERSE = 6, PH_EV_TURN = 7, PH_EV_STARTREPEAT = 8,
  PH_EV_RESETREPEAT = 9, PH_EV_ENDREPEAT = 10
};

/* nonzero while events are recorded (the site calls test it before calling in) */
extern int32_t ph_trace_on;

/* ---- location table ---- */
int32_t ph_trace_register(const char *callee, int64_t lc, const char *file, int64_t lf,
                          int32_t line, int32_t is_site);
int32_t ph_trace_lookup(const char *callee, int64_t lc, const char *file, int64_t lf, int32_t line);
void ph_trace_registry_clear(void);
int32_t ph_trace_nlocations(void);
/* lengths of location id's names; returns 0, or -1 if id is out of range */
int32_t ph_trace_location_info(int32_t id, int64_t *lc, int64_t *lf, int32_t *line, int32_t *is_site);
/* copy at most nc / nf bytes of the names (no NUL added) */
void ph_trace_location_names(int32_t id, char *callee, int64_t nc, char *file, int64_t nf);
int32_t ph_trace_site_active(int32_t id);
void ph_trace_set_active(int32_t id, int32_t flag);
void ph_trace_set_all_active(int32_t flag);

/* ---- events ---- */
void ph_trace_enable(int32_t flag);
int32_t ph_trace_enabled(void);
void ph_trace_set_cpu_clock(int32_t flag);
int32_t ph_trace_cpu_clock(void);
void ph_trace_clear(void);
void ph_trace_release(void);
int64_t ph_trace_nevents(void);
void ph_trace_record(int32_t kind, int32_t id);
/* copy the first n events; loc becomes 0-based (-1: none) */
void ph_trace_copy(int64_t n, int8_t *kind, int32_t *loc, int64_t *wall, int64_t *cpu, int64_t *stack);
/* copy the control bits on the stack at the first n events (ph_stack_ctlbits) */
void ph_trace_copy_ctl(int64_t n, int64_t *ctl);

/* ---- clocks (ns) ---- */
int64_t ph_trace_wall_ns(void);     /* CLOCK_MONOTONIC */
int64_t ph_trace_cpu_ns(void);      /* process CPU time (whole-run totals) */

/* ---- trace files ---- */
/* write this rank's trace to dir/pyharness.NNNNN.phtrace (temp name, renamed);
 * returns 0, or nonzero with a message in errmsg */
int32_t ph_trace_write(const char *dir, char *errmsg, int64_t errlen);
/* the rank and size used in trace file names (MPI if initialised, else the launcher's variables) */
void ph_trace_rank(int32_t *rank, int32_t *size);
/* ns per event: by id, by name (Fortran callback), recording off; best of reps (drops the events) */
void ph_trace_bench(int64_t n, int32_t reps, double *ns_id, double *ns_named, double *ns_off);

/* ---- the AD stack, as the recorder sees it (provided by the stack) ---- */
int64_t ph_stack_bytes(void);
int64_t ph_stack_ctlbits(void);
void ph_stack_counts(int64_t *current, int64_t *peak, int64_t *pushed, int64_t *popped);

/* ---- Tapenade's profiling interface, C names (strings NUL-terminated) ---- */
void adProfileAdj_SNPWrite(char *callee, char *file, unsigned int line);
void adProfileAdj_beginAdvance(char *callee, char *file, unsigned int line);
void adProfileAdj_endAdvance(char *callee, char *file, unsigned int line);
void adProfileAdj_SNPRead(char *callee, char *file, unsigned int line);
void adProfileAdj_beginReverse(char *callee, char *file, unsigned int line);
void adProfileAdj_endReverse(char *callee, char *file, unsigned int line);
void adProfileAdj_turn(char *routine, char *file);
void adProfileAdj_startRepeat(void);
void adProfileAdj_resetRepeat(void);
void adProfileAdj_endRepeat(void);
void adProfileAdj_showProfiles(void);
void adProfileAdj_showProfilesFile(char *filename);

#ifdef __cplusplus
}
#endif
#endif
