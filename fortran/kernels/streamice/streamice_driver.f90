!> \brief streamice as a pyharness kernel (ph_kernel_t): set-up, default
!! control, primal, adjoint and the time-stepping hooks. The control is the log
!! basal friction alpha on this rank's owned cells (beta = beta0 exp(alpha)),
!! nx * nyl values. Set-up parameters (ipar): nx, ny, nt, npicard, ncg.
module streamice_driver
  use ph_kinds, only: real64
  use ph_kernel, only: ph_alloc_failed, ph_kernel_t
  use ph_profile, only: ph_registry_clear, ph_set_all_active
  use streamice_grid, only: kernel_comm => comm, grid_setup, grid_teardown, nx, nyl, j0, ny
  use streamice_main, only: streamice_run_primal, streamice_run_adjoint, ts_begin, ts_state_size, &
                            ts_state, ts_set_state, ts_advance, ts_end_forward, ts_reverse, ts_gradient
  implicit none
  private
  public :: streamice_t

  type, extends(ph_kernel_t) :: streamice_t
  contains
    procedure :: setup, nctrl, control_default, primal, adjoint, teardown
    procedure :: ts_state_size => state_size, ts_begin => begin, ts_state => state, &
                 ts_set_state => set_state, ts_advance => advance, ts_end_forward => end_forward, &
                 ts_reverse => reverse, ts_gradient => gradient
  end type streamice_t

contains

  !> \brief Decompose the nx x ny grid over the ranks of comm; register the sites (all active).
  subroutine setup(self, comm, ni, ipar, nr, rpar, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: comm, ni, nr
    integer, intent(in) :: ipar(ni)
    real(real64), intent(in) :: rpar(nr)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    if (ni /= 5) then
      ierr = 1; errmsg = 'streamice: setup takes 5 integers (nx, ny, nt, npicard, ncg)'
      return
    end if
    call ph_registry_clear()
    call grid_setup(comm, ipar(1), ipar(2), ipar(3), ipar(4), ipar(5), ierr, errmsg)
    call ph_set_all_active(.true.)
  end subroutine setup

  integer function nctrl(self)
    class(streamice_t), intent(in) :: self
    nctrl = nx * nyl
  end function nctrl

  !> \brief A smooth default control from global coordinates.
  subroutine control_default(self, n, ctrl, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: ctrl(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer :: i, j
    real(real64) :: x, y, pi
    ierr = 0; errmsg = ''
    if (bad_size(n, ierr, errmsg)) return
    pi = acos(-1.0_real64)
    do j = 1, nyl
      do i = 1, nx
        x = (i - 0.5_real64) / nx
        y = (j0 + j - 0.5_real64) / ny
        ctrl(i + (j - 1) * nx) = 0.5_real64 * cos(2 * pi * x) * sin(pi * y)
      end do
    end do
  end subroutine control_default

  logical function bad_size(n, ierr, errmsg)
    integer, intent(in) :: n
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    bad_size = n /= nx * nyl .or. n == 0
    if (bad_size) then
      ierr = 1; errmsg = 'streamice: control size does not match the set-up (call setup first)'
    end if
  end function bad_size

  !> \brief Whether an allocation of the nx x nyl field (stat astat) failed; if so the
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
    write (errmsg, '(3a,i0,a,i0,3a)') 'streamice: cannot allocate the ', what, ' of ', nx + 2, ' x ', &
      nyl + 2, ' cells on ', trim(where), ': use a smaller --param nx or ny, or more ranks'
  end function cannot_allocate

  subroutine to_field(n, ctrl, alpha)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: alpha(0:nx + 1, 0:nyl + 1)
    alpha = 0
    alpha(1:nx, 1:nyl) = reshape(ctrl, [nx, nyl])
  end subroutine to_field

  subroutine primal(self, n, ctrl, cost, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: alpha(:,:)
    integer :: astat
    cost = 0
    if (bad_size(n, ierr, errmsg)) return
    allocate(alpha(0:nx + 1, 0:nyl + 1), stat=astat)
    if (cannot_allocate(astat, 'control field', ierr, errmsg)) return
    call to_field(n, ctrl, alpha)
    call streamice_run_primal(alpha, cost)
  end subroutine primal

  subroutine adjoint(self, n, ctrl, grad, cost, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: grad(n), cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: alpha(:,:), alphab(:,:)
    integer :: astat
    cost = 0; grad = 0
    if (bad_size(n, ierr, errmsg)) return
    allocate(alpha(0:nx + 1, 0:nyl + 1), alphab(0:nx + 1, 0:nyl + 1), stat=astat)
    if (cannot_allocate(astat, 'control field and its adjoint', ierr, errmsg)) return
    call to_field(n, ctrl, alpha)
    call streamice_run_adjoint(alpha, alphab, cost)
    grad = reshape(alphab(1:nx, 1:nyl), [n])
  end subroutine adjoint

  ! ---- time stepping for binomial checkpointing (pyharness.binomial)
  subroutine begin(self, n, x, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: alpha(:,:)
    integer :: astat
    if (bad_size(n, ierr, errmsg)) return
    allocate(alpha(0:nx + 1, 0:nyl + 1), stat=astat)
    if (cannot_allocate(astat, 'control field', ierr, errmsg)) return
    call to_field(n, x, alpha)
    call ts_begin(alpha, astat)
    if (cannot_allocate(astat, 'time-stepping state', ierr, errmsg)) return
  end subroutine begin

  integer function state_size(self)
    class(streamice_t), intent(in) :: self
    state_size = ts_state_size()
  end function state_size

  subroutine state(self, n, x, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_state(n, x)
  end subroutine state

  subroutine set_state(self, n, x, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_set_state(n, x)
  end subroutine set_state

  subroutine advance(self, nadv, taped, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: nadv
    logical, intent(in) :: taped
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_advance(nadv, taped)
  end subroutine advance

  subroutine end_forward(self, cost, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_end_forward(cost)
  end subroutine end_forward

  subroutine reverse(self, nrev, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: nrev
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call ts_reverse(nrev)
  end subroutine reverse

  subroutine gradient(self, n, x, ierr, errmsg)
    class(streamice_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: alphab(:,:)
    integer :: astat
    if (bad_size(n, ierr, errmsg)) return
    allocate(alphab(0:nx + 1, 0:nyl + 1), stat=astat)
    if (cannot_allocate(astat, 'adjoint of the control field', ierr, errmsg)) return
    call ts_gradient(alphab)
    x = reshape(alphab(1:nx, 1:nyl), [n])
  end subroutine gradient

  subroutine teardown(self)
    class(streamice_t), intent(inout) :: self
    call grid_teardown()
  end subroutine teardown

end module streamice_driver
