! The adjoint of model.f90 in the shape Tapenade 3.16 generates with -b -profile
! (joint mode: every call checkpointed), written by hand. Tapenade's
! -nocheckpoint "a b" switches the calls to a and b to split mode (a_fwd in the
! forward sweep, a_bwd in the backward sweep, no snapshot, no profiling
! callbacks); here that choice is fixed at compile time per callee by the
! preprocessor: -DNOCHECKPOINT_react makes every call to react split mode, as
! a rebuild with -nocheckpoint "react" would. The Makefile turns
! NOCHECKPOINT="react heavy" into those flags.
!
! Test switch: -DFAULT_SPLIT_react gives react's split-mode backward sweep a wrong
! derivative, so the gradient changes only when react is not checkpointed (a
! stand-in for the adjoint-mode switches that made a real MITgcm adjoint's
! gradient depend on -nocheckpoint).
!
! Sites (callee, file, line of the call in model.f90): react 28, heavy 29,
! relax 30 (in forward's time loop), smooth_iter 52 (in heavy's loop).
module tp_model_b
  use tp_model, only: dp, nt, m, nsub, dt, c, a, react, heavy, smooth_iter, relax, global_sum
  implicit none
  private
  public :: forward_b

  character(len=*), parameter :: f = 'model.f90'//CHAR(0)

