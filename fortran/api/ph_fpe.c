/* Floating-point traps for the debug build (meson -Dchecks=true).
 *
 * A library loaded into Python has no Fortran main program to apply
 * -ffpe-trap, so the API switches traps on around each kernel call
 * (ph_fpe_traps), except under a hard stack limit (a run that reaches it goes
 * on with meaningless values until it reports the error). Plain C (glibc's
 * feenableexcept) rather than Fortran's IEEE_EXCEPTIONS: gfortran restores the
 * floating-point state on return from procedures that use that module.
 */
#define _GNU_SOURCE
#include <fenv.h>

#define PH_TRAPS (FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW)

/* Switch the traps on (on != 0) or off; returns 1 if they were on before. */
int ph_fpe_traps(int on)
{
    int was = (fegetexcept() & PH_TRAPS) == PH_TRAPS;
    if (on) {
        feclearexcept(PH_TRAPS);
        feenableexcept(PH_TRAPS);
    } else {
        fedisableexcept(PH_TRAPS);
    }
    return was;
}
