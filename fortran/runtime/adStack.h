/* pyharness AD stack: the C entry points of Tapenade's AD stack interface,
 * implemented by libpyharness_runtime (see docs/RUNTIME.md). Fortran code calls
 * the lower-case names with a trailing underscore (pushreal8_, ...), which the
 * library provides too. Link with the flags `pyharness-config --libs` prints. */
#ifndef PYHARNESS_ADSTACK_H
#define PYHARNESS_ADSTACK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { float r, i; } ph_ccmplx;      /* COMPLEX(4): 8 bytes */

void adStack_startRepeat(void);
void adStack_resetRepeat(void);
void adStack_endRepeat(void);

void pushNArray(char *x, int nbChars);
void popNArray(char *x, int nbChars);

void pushInteger4Array(int *x, int n);
void popInteger4Array(int *x, int n);
void pushInteger8Array(long *x, int n);
void popInteger8Array(long *x, int n);
void pushReal4Array(float *x, int n);
void popReal4Array(float *x, int n);
void pushReal8Array(double *x, int n);
void popReal8Array(double *x, int n);
void pushReal16Array(long double *x, int n);
void popReal16Array(long double *x, int n);
void pushComplex8Array(ph_ccmplx *x, int n);
void popComplex8Array(ph_ccmplx *x, int n);
void pushComplex16Array(double _Complex *x, int n);
void popComplex16Array(double _Complex *x, int n);
void pushCharacterArray(char *x, int n);
void popCharacterArray(char *x, int n);

void pushCharacter(char x);
void popCharacter(char *x);
void pushReal4(float x);
void popReal4(float *x);
void pushReal8(double x);
void popReal8(double *x);
void pushReal16(long double *x);
void popReal16(long double *x);
void pushInteger4(int x);
void popInteger4(int *x);
void pushInteger8(long x);
void popInteger8(long *x);
void pushComplex8(ph_ccmplx x);
void popComplex8(ph_ccmplx *x);
void pushComplex16(double _Complex x);
void popComplex16(double _Complex *x);
void pushPointer4(void *x);
void popPointer4(void **x);
void pushPointer8(void *x);
void popPointer8(void **x);

void pushBoolean(int x);
void popBoolean(int *x);
void pushControl1b(int cc);
void popControl1b(int *cc);
void pushControl2b(int cc);
void popControl2b(int *cc);
void pushControl3b(int cc);
void popControl3b(int *cc);
void pushControl4b(int cc);
void popControl4b(int *cc);
void pushControl5b(int cc);
void popControl5b(int *cc);
void pushControl6b(int cc);
void popControl6b(int *cc);
void pushControl7b(int cc);
void popControl7b(int *cc);
void pushControl8b(int cc);
void popControl8b(int *cc);

uint64_t adStack_getCurrentStackSize(void);
void adStack_showPeakSize(void);
void adStack_showTotalTraffic(void);
void adStack_showStackSize(int label);
void adStack_showStack(char *locationName);
int stackIsThreadSafe(void);
void showErrorContext(void);

/* pyharness's own control of the stack (also bound in the Fortran module ph_stack) */
void ph_stack_reset(void);
void ph_stack_release(void);
void ph_stack_set_limit(int64_t nbytes);
int64_t ph_stack_limit(void);
/* after a run that passed the limit (status code 1): the bytes needed when it was
   first passed, and that limit; else 0 and 0 */
void ph_stack_limit_error(int64_t *need, int64_t *limit);
int64_t ph_stack_current(void);
int64_t ph_stack_peak(void);
int64_t ph_stack_pushed(void);
int64_t ph_stack_popped(void);
int ph_stack_failed(void);
int64_t ph_stack_bytes(void);
int64_t ph_stack_ctlbits(void);   /* control bits on the stack: 32 per word on it + those in the word */
void ph_stack_counts(int64_t *current, int64_t *peak, int64_t *pushed, int64_t *popped);
void ph_stack_external(int64_t delta);
void ph_stack_status_c(int *ierr, char *msg, int len);
void ph_stack_push(const void *x, int64_t nbytes);
void ph_stack_pop(void *x, int64_t nbytes);

/* The fault switch (PYHARNESS_FAULT, docs/RUNTIME.md) */
const char *ph_fault_error(void);
const char *ph_fault_site(void);
const char *ph_fault_kind(void);
int ph_fault_fired(void);
int64_t ph_fault_k(void);
void ph_fault_set_gate(int open);
void ph_fault_reload(void);

#ifdef __cplusplus
}
#endif
#endif
