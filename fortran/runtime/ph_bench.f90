!> \brief Micro-benchmarks of the runtime, measured side by side in one call.
module ph_bench
  use ph_kinds, only: int64, real64
  use ph_stack, only: ph_stack_reset, ph_stack_current
  use ph_profile, only: ph_clock_ns
  implicit none
  private
  public :: ph_bench_stack

contains

  !> \brief Push then pop npush arrays of n reals through the AD stack, and copy
  !! the same bytes into and back out of a plain buffer; best of reps each.
  !! \param[in] n reals per push
  !! \param[in] npush pushes per repetition
  !! \param[in] reps repetitions (the minimum time is kept)
  !! \param[out] t_stack seconds for the pushes and pops
  !! \param[out] t_copy seconds for the plain copies of the same bytes
  !! \param[out] ok 0 if every popped value matched what was pushed
  subroutine ph_bench_stack(n, npush, reps, t_stack, t_copy, ok)
    integer, intent(in) :: n, npush, reps
    real(real64), intent(out) :: t_stack, t_copy
    integer, intent(out) :: ok
    real(real64), allocatable :: src(:), dst(:), buf(:)
    integer :: i, r
    integer(int64) :: t0
    real(real64) :: acc
    allocate(src(n), dst(n), buf(int(n, int64) * npush))
    do i = 1, n
      src(i) = real(i, real64)
    end do
    t_stack = huge(1.0_real64)
    t_copy = huge(1.0_real64)
    ok = 0
    acc = 0
    do r = 1, reps
      call ph_stack_reset()
      t0 = ph_clock_ns()
      do i = 1, npush
        call pushreal8array(src, n)
      end do
      do i = npush, 1, -1
        call popreal8array(dst, n)
        acc = acc + dst(1 + mod(i, n))
      end do
      t_stack = min(t_stack, real(ph_clock_ns() - t0, real64) * 1e-9_real64)
      if (ph_stack_current() /= 0 .or. any(dst /= src)) ok = 1
      t0 = ph_clock_ns()
      do i = 1, npush
        buf((int(i, int64) - 1) * n + 1:int(i, int64) * n) = src
      end do
      do i = npush, 1, -1
        dst = buf((int(i, int64) - 1) * n + 1:int(i, int64) * n)
        acc = acc + dst(1 + mod(i, n))
      end do
      t_copy = min(t_copy, real(ph_clock_ns() - t0, real64) * 1e-9_real64)
    end do
    if (acc < 0) ok = 2   ! keeps the loops from being optimised away
    call ph_stack_reset()
  end subroutine ph_bench_stack

end module ph_bench
