!> \brief The one interface every adjoint kernel implements. A kernel is a type
!! that extends ph_kernel_t and binds its own setup, primal, adjoint and (if it
!! can run its time loop step by step, for binomial checkpointing) the ts_*
!! hooks; ph_kernel_registry registers it under an id, and ph_api exposes each
!! entry point once, with that id.
!!
!! Conventions shared by every hook:
!!   - ierr = 0 on success, errmsg says what went wrong otherwise; nothing stops;
!!   - arrays are caller-allocated, their sizes passed first (n);
!!   - kernel state lives in the kernel's own modules (one kernel set up per
!!     process), so the type itself carries no data.
!!
!! The time-stepping hooks default to an error ("no time stepping"): a kernel
!! without a time loop implements only setup, nctrl, primal, adjoint, teardown.
module ph_kernel
  use ph_kinds, only: real64
  implicit none
  private
  public :: ph_kernel_t, ph_err_unsupported, ph_alloc_failed

  !> Status of a hook the kernel does not implement.
  integer, parameter :: ph_err_unsupported = 90

  type, abstract :: ph_kernel_t
  contains
    procedure(setup_i), deferred :: setup
    procedure(nctrl_i), deferred :: nctrl
    procedure(run_i), deferred :: primal
    procedure(adjoint_i), deferred :: adjoint
    procedure(teardown_i), deferred :: teardown
    procedure :: control_default => no_control_default
    procedure :: ts_state_size => no_ts_state_size
    procedure :: ts_begin => no_ts_vec_in
    procedure :: ts_state => no_ts_vec_out
    procedure :: ts_set_state => no_ts_vec_in
    procedure :: ts_advance => no_ts_advance
    procedure :: ts_end_forward => no_ts_end_forward
    procedure :: ts_reverse => no_ts_reverse
    procedure :: ts_gradient => no_ts_vec_out
  end type ph_kernel_t

  abstract interface
    !> Set up on communicator comm from ni integer and nr real parameters
    !! (their meaning is the kernel's own; the Python class packs them).
    subroutine setup_i(self, comm, ni, ipar, nr, rpar, ierr, errmsg)
      import :: ph_kernel_t, real64
      class(ph_kernel_t), intent(inout) :: self
      integer, intent(in) :: comm, ni, nr
      integer, intent(in) :: ipar(ni)
      real(real64), intent(in) :: rpar(nr)
      integer, intent(out) :: ierr
      character(len=*), intent(out) :: errmsg
    end subroutine setup_i

    !> Number of control values owned by this rank.
    integer function nctrl_i(self)
      import :: ph_kernel_t
      class(ph_kernel_t), intent(in) :: self
    end function nctrl_i

    !> Primal run: the (replicated) cost of control ctrl.
    subroutine run_i(self, n, ctrl, cost, ierr, errmsg)
      import :: ph_kernel_t, real64
      class(ph_kernel_t), intent(inout) :: self
      integer, intent(in) :: n
      real(real64), intent(in) :: ctrl(n)
      real(real64), intent(out) :: cost
      integer, intent(out) :: ierr
      character(len=*), intent(out) :: errmsg
    end subroutine run_i

    !> Adjoint run: the cost and its gradient on this rank's controls.
    subroutine adjoint_i(self, n, ctrl, grad, cost, ierr, errmsg)
      import :: ph_kernel_t, real64
      class(ph_kernel_t), intent(inout) :: self
      integer, intent(in) :: n
      real(real64), intent(in) :: ctrl(n)
      real(real64), intent(out) :: grad(n), cost
      integer, intent(out) :: ierr
      character(len=*), intent(out) :: errmsg
    end subroutine adjoint_i

    !> Free the kernel's fields (safe to call twice).
    subroutine teardown_i(self)
      import :: ph_kernel_t
      class(ph_kernel_t), intent(inout) :: self
    end subroutine teardown_i
  end interface

contains

  !> \brief Whether an allocation (stat astat) failed on any rank of comm, agreed by every
  !! rank: each calls this at the same point, so a rank that could not allocate never
  !! returns while the others go on to wait for it in the run. where: 'this rank', or
  !! the rank that failed ('rank 3', the highest such) for a rank that did not.
  logical function ph_alloc_failed(astat, comm, where)
    use mpi, only: MPI_Allreduce, MPI_Comm_rank, MPI_INTEGER, MPI_MAX
    integer, intent(in) :: astat, comm
    character(len=*), intent(out) :: where
    integer :: rank, mine, worst, e
    call MPI_Comm_rank(comm, rank, e)
    mine = merge(rank + 1, 0, astat /= 0)
    call MPI_Allreduce(mine, worst, 1, MPI_INTEGER, MPI_MAX, comm, e)
    ph_alloc_failed = worst /= 0
    where = 'this rank'
    if (mine == 0 .and. worst /= 0) write (where, '(a,i0)') 'rank ', worst - 1
  end function ph_alloc_failed

  subroutine unsupported(what, ierr, errmsg)
    character(len=*), intent(in) :: what
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = ph_err_unsupported
    errmsg = 'this kernel does not implement ' // what
  end subroutine unsupported

  subroutine no_control_default(self, n, ctrl, ierr, errmsg)
    class(ph_kernel_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: ctrl(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ctrl = 0
    call unsupported('a default control', ierr, errmsg)
  end subroutine no_control_default

  integer function no_ts_state_size(self)
    class(ph_kernel_t), intent(in) :: self
    no_ts_state_size = -1
  end function no_ts_state_size

  subroutine no_ts_vec_in(self, n, x, ierr, errmsg)
    class(ph_kernel_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call unsupported('time stepping', ierr, errmsg)
  end subroutine no_ts_vec_in

  subroutine no_ts_vec_out(self, n, x, ierr, errmsg)
    class(ph_kernel_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    x = 0
    call unsupported('time stepping', ierr, errmsg)
  end subroutine no_ts_vec_out

  subroutine no_ts_advance(self, nadv, taped, ierr, errmsg)
    class(ph_kernel_t), intent(inout) :: self
    integer, intent(in) :: nadv
    logical, intent(in) :: taped
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call unsupported('time stepping', ierr, errmsg)
  end subroutine no_ts_advance

  subroutine no_ts_end_forward(self, cost, ierr, errmsg)
    class(ph_kernel_t), intent(inout) :: self
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    cost = 0
    call unsupported('time stepping', ierr, errmsg)
  end subroutine no_ts_end_forward

  subroutine no_ts_reverse(self, nrev, ierr, errmsg)
    class(ph_kernel_t), intent(inout) :: self
    integer, intent(in) :: nrev
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call unsupported('time stepping', ierr, errmsg)
  end subroutine no_ts_reverse

end module ph_kernel
