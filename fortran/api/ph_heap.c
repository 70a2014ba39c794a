/* Keep the bundled kernels' heap temporaries mapped between calls.
 *
 * gfortran allocates automatic arrays whose size is not known at compile time
 * (every work array of streamice and biogeo, sized by the grid) with malloc.
 * With glibc's defaults those of a few hundred KiB are mmap'ed, or come from
 * the top of the heap that free() trims back: either way every call of a
 * kernel routine faults its pages in again. streamice medium took 566,000
 * minor page faults per adjoint, half of its time spent in the kernel, and the
 * faults made every timing on a shared machine noisier still.
 *
 * ph_heap_keep() raises the mmap threshold to its largest value (32 MiB) and
 * the trim threshold to 1 GiB once per process, so freed temporaries are
 * reused. It leaves glibc alone if the user set MALLOC_MMAP_THRESHOLD_ or
 * MALLOC_TRIM_THRESHOLD_ (the same settings from the environment), and it is
 * called for the bundled kernels only: the drop-in AD stack never changes the
 * malloc of a user's program.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

void ph_heap_keep(void)
{
#ifdef __GLIBC__
    static int done = 0;
    if (done) return;
    done = 1;
    if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")) return;
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}