contains

  ! ------------------------------------------------------------------ react
  subroutine react_b(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    call PUSHREAL8ARRAY(u, n)
    u = u + dt * u * (1.0_dp - u)
    call ADPROFILEADJ_TURN('react'//CHAR(0), f)
    call POPREAL8ARRAY(u, n)
    ub = ub * (1.0_dp + dt * (1.0_dp - 2.0_dp * u))
  end subroutine react_b

  subroutine react_fwd(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    call PUSHREAL8ARRAY(u, n)
    u = u + dt * u * (1.0_dp - u)
  end subroutine react_fwd

  subroutine react_bwd(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    call POPREAL8ARRAY(u, n)
#ifdef FAULT_SPLIT_react
    ub = ub * (1.0_dp + dt * (1.0_dp - u))          ! wrong on purpose (test switch)
#else
    ub = ub * (1.0_dp + dt * (1.0_dp - 2.0_dp * u))
#endif
  end subroutine react_bwd

  ! ------------------------------------------------------------ smooth_iter
  subroutine smooth_iter_fwd(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    real(dp) :: v(n)
    integer :: s, i
    do s = 1, nsub
      do i = 1, n
        v(i) = u(i) + c * (u(max(i - 1, 1)) - 2.0_dp * u(i) + u(min(i + 1, n)))
      end do
      call PUSHREAL8ARRAY(v, n)
      u = v + 0.01_dp * sin(v)
    end do
  end subroutine smooth_iter_fwd

  subroutine smooth_iter_bwd(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    real(dp) :: v(n), vb(n)
    integer :: s, i
    do s = nsub, 1, -1
      call POPREAL8ARRAY(v, n)
      vb = ub * (1.0_dp + 0.01_dp * cos(v))
      ub = 0.0_dp
      do i = 1, n
        ub(i) = ub(i) + (1.0_dp - 2.0_dp * c) * vb(i)
        ub(max(i - 1, 1)) = ub(max(i - 1, 1)) + c * vb(i)
        ub(min(i + 1, n)) = ub(min(i + 1, n)) + c * vb(i)
      end do
    end do
  end subroutine smooth_iter_bwd

  subroutine smooth_iter_b(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    call smooth_iter_fwd(u, n)
    call ADPROFILEADJ_TURN('smooth_iter'//CHAR(0), f)
    call smooth_iter_bwd(u, ub, n)
  end subroutine smooth_iter_b

  ! ------------------------------------------------------------------ heavy
  ! forward sweep of heavy: the m calls of smooth_iter (line 52), then its own update
  subroutine heavy_fwd(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    integer :: k
    do k = 1, m
#ifdef NOCHECKPOINT_smooth_iter
      call smooth_iter_fwd(u, n)
#else
      call ADPROFILEADJ_SNPWRITE('smooth_iter'//CHAR(0), f, 52)
      call PUSHREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINADVANCE('smooth_iter'//CHAR(0), f, 52)
      call smooth_iter(u, n)
      call ADPROFILEADJ_ENDADVANCE('smooth_iter'//CHAR(0), f, 52)
#endif
    end do
    call PUSHREAL8ARRAY(u, n)
    u = u - 0.01_dp * u**3
  end subroutine heavy_fwd

  subroutine heavy_bwd(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    integer :: k
    call POPREAL8ARRAY(u, n)
    ub = ub * (1.0_dp - 0.03_dp * u**2)
    do k = m, 1, -1
#ifdef NOCHECKPOINT_smooth_iter
      call smooth_iter_bwd(u, ub, n)
#else
      call ADPROFILEADJ_SNPREAD('smooth_iter'//CHAR(0), f, 52)
      call POPREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINREVERSE('smooth_iter'//CHAR(0), f, 52)
      call smooth_iter_b(u, ub, n)
      call ADPROFILEADJ_ENDREVERSE('smooth_iter'//CHAR(0), f, 52)
#endif
    end do
  end subroutine heavy_bwd

  subroutine heavy_b(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    call heavy_fwd(u, n)
    call ADPROFILEADJ_TURN('heavy'//CHAR(0), f)
    call heavy_bwd(u, ub, n)
  end subroutine heavy_b

  ! ------------------------------------------------------------------ relax
  subroutine relax_fwd(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    real(dp) :: mean
    mean = global_sum(sum(u)) / global_sum(real(n, dp))
    call PUSHREAL8ARRAY(u, n)
    call PUSHREAL8(mean)
    u = u + a * (mean - u) * u
  end subroutine relax_fwd

  subroutine relax_bwd(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    real(dp) :: mean, meanb
    call POPREAL8(mean)
    call POPREAL8ARRAY(u, n)
    meanb = global_sum(a * sum(ub * u)) / global_sum(real(n, dp))   ! adjoint of the allreduce
    ub = ub * (1.0_dp + a * mean - 2.0_dp * a * u) + meanb
  end subroutine relax_bwd

  subroutine relax_b(u, ub, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n), ub(n)
    call relax_fwd(u, n)
    call ADPROFILEADJ_TURN('relax'//CHAR(0), f)
    call relax_bwd(u, ub, n)
  end subroutine relax_b

  ! --------------------------------------------------------------- forward
  !> the adjoint of the whole model: u0 -> cost and ub0 = d cost / d u0
  subroutine forward_b(u, ub, n, cost)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    real(dp), intent(out) :: ub(n), cost
    integer :: t
    ! ---- forward sweep
    do t = 1, nt
#ifdef NOCHECKPOINT_react
      call react_fwd(u, n)
#else
      call ADPROFILEADJ_SNPWRITE('react'//CHAR(0), f, 28)
      call PUSHREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINADVANCE('react'//CHAR(0), f, 28)
      call react(u, n)
      call ADPROFILEADJ_ENDADVANCE('react'//CHAR(0), f, 28)
#endif
#ifdef NOCHECKPOINT_heavy
      call heavy_fwd(u, n)
#else
      call ADPROFILEADJ_SNPWRITE('heavy'//CHAR(0), f, 29)
      call PUSHREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINADVANCE('heavy'//CHAR(0), f, 29)
      call heavy(u, n)
      call ADPROFILEADJ_ENDADVANCE('heavy'//CHAR(0), f, 29)
#endif
#ifdef NOCHECKPOINT_relax
      call relax_fwd(u, n)
#else
      call ADPROFILEADJ_SNPWRITE('relax'//CHAR(0), f, 30)
      call PUSHREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINADVANCE('relax'//CHAR(0), f, 30)
      call relax(u, n)
      call ADPROFILEADJ_ENDADVANCE('relax'//CHAR(0), f, 30)
#endif
    end do
    cost = 0.5_dp * global_sum(sum(u * u))
    call ADPROFILEADJ_TURN('forward'//CHAR(0), f)
    ! ---- backward sweep
    ub = u
    do t = nt, 1, -1
#ifdef NOCHECKPOINT_relax
      call relax_bwd(u, ub, n)
#else
      call ADPROFILEADJ_SNPREAD('relax'//CHAR(0), f, 30)
      call POPREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINREVERSE('relax'//CHAR(0), f, 30)
      call relax_b(u, ub, n)
      call ADPROFILEADJ_ENDREVERSE('relax'//CHAR(0), f, 30)
#endif
#ifdef NOCHECKPOINT_heavy
      call heavy_bwd(u, ub, n)
#else
      call ADPROFILEADJ_SNPREAD('heavy'//CHAR(0), f, 29)
      call POPREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINREVERSE('heavy'//CHAR(0), f, 29)
      call heavy_b(u, ub, n)
      call ADPROFILEADJ_ENDREVERSE('heavy'//CHAR(0), f, 29)
#endif
#ifdef NOCHECKPOINT_react
      call react_bwd(u, ub, n)
#else
      call ADPROFILEADJ_SNPREAD('react'//CHAR(0), f, 28)
      call POPREAL8ARRAY(u, n)
      call ADPROFILEADJ_BEGINREVERSE('react'//CHAR(0), f, 28)
      call react_b(u, ub, n)
      call ADPROFILEADJ_ENDREVERSE('react'//CHAR(0), f, 28)
#endif
    end do
  end subroutine forward_b

end module tp_model_b
