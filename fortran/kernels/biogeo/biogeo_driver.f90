!> \brief biogeo: the entry points the API module wraps (set-up, default
!! control, primal, adjoint, time stepping). The control is the initial state
!! of the five tracers on this rank's owned cells, nx * nyl * nz * 5 values
!! (tracer slowest, then level, row, column).
module biogeo_driver
  use ph_kinds, only: real64
  use biogeo_grid, only: grid_setup, grid_teardown, tracer_default, nx, nyl, nz, ntr
  use biogeo_main, only: biogeo_run_primal, biogeo_run_adjoint, ts_begin, ts_state_size, &
                         ts_state, ts_set_state, ts_advance, ts_end_forward, ts_reverse, ts_gradient
  implicit none
  private
  public :: biogeo_setup, biogeo_nctrl, biogeo_control_default, biogeo_primal, biogeo_adjoint, &
            biogeo_teardown
  public :: biogeo_ts_begin, biogeo_ts_state_size, biogeo_ts_state, biogeo_ts_set_state, &
            biogeo_ts_advance, biogeo_ts_end_forward, biogeo_ts_reverse, biogeo_ts_gradient

contains

  !> \brief Decompose the nx x ny x nz grid over the ranks of comm (rows); register the sites.
  subroutine biogeo_setup(comm, nx_, ny_, nz_, nt_, nnewton_, ierr, errmsg)
    integer, intent(in) :: comm, nx_, ny_, nz_, nt_, nnewton_
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call grid_setup(comm, nx_, ny_, nz_, nt_, nnewton_, ierr, errmsg)
  end subroutine biogeo_setup

  integer function biogeo_nctrl()
    biogeo_nctrl = nx * nyl * nz * ntr
  end function biogeo_nctrl

  subroutine to_field(n, ctrl, tr)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr)
    tr = 0
    tr(1:nx, 1:nyl, :, :) = reshape(ctrl, [nx, nyl, nz, ntr])
  end subroutine to_field

  subroutine from_field(tr, n, ctrl)
    real(real64), intent(in) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr)
    integer, intent(in) :: n
    real(real64), intent(out) :: ctrl(n)
    ctrl = reshape(tr(1:nx, 1:nyl, :, :), [n])
  end subroutine from_field

  logical function bad_size(n, ierr, errmsg)
    integer, intent(in) :: n
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    bad_size = n /= nx * nyl * nz * ntr .or. n == 0
    if (bad_size) then
      ierr = 1; errmsg = 'biogeo: control size does not match the set-up (call setup first)'
    end if
  end function bad_size

  !> \brief The default initial tracers (smooth profiles, the same for every decomposition).
  subroutine biogeo_control_default(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(out) :: ctrl(n)
    real(real64), allocatable :: tr(:,:,:,:)
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr))
    call tracer_default(tr)
    call from_field(tr, n, ctrl)
  end subroutine biogeo_control_default

  subroutine biogeo_primal(n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: tr(:,:,:,:)
    cost = 0
    if (bad_size(n, ierr, errmsg)) return
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr))
    call to_field(n, ctrl, tr)
    call biogeo_run_primal(tr, cost)
  end subroutine biogeo_primal

  subroutine biogeo_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: grad(n), cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: tr(:,:,:,:), trb(:,:,:,:)
    cost = 0; grad = 0
    if (bad_size(n, ierr, errmsg)) return
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr), trb(0:nx + 1, 0:nyl + 1, nz, ntr))
    call to_field(n, ctrl, tr)
    call biogeo_run_adjoint(tr, trb, cost)
    call from_field(trb, n, grad)
  end subroutine biogeo_adjoint

  ! ---- time stepping for binomial checkpointing (pyharness.binomial)
  subroutine biogeo_ts_begin(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), allocatable :: tr(:,:,:,:)
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr))
    call to_field(n, ctrl, tr)
    call ts_begin(tr)
  end subroutine biogeo_ts_begin

  integer function biogeo_ts_state_size()
    biogeo_ts_state_size = ts_state_size()
  end function biogeo_ts_state_size

  subroutine biogeo_ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    call ts_state(n, x)
  end subroutine biogeo_ts_state

  subroutine biogeo_ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    call ts_set_state(n, x)
  end subroutine biogeo_ts_set_state

  subroutine biogeo_ts_advance(nadv, taped)
    integer, intent(in) :: nadv, taped
    call ts_advance(nadv, taped /= 0)
  end subroutine biogeo_ts_advance

  subroutine biogeo_ts_end_forward(cost)
    real(real64), intent(out) :: cost
    call ts_end_forward(cost)
  end subroutine biogeo_ts_end_forward

  subroutine biogeo_ts_reverse(nrev)
    integer, intent(in) :: nrev
    call ts_reverse(nrev)
  end subroutine biogeo_ts_reverse

  subroutine biogeo_ts_gradient(n, grad)
    integer, intent(in) :: n
    real(real64), intent(out) :: grad(n)
    real(real64), allocatable :: trb(:,:,:,:)
    allocate(trb(0:nx + 1, 0:nyl + 1, nz, ntr))
    call ts_gradient(trb)
    call from_field(trb, n, grad)
  end subroutine biogeo_ts_gradient

  subroutine biogeo_teardown()
    call grid_teardown()
  end subroutine biogeo_teardown

end module biogeo_driver
