!> \brief streamice: the entry points the API module wraps (set-up, default
!! control, primal, adjoint). The control is the log basal friction alpha on
!! this rank's owned cells (beta = beta0 exp(alpha)), nx * nyl values.
module streamice_driver
  use ph_kinds, only: real64
  use streamice_grid, only: grid_setup, grid_teardown, nx, nyl, j0, ny
  use streamice_main, only: streamice_run_primal, streamice_run_adjoint, ts_begin, ts_state_size, &
                            ts_state, ts_set_state, ts_advance, ts_end_forward, ts_reverse, ts_gradient
  implicit none
  private
  public :: streamice_setup, streamice_nctrl, streamice_control_default, streamice_primal, &
            streamice_adjoint, streamice_teardown
  public :: streamice_ts_begin, streamice_ts_state_size, streamice_ts_state, streamice_ts_set_state, &
            streamice_ts_advance, streamice_ts_end_forward, streamice_ts_reverse, streamice_ts_gradient

contains

  !> \brief Decompose the nx x ny grid over the ranks of comm; register the sites.
  subroutine streamice_setup(comm, nx_, ny_, nt_, npicard_, ncg_, ierr, errmsg)
    integer, intent(in) :: comm, nx_, ny_, nt_, npicard_, ncg_
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call grid_setup(comm, nx_, ny_, nt_, npicard_, ncg_, ierr, errmsg)
  end subroutine streamice_setup

  integer function streamice_nctrl()
    streamice_nctrl = nx * nyl
  end function streamice_nctrl

  !> \brief A smooth default control from global coordinates.
  subroutine streamice_control_default(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(out) :: ctrl(n)
    integer :: i, j
    real(real64) :: x, y, pi
    pi = acos(-1.0_real64)
    do j = 1, nyl
      do i = 1, nx
        x = (i - 0.5_real64) / nx
        y = (j0 + j - 0.5_real64) / ny
        ctrl(i + (j - 1) * nx) = 0.5_real64 * cos(2 * pi * x) * sin(pi * y)
      end do
    end do
  end subroutine streamice_control_default

  subroutine to_field(n, ctrl, alpha)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: alpha(0:nx + 1, 0:nyl + 1)
    alpha = 0
    alpha(1:nx, 1:nyl) = reshape(ctrl, [nx, nyl])
  end subroutine to_field

  subroutine streamice_primal(n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: alpha(:,:)
    ierr = 0; errmsg = ''; cost = 0
    if (n /= nx * nyl .or. n == 0) then
      ierr = 1; errmsg = 'streamice: control size does not match the set-up (call setup first)'
      return
    end if
    allocate(alpha(0:nx + 1, 0:nyl + 1))
    call to_field(n, ctrl, alpha)
    call streamice_run_primal(alpha, cost)
  end subroutine streamice_primal

  subroutine streamice_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: grad(n), cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: alpha(:,:), alphab(:,:)
    ierr = 0; errmsg = ''; cost = 0; grad = 0
    if (n /= nx * nyl .or. n == 0) then
      ierr = 1; errmsg = 'streamice: control size does not match the set-up (call setup first)'
      return
    end if
    allocate(alpha(0:nx + 1, 0:nyl + 1), alphab(0:nx + 1, 0:nyl + 1))
    call to_field(n, ctrl, alpha)
    call streamice_run_adjoint(alpha, alphab, cost)
    grad = reshape(alphab(1:nx, 1:nyl), [n])
  end subroutine streamice_adjoint

  ! ---- time stepping for binomial checkpointing (pyharness.binomial)
  subroutine streamice_ts_begin(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), allocatable :: alpha(:,:)
    allocate(alpha(0:nx + 1, 0:nyl + 1))
    call to_field(n, ctrl, alpha)
    call ts_begin(alpha)
  end subroutine streamice_ts_begin

  integer function streamice_ts_state_size()
    streamice_ts_state_size = ts_state_size()
  end function streamice_ts_state_size

  subroutine streamice_ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    call ts_state(n, x)
  end subroutine streamice_ts_state

  subroutine streamice_ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    call ts_set_state(n, x)
  end subroutine streamice_ts_set_state

  subroutine streamice_ts_advance(nadv, taped)
    integer, intent(in) :: nadv, taped
    call ts_advance(nadv, taped /= 0)
  end subroutine streamice_ts_advance

  subroutine streamice_ts_end_forward(cost)
    real(real64), intent(out) :: cost
    call ts_end_forward(cost)
  end subroutine streamice_ts_end_forward

  subroutine streamice_ts_reverse(nrev)
    integer, intent(in) :: nrev
    call ts_reverse(nrev)
  end subroutine streamice_ts_reverse

  subroutine streamice_ts_gradient(n, grad)
    integer, intent(in) :: n
    real(real64), intent(out) :: grad(n)
    real(real64), allocatable :: alphab(:,:)
    allocate(alphab(0:nx + 1, 0:nyl + 1))
    call ts_gradient(alphab)
    grad = reshape(alphab(1:nx, 1:nyl), [n])
  end subroutine streamice_ts_gradient

  subroutine streamice_teardown()
    call grid_teardown()
  end subroutine streamice_teardown

end module streamice_driver
