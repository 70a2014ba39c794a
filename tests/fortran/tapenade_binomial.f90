! A time loop reversed by binomial checkpointing in the shape of Tapenade's
! $AD BINOMIAL-CKP adjoints: Tapenade's own adBinomial.c (ADBINOMIAL_INIT /
! ADBINOMIAL_NEXT, linked alongside, not part of pyharness) chooses the actions;
! the snapshots and the tape of each step go on the AD stack through Tapenade's
! entry points only (PUSHREAL8ARRAY, POPREAL8ARRAY, PUSHCONTROL1B, ...).
! Step k: x <- x + dt*(p*sin(x) - x**3), with a branch taped as a control bit.
! J = sum(x_final**2). The gradient dJ/dp comes out twice: by the binomial
! schedule and by taping every step; both are printed with a finite difference.
! Prints "GRAD_BINOMIAL g", "GRAD_TAPE g", "FD g", "ACTIONS n", "SNAPS max",
! "PEAK_BINOMIAL bytes", "PEAK_TAPE bytes", "LEFT bytes".
program tapenade_binomial
  use, intrinsic :: iso_c_binding, only: c_int64_t
  implicit none
  interface
    function stack_size() bind(C, name='adStack_getCurrentStackSize') result(n)
      import :: c_int64_t
      integer(c_int64_t) :: n
    end function
  end interface
  integer, parameter :: n = 16, nsteps = 40, nsnaps = 4
  integer, parameter :: PUSHSNAP = 1, LOOKSNAP = 2, POPSNAP = 3, ADVANCE = 4, FIRSTTURN = 5, TURN = 6
  logical :: ADBINOMIAL_NEXT
  real(8), parameter :: dt = 0.05d0
  real(8) :: x0(n), x(n), xb(n), p, pb, pb_tape, jp, jm, h
  integer :: action, step, k, nactions, nsnap, maxsnap
  integer(c_int64_t) :: peak, peak_tape

  do k = 1, n
    x0(k) = 0.1d0*k
  end do
  p = 1.3d0

  ! ---- binomial checkpointing, actions chosen by Tapenade's adBinomial.c
  x = x0
  pb = 0
  nactions = 0; nsnap = 0; maxsnap = 0; peak = 0
  call ADBINOMIAL_INIT(nsteps, nsnaps, 1)
  do while (ADBINOMIAL_NEXT(action, step))
    nactions = nactions + 1
    select case (action)
    case (PUSHSNAP)                        ! the state after step `step`
      call PUSHREAL8ARRAY(x, n)
      nsnap = nsnap + 1; maxsnap = max(maxsnap, nsnap)
    case (LOOKSNAP)                        ! read the snapshot, keep it
      call POPREAL8ARRAY(x, n)
      call PUSHREAL8ARRAY(x, n)
    case (POPSNAP)
      call POPREAL8ARRAY(x, n)
      nsnap = nsnap - 1
    case (ADVANCE)                         ! step `step`, untaped
      call step_fwd(x, p)
    case (FIRSTTURN, TURN)                 ! step `step`, taped, then its adjoint
      if (action == FIRSTTURN) xb = 2*x_after(x, p)
      call step_fwd_taped(x, p)
      peak = max(peak, stack_size())
      call step_b(x, xb, p, pb)
    end select
    peak = max(peak, stack_size())
  end do
  write (*, '(a,1x,es24.16)') 'GRAD_BINOMIAL', pb
  write (*, '(a,1x,i0)') 'ACTIONS', nactions
  write (*, '(a,1x,i0)') 'SNAPS', maxsnap
  write (*, '(a,1x,i0)') 'PEAK_BINOMIAL', peak

  ! ---- the same gradient, every step taped
  x = x0
  peak_tape = 0
  do step = 1, nsteps
    call step_fwd_taped(x, p)
    peak_tape = max(peak_tape, stack_size())
  end do
  xb = 2*x
  pb_tape = 0
  do step = nsteps, 1, -1
    call step_b(x, xb, p, pb_tape)
  end do
  write (*, '(a,1x,es24.16)') 'GRAD_TAPE', pb_tape
  write (*, '(a,1x,i0)') 'PEAK_TAPE', peak_tape

  ! ---- finite difference of the primal
  h = 1d-6
  jp = cost(p + h); jm = cost(p - h)
  write (*, '(a,1x,es24.16)') 'FD', (jp - jm)/(2*h)
  write (*, '(a,1x,i0)') 'LEFT', stack_size()

contains

  subroutine step_fwd(x, p)
    real(8), intent(inout) :: x(n)
    real(8), intent(in) :: p
    integer :: i
    do i = 1, n
      if (x(i) > 0.5d0) then
        x(i) = x(i) + dt*(p*sin(x(i)) - x(i)**3)
      else
        x(i) = x(i) + dt*p*sin(x(i))
      end if
    end do
  end subroutine

  ! Tapenade's forward sweep of one step: the inputs it needs and the branches taken
  subroutine step_fwd_taped(x, p)
    real(8), intent(inout) :: x(n)
    real(8), intent(in) :: p
    integer :: i
    do i = 1, n
      call PUSHREAL8(x(i))
      if (x(i) > 0.5d0) then
        x(i) = x(i) + dt*(p*sin(x(i)) - x(i)**3)
        call PUSHCONTROL1B(1)
      else
        x(i) = x(i) + dt*p*sin(x(i))
        call PUSHCONTROL1B(0)
      end if
    end do
  end subroutine

  ! its backward sweep: restores x to the step's input, accumulates xb and pb
  subroutine step_b(x, xb, p, pb)
    real(8), intent(inout) :: x(n), xb(n), pb
    real(8), intent(in) :: p
    integer :: i, branch
    do i = n, 1, -1
      call POPCONTROL1B(branch)
      call POPREAL8(x(i))
      if (branch == 1) then
        pb = pb + dt*sin(x(i))*xb(i)
        xb(i) = xb(i)*(1 + dt*(p*cos(x(i)) - 3*x(i)**2))
      else
        pb = pb + dt*sin(x(i))*xb(i)
        xb(i) = xb(i)*(1 + dt*p*cos(x(i)))
      end if
    end do
  end subroutine

  function x_after(x, p) result(y)
    real(8), intent(in) :: x(n), p
    real(8) :: y(n)
    y = x
    call step_fwd(y, p)
  end function

  function cost(q) result(j)
    real(8), intent(in) :: q
    real(8) :: j, y(n)
    integer :: s
    y = x0
    do s = 1, nsteps
      call step_fwd(y, q)
    end do
    j = sum(y**2)
  end function
end program tapenade_binomial
