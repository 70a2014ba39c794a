!> \brief biogeo as a pyharness kernel (ph_kernel_t): set-up, default control,
!! primal, adjoint and the time-stepping hooks. The control is the initial state
!! of the five tracers on this rank's owned cells, nx * nyl * nz * 5 values
!! (tracer slowest, then level, row, column). Set-up parameters (ipar): nx, ny,
!! nz, nt, nnewton.
module biogeo_driver
  use ph_kinds, only: real64
  use ph_kernel, only: ph_alloc_failed, ph_kernel_t
  use ph_profile, only: ph_registry_clear, ph_set_all_active
  use biogeo_grid, only: kernel_comm => comm, grid_setup, grid_teardown, tracer_default, nx, nyl, nz, ntr
  use biogeo_main, only: biogeo_run_primal, biogeo_run_adjoint, ts_begin, ts_state_size, &
                         ts_state, ts_set_state, ts_advance, ts_end_forward, ts_reverse, ts_gradient
  implicit none
  private
  public :: biogeo_t

  type, extends(ph_kernel_t) :: biogeo_t
  contains
    procedure :: setup, nctrl, control_default, primal, adjoint, teardown
    procedure :: ts_state_size => state_size, ts_begin => begin, ts_state => state, &
                 ts_set_state => set_state, ts_advance => advance, ts_end_forward => end_forward, &
                 ts_reverse => reverse, ts_gradient => gradient
  end type biogeo_t

contains

  !> \brief Decompose the nx x ny x nz grid over the ranks of comm (rows); register the sites.
  subroutine setup(self, comm, ni, ipar, nr, rpar, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: comm, ni, nr
    integer, intent(in) :: ipar(ni)
    real(real64), intent(in) :: rpar(nr)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    if (ni /= 5) then
      ierr = 1; errmsg = 'biogeo: setup takes 5 integers (nx, ny, nz, nt, nnewton)'
      return
    end if
    call ph_registry_clear()
    call grid_setup(comm, ipar(1), ipar(2), ipar(3), ipar(4), ipar(5), ierr, errmsg)
    call ph_set_all_active(.true.)
  end subroutine setup

  integer function nctrl(self)
    class(biogeo_t), intent(in) :: self
    nctrl = nx * nyl * nz * ntr
  end function nctrl

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

  !> \brief Whether an allocation of nx x nyl x nz fields (stat astat) failed; if so the
  !! status and what to do, as grid_setup says it (without stat= the Fortran runtime
  !! stopped the process, "Error allocating").
  logical function cannot_allocate(astat, what, ierr, errmsg)
    integer, intent(in) :: astat
    character(len=*), intent(in) :: what
    integer, intent(inout) :: ierr
    character(len=*), intent(inout) :: errmsg
    character(len=16) :: where
    cannot_allocate = ph_alloc_failed(astat, kernel_comm, where)     ! agreed by every rank
    if (.not. cannot_allocate) return
    ierr = 4
    write (errmsg, '(3a,i0,a,i0,a,i0,3a)') 'biogeo: cannot allocate the ', what, ' of ', nx + 2, ' x ', &
      nyl + 2, ' x ', nz, ' cells on ', trim(where), ': use a smaller --param nx, ny or nz, or more ranks'
  end function cannot_allocate

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
  subroutine control_default(self, n, ctrl, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: ctrl(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: tr(:,:,:,:)
    integer :: astat
    if (bad_size(n, ierr, errmsg)) return
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr), stat=astat)
    if (cannot_allocate(astat, 'tracers', ierr, errmsg)) return
    call tracer_default(tr)
    call from_field(tr, n, ctrl)
  end subroutine control_default

  subroutine primal(self, n, ctrl, cost, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: tr(:,:,:,:)
    integer :: astat
    cost = 0
    if (bad_size(n, ierr, errmsg)) return
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr), stat=astat)
    if (cannot_allocate(astat, 'tracers', ierr, errmsg)) return
    call to_field(n, ctrl, tr)
    call biogeo_run_primal(tr, cost, astat)
    if (cannot_allocate(astat, 'state of the primal run', ierr, errmsg)) return
  end subroutine primal

  subroutine adjoint(self, n, ctrl, grad, cost, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: grad(n), cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: tr(:,:,:,:), trb(:,:,:,:)
    integer :: astat
    cost = 0; grad = 0
    if (bad_size(n, ierr, errmsg)) return
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr), trb(0:nx + 1, 0:nyl + 1, nz, ntr), stat=astat)
    if (cannot_allocate(astat, 'tracers and their adjoints', ierr, errmsg)) return
    call to_field(n, ctrl, tr)
    call biogeo_run_adjoint(tr, trb, cost, astat)
    if (cannot_allocate(astat, 'state of the adjoint run', ierr, errmsg)) return
    call from_field(trb, n, grad)
  end subroutine adjoint

  ! ---- time stepping for binomial checkpointing (pyharness.binomial)
  subroutine begin(self, n, x, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: tr(:,:,:,:)
    integer :: astat
    if (bad_size(n, ierr, errmsg)) return
    allocate(tr(0:nx + 1, 0:nyl + 1, nz, ntr), stat=astat)
    if (cannot_allocate(astat, 'tracers', ierr, errmsg)) return
    call to_field(n, x, tr)
    call ts_begin(tr, astat)
    if (cannot_allocate(astat, 'time-stepping state', ierr, errmsg)) return
  end subroutine begin

  integer function state_size(self)
    class(biogeo_t), intent(in) :: self
    state_size = ts_state_size()
  end function state_size

  subroutine state(self, n, x, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_state(n, x)
  end subroutine state

  subroutine set_state(self, n, x, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_set_state(n, x)
  end subroutine set_state

  subroutine advance(self, nadv, taped, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: nadv
    logical, intent(in) :: taped
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_advance(nadv, taped)
  end subroutine advance

  subroutine end_forward(self, cost, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_end_forward(cost)
  end subroutine end_forward

  subroutine reverse(self, nrev, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: nrev
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_reverse(nrev)
  end subroutine reverse

  subroutine gradient(self, n, x, ierr, errmsg)
    class(biogeo_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: trb(:,:,:,:)
    integer :: astat
    if (bad_size(n, ierr, errmsg)) return
    allocate(trb(0:nx + 1, 0:nyl + 1, nz, ntr), stat=astat)
    if (cannot_allocate(astat, 'tracers'' adjoints', ierr, errmsg)) return
    call ts_gradient(trb)
    call from_field(trb, n, x)
  end subroutine gradient

  subroutine teardown(self)
    class(biogeo_t), intent(inout) :: self
    call grid_teardown()
  end subroutine teardown

end module biogeo_driver
