!> \brief calltree: a synthetic adjoint kernel whose call tree comes from a
!! description (pyharness.kernels.calltree): for every node its children in
!! order with loop counts, its work (sweeps of a nonlinear map over the state),
!! extra tape and snapshot sizes, and whether it talks to its MPI neighbours.
!!
!! Every node i does, on the state x(1:m) of each rank:
!!   - `work(i)` sweeps  x <- x + a_i sin(S x)  with (S x)_j = x_{j+1 mod m}
!!     (a shear map: it does not contract the state to a fixed point);
!!     a_i = amp (1 + mod(i, 3)), amp chosen by the caller from the number of
!!     dynamic sweeps so that derivatives stay of order one
!!   - if branch(i): every even sweep subtracts instead (x <- x - a_i sin(S x)), a
!!     branch Tapenade cannot decide statically, so the forward sweep pushes its
!!     outcome (PUSHCONTROL1B) and the backward sweep pops it (POPCONTROL1B); the
!!     outcome depends on the sweep's parity only, so finite differences never
!!     cross it
!!   - if comm(i): a ring exchange  x(1) <- x(1) + c x_left(m)   (c = 0.1)
!!   - then calls its children in order, each `loop` times (every call edge is a
!!     checkpoint site with a run-time switch).
!! The root is one time step; the time loop runs it nsteps times. The cost is
!! J = 1/2 sum over ranks of sum(x**2) of the final state. The adjoint is written in
!! Tapenade's shape: node_fwd pushes, node_bwd pops, and every call site has the
!! checkpoint branch (snapshot + untaped run, later snapshot read + taped re-run
!! + turn + backward sweep). Events are recorded by location id (the same
!! events Tapenade's callbacks record by name).
module calltree_kernel
  use mpi, only: MPI_Allreduce, MPI_COMM_NULL, MPI_Comm_rank, MPI_Comm_size, MPI_DOUBLE_PRECISION, &
                 MPI_Sendrecv, MPI_STATUS_IGNORE, MPI_SUM
  use ph_kinds, only: int8, int32, int64, real64
  use ph_kernel, only: ph_kernel_t
  use ph_profile, only: ph_site_active, ph_prof_record, ph_ev_snpwrite, ph_ev_beginadvance, &
                        ph_ev_endadvance, ph_ev_snpread, ph_ev_beginreverse, ph_ev_endreverse, &
                        ph_ev_turn
  implicit none
  private
  public :: calltree_t

  !> The kernel as pyharness sees it (ph_kernel_t). Set-up parameters (ipar):
  !! m, nnodes, nedges, nsteps, then the arrays child_start(nnodes+1),
  !! child_node(nedges), child_loop(nedges), site_id(nedges), turn_id(nnodes),
  !! work(nnodes), pad(nnodes), snap_pad(nnodes), flags(nnodes); rpar: amp.
  type, extends(ph_kernel_t) :: calltree_t
  contains
    procedure :: setup => t_setup, nctrl => t_nctrl, primal => t_primal, adjoint => t_adjoint, &
                 teardown => t_teardown
    procedure :: ts_state_size => t_state_size, ts_begin => t_begin, ts_state => t_state, &
                 ts_set_state => t_set_state, ts_advance => t_advance, &
                 ts_end_forward => t_end_forward, ts_reverse => t_reverse, ts_gradient => t_gradient
  end type calltree_t

  integer, save :: comm_ = MPI_COMM_NULL, rank_ = 0, nranks_ = 1, m_ = 0, nnodes_ = 0
  integer, save :: nsteps_ = 1
  real(real64), allocatable, save :: xs(:), xbs(:)   ! time-stepping state and its adjoint
  integer, allocatable, save :: child_start(:), child_node(:), child_loop(:), site_id(:)
  integer, allocatable, save :: work(:), pad(:), snap_pad(:), flags(:), turn_id(:)
  real(real64), allocatable, save :: padbuf(:)
  real(real64), parameter :: ccoup = 0.1_real64
  real(real64), save :: amp_ = 0.01_real64

contains

  !> \brief Set up the kernel from a flattened tree (nodes 1..nnodes, root 1).
  !! \param[in] comm MPI communicator (Fortran handle)
  !! \param[in] m state size per rank
  !! \param[in] child_start_ CSR offsets (nnodes+1) into the edge arrays, 1-based
  !! \param[in] child_node_ callee node of every call edge
  !! \param[in] child_loop_ times every call edge is executed per call of its parent
  !! \param[in] site_id_ registered location id (1-based) of every call edge
  !! \param[in] turn_id_ registered location id (1-based) of every node's routine
  !! \param[in] work_ sweeps of the nonlinear map per call
  !! \param[in] pad_ extra reals taped per call
  !! \param[in] snap_pad_ extra reals in the node's snapshot
  !! \param[in] flags_ per node: bit 0 set if it exchanges with its ring neighbours,
  !!            bit 1 set if its sweeps branch (see the module's description)
  !! \param[in] amp scale of the nonlinear map's coefficients
  subroutine calltree_setup(comm, m, nnodes, nedges, child_start_, child_node_, child_loop_, &
                            site_id_, turn_id_, work_, pad_, snap_pad_, flags_, amp, ierr, errmsg)
    integer, intent(in) :: comm, m, nnodes, nedges
    real(real64), intent(in) :: amp
    integer, intent(in) :: child_start_(nnodes + 1), child_node_(nedges), child_loop_(nedges)
    integer, intent(in) :: site_id_(nedges), turn_id_(nnodes)
    integer, intent(in) :: work_(nnodes), pad_(nnodes), snap_pad_(nnodes), flags_(nnodes)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer :: e, astat
    ierr = 0
    errmsg = ''
    call calltree_teardown()
    if (m < 1 .or. nnodes < 1) then
      ierr = 1; errmsg = 'calltree: the state size and the number of nodes must be >= 1'
      return
    end if
    if (child_start_(1) /= 1 .or. child_start_(nnodes + 1) /= nedges + 1) then
      ierr = 2; errmsg = 'calltree: child_start is not a CSR offset array of the edges'
      return
    end if
    do e = 1, nedges
      if (child_node_(e) <= 1 .or. child_node_(e) > nnodes .or. child_loop_(e) < 0) then
        ierr = 3; errmsg = 'calltree: an edge calls the root, a missing node, or loops < 0 times'
        return
      end if
    end do
    if (any(work_ < 0) .or. any(pad_ < 0) .or. any(snap_pad_ < 0)) then
      ierr = 4; errmsg = 'calltree: work, pad and snap_pad must be >= 0'
      return
    end if
    comm_ = comm
    call MPI_Comm_rank(comm, rank_, ierr)
    call MPI_Comm_size(comm, nranks_, ierr)
    ierr = 0
    m_ = m
    nnodes_ = nnodes
    child_start = child_start_
    child_node = child_node_
    child_loop = child_loop_
    site_id = site_id_
    turn_id = turn_id_
    work = work_
    pad = pad_
    snap_pad = snap_pad_
    flags = flags_
    amp_ = amp
    allocate(padbuf(max(1, maxval(pad_), maxval(snap_pad_))), stat=astat)
    if (astat /= 0) then
      ! without stat= the Fortran runtime stopped the process ("Error allocating")
      ierr = 6
      write (errmsg, '(a,i0,a)') 'calltree: cannot allocate the pad buffer of ', &
        max(1, maxval(pad_), maxval(snap_pad_)), ' reals on this rank: use smaller pad and snap_pad values'
      call calltree_teardown()
      return
    end if
    padbuf = 0
  end subroutine calltree_setup

  integer function calltree_nctrl()
    calltree_nctrl = m_
  end function calltree_nctrl

  !> \brief Number of time steps (executions of the root) per run.
  subroutine calltree_set_nsteps(n)
    integer, intent(in) :: n
    nsteps_ = max(1, n)
  end subroutine calltree_set_nsteps

  subroutine calltree_teardown()
    if (allocated(xs)) deallocate(xs)
    if (allocated(xbs)) deallocate(xbs)
    if (allocated(child_start)) deallocate(child_start, child_node, child_loop, site_id, &
                                           turn_id, work, pad, snap_pad, flags)
    if (allocated(padbuf)) deallocate(padbuf)
    m_ = 0
    nnodes_ = 0
  end subroutine calltree_teardown

  pure real(real64) function coef(i)
    integer, intent(in) :: i
    coef = amp_ * real(1 + mod(i, 3), real64)
  end function coef

  ! ------------------------------------------------------------ ring exchange
  subroutine ring(x, xl)
    real(real64), intent(in) :: x(:)
    real(real64), intent(out) :: xl
    integer :: right, left, ierr
    right = mod(rank_ + 1, nranks_)
    left = mod(rank_ - 1 + nranks_, nranks_)
    call MPI_Sendrecv(x(m_), 1, MPI_DOUBLE_PRECISION, right, 71, xl, 1, MPI_DOUBLE_PRECISION, &
                      left, 71, comm_, MPI_STATUS_IGNORE, ierr)
  end subroutine ring

  !> adjoint of ring: the left neighbour's x(m) receives what x_left collected
  subroutine ring_b(xb, xlb)
    real(real64), intent(inout) :: xb(:)
    real(real64), intent(in) :: xlb
    real(real64) :: got
    integer :: right, left, ierr
    right = mod(rank_ + 1, nranks_)
    left = mod(rank_ - 1 + nranks_, nranks_)
    call MPI_Sendrecv(xlb, 1, MPI_DOUBLE_PRECISION, left, 72, got, 1, MPI_DOUBLE_PRECISION, &
                      right, 72, comm_, MPI_STATUS_IGNORE, ierr)
    xb(m_) = xb(m_) + got
  end subroutine ring_b

  ! ------------------------------------------------------------ one node
  !> primal of node i (untaped)
  recursive subroutine node(i, x)
    integer, intent(in) :: i
    real(real64), intent(inout) :: x(:)
    integer :: s, e, l
    real(real64) :: a, xl
    a = coef(i)
    do s = 1, work(i)
      if (btest(flags(i), 1) .and. mod(s, 2) == 0) then
        x = x - a * sin(cshift(x, 1))
      else
        x = x + a * sin(cshift(x, 1))
      end if
    end do
    if (btest(flags(i), 0)) then
      call ring(x, xl)
      x(1) = x(1) + ccoup * xl
    end if
    do e = child_start(i), child_start(i + 1) - 1
      do l = 1, child_loop(e)
        call node(child_node(e), x)
      end do
    end do
  end subroutine node

  !> forward sweep of node i: pushes what node_bwd needs; checkpoint branch per call
  recursive subroutine node_fwd(i, x)
    integer, intent(in) :: i
    real(real64), intent(inout) :: x(:)
    integer :: s, e, l, c
    real(real64) :: a, xl
    a = coef(i)
    do s = 1, work(i)
      call pushreal8array(x, m_)
      if (btest(flags(i), 1)) then
        if (mod(s, 2) == 0) then
          x = x - a * sin(cshift(x, 1))
          call pushcontrol1b(1)
        else
          x = x + a * sin(cshift(x, 1))
          call pushcontrol1b(0)
        end if
      else
        x = x + a * sin(cshift(x, 1))
      end if
    end do
    if (btest(flags(i), 0)) then
      call ring(x, xl)
      x(1) = x(1) + ccoup * xl
    end if
    if (pad(i) > 0) call pushreal8array(padbuf, pad(i))
    do e = child_start(i), child_start(i + 1) - 1
      c = child_node(e)
      do l = 1, child_loop(e)
        if (ph_site_active(site_id(e))) then
          call ph_prof_record(ph_ev_snpwrite, site_id(e))
          call pushreal8array(x, m_)
          if (snap_pad(c) > 0) call pushreal8array(padbuf, snap_pad(c))
          call ph_prof_record(ph_ev_beginadvance, site_id(e))
          call node(c, x)
          call ph_prof_record(ph_ev_endadvance, site_id(e))
        else
          call node_fwd(c, x)
        end if
      end do
    end do
  end subroutine node_fwd

  !> backward sweep of node i: x is scratch (only popped values are used)
  recursive subroutine node_bwd(i, x, xb)
    integer, intent(in) :: i
    real(real64), intent(inout) :: x(:), xb(:)
    integer :: s, e, l, c, branch
    real(real64) :: a, xlb, sgn
    a = coef(i)
    do e = child_start(i + 1) - 1, child_start(i), -1
      c = child_node(e)
      do l = child_loop(e), 1, -1
        if (ph_site_active(site_id(e))) then
          call ph_prof_record(ph_ev_snpread, site_id(e))
          if (snap_pad(c) > 0) call popreal8array(padbuf, snap_pad(c))
          call popreal8array(x, m_)
          call ph_prof_record(ph_ev_beginreverse, site_id(e))
          call node_fwd(c, x)
          call ph_prof_record(ph_ev_turn, turn_id(c))
          call node_bwd(c, x, xb)
          call ph_prof_record(ph_ev_endreverse, site_id(e))
        else
          call node_bwd(c, x, xb)
        end if
      end do
    end do
    if (pad(i) > 0) call popreal8array(padbuf, pad(i))
    if (btest(flags(i), 0)) then
      xlb = ccoup * xb(1)
      call ring_b(xb, xlb)
    end if
    do s = work(i), 1, -1
      sgn = 1.0_real64
      if (btest(flags(i), 1)) then
        call popcontrol1b(branch)
        if (branch == 1) sgn = -1.0_real64
      end if
      call popreal8array(x, m_)
      xb = xb + cshift(sgn * a * cos(cshift(x, 1)) * xb, -1)
    end do
  end subroutine node_bwd

  ! ------------------------------------------------------------ cost and drivers
  subroutine cost_of(x, cost)
    real(real64), intent(in) :: x(:)
    real(real64), intent(out) :: cost
    real(real64) :: loc
    integer :: ierr
    loc = 0.5_real64 * sum(x * x)
    call MPI_Allreduce(loc, cost, 1, MPI_DOUBLE_PRECISION, MPI_SUM, comm_, ierr)
  end subroutine cost_of

  !> \brief Primal run: cost J of the initial state ctrl.
  subroutine calltree_primal(n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: x(:)
    integer :: e
    ierr = 0; errmsg = ''
    if (n /= m_) then
      ierr = 5; errmsg = 'calltree: control size does not match the set-up'
      cost = 0; return
    end if
    x = ctrl
    do e = 1, nsteps_
      call node(1, x)
    end do
    call cost_of(x, cost)
  end subroutine calltree_primal

  !> \brief Adjoint run: J and dJ/dctrl; the root is reversed in joint mode.
  subroutine calltree_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: grad(n), cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    real(real64), allocatable :: x(:), xb(:)
    real(real64) :: seed, costb
    integer :: e2, k
    ierr = 0; errmsg = ''
    grad = 0
    if (n /= m_) then
      ierr = 5; errmsg = 'calltree: control size does not match the set-up'
      cost = 0; return
    end if
    x = ctrl
    do k = 1, nsteps_
      call node_fwd(1, x)
    end do
    call cost_of(x, cost)
    call ph_prof_record(ph_ev_turn, turn_id(1))
    ! J is replicated: its adjoint is seeded on rank 0 and summed over ranks
    seed = merge(1.0_real64, 0.0_real64, rank_ == 0)
    call MPI_Allreduce(seed, costb, 1, MPI_DOUBLE_PRECISION, MPI_SUM, comm_, e2)
    xb = costb * x
    do k = nsteps_, 1, -1
      call node_bwd(1, x, xb)
    end do
    grad = xb
  end subroutine calltree_adjoint

  ! ------------------------------------------------------------ time stepping
  ! The pieces a binomial (revolve) schedule drives from Python: the state xs
  ! at the current step, advanced untaped or taped, and the adjoint xbs.

  !> \brief Start a schedule: the state at step 0 is the control.
  subroutine calltree_ts_begin(n, ctrl, astat)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    integer, intent(out) :: astat   !< nonzero: the state could not be allocated
    if (allocated(xs)) deallocate(xs)
    if (allocated(xbs)) deallocate(xbs)
    allocate(xs(n), xbs(n), stat=astat)
    if (astat /= 0) return
    xs = ctrl
    xbs = 0
  end subroutine calltree_ts_begin

  !> \brief Copy the current state out (to keep it as a snapshot).
  subroutine calltree_ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    x = xs
  end subroutine calltree_ts_state

  !> \brief Restore the state from a snapshot.
  subroutine calltree_ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    xs = x
  end subroutine calltree_ts_set_state

  !> \brief Advance nadv steps, untaped (taped = 0) or taped for the adjoint.
  subroutine calltree_ts_advance(nadv, taped)
    integer, intent(in) :: nadv, taped
    integer :: k
    do k = 1, nadv
      if (taped /= 0) then
        call node_fwd(1, xs)
      else
        call node(1, xs)
      end if
    end do
  end subroutine calltree_ts_advance

  !> \brief The cost of the final state, and the seed of the adjoint.
  subroutine calltree_ts_end_forward(cost)
    real(real64), intent(out) :: cost
    real(real64) :: seed, costb
    integer :: e2
    call cost_of(xs, cost)
    seed = merge(1.0_real64, 0.0_real64, rank_ == 0)
    call MPI_Allreduce(seed, costb, 1, MPI_DOUBLE_PRECISION, MPI_SUM, comm_, e2)
    xbs = costb * xs
  end subroutine calltree_ts_end_forward

  !> \brief Reverse the nrev steps taped last (each: turn, backward sweep).
  subroutine calltree_ts_reverse(nrev)
    integer, intent(in) :: nrev
    integer :: k
    do k = 1, nrev
      call ph_prof_record(ph_ev_turn, turn_id(1))
      call node_bwd(1, xs, xbs)
    end do
  end subroutine calltree_ts_reverse

  !> \brief The gradient once the schedule has reversed every step.
  subroutine calltree_ts_gradient(n, grad)
    integer, intent(in) :: n
    real(real64), intent(out) :: grad(n)
    grad = xbs
  end subroutine calltree_ts_gradient

  ! ------------------------------------------------------------ ph_kernel_t hooks

  subroutine t_setup(self, comm, ni, ipar, nr, rpar, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: comm, ni, nr
    integer, intent(in) :: ipar(ni)
    real(real64), intent(in) :: rpar(nr)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer :: m, nn, ne, o
    ierr = 0; errmsg = ''
    if (ni < 4 .or. nr < 1) then
      ierr = 1; errmsg = 'calltree: setup takes m, nnodes, nedges, nsteps, the tree arrays and amp'
      return
    end if
    m = ipar(1); nn = ipar(2); ne = ipar(3)
    if (nn < 1 .or. ne < 0 .or. ni /= 4 + (nn + 1) + 3 * ne + 5 * nn) then
      ierr = 1; errmsg = 'calltree: the integer parameters do not hold the tree arrays of nnodes, nedges'
      return
    end if
    o = 4
    call calltree_setup(comm, m, nn, ne, ipar(o + 1:o + nn + 1), ipar(o + nn + 2:o + nn + 1 + ne), &
                        ipar(o + nn + 2 + ne:o + nn + 1 + 2 * ne), &
                        ipar(o + nn + 2 + 2 * ne:o + nn + 1 + 3 * ne), &
                        ipar(o + nn + 2 + 3 * ne:o + 2 * nn + 1 + 3 * ne), &
                        ipar(o + 2 * nn + 2 + 3 * ne:o + 3 * nn + 1 + 3 * ne), &
                        ipar(o + 3 * nn + 2 + 3 * ne:o + 4 * nn + 1 + 3 * ne), &
                        ipar(o + 4 * nn + 2 + 3 * ne:o + 5 * nn + 1 + 3 * ne), &
                        ipar(o + 5 * nn + 2 + 3 * ne:o + 6 * nn + 1 + 3 * ne), rpar(1), ierr, errmsg)
    if (ierr == 0) call calltree_set_nsteps(ipar(4))
  end subroutine t_setup

  integer function t_nctrl(self)
    class(calltree_t), intent(in) :: self
    t_nctrl = calltree_nctrl()
  end function t_nctrl

  subroutine t_primal(self, n, ctrl, cost, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call calltree_primal(n, ctrl, cost, ierr, errmsg)
  end subroutine t_primal

  subroutine t_adjoint(self, n, ctrl, grad, cost, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: grad(n), cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call calltree_adjoint(n, ctrl, grad, cost, ierr, errmsg)
  end subroutine t_adjoint

  subroutine t_teardown(self)
    class(calltree_t), intent(inout) :: self
    call calltree_teardown()
  end subroutine t_teardown

  integer function t_state_size(self)
    class(calltree_t), intent(in) :: self
    t_state_size = m_
  end function t_state_size

  logical function bad_size(n, ierr, errmsg)
    integer, intent(in) :: n
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    bad_size = n /= m_ .or. n == 0
    if (bad_size) then
      ierr = 1; errmsg = 'calltree: state size does not match the set-up (call setup first)'
    end if
  end function bad_size

  subroutine t_begin(self, n, x, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer :: astat
    if (bad_size(n, ierr, errmsg)) return
    call calltree_ts_begin(n, x, astat)
    if (astat /= 0) then
      ierr = 6
      write (errmsg, '(a,i0,a)') 'calltree: cannot allocate the time-stepping state of ', n, &
        ' reals (twice) on this rank: use a smaller --param m'
    end if
  end subroutine t_begin

  subroutine t_state(self, n, x, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    x = 0
    if (bad_size(n, ierr, errmsg)) return
    call calltree_ts_state(n, x)
  end subroutine t_state

  subroutine t_set_state(self, n, x, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    if (bad_size(n, ierr, errmsg)) return
    call calltree_ts_set_state(n, x)
  end subroutine t_set_state

  subroutine t_advance(self, nadv, taped, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: nadv
    logical, intent(in) :: taped
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call calltree_ts_advance(nadv, merge(1, 0, taped))
  end subroutine t_advance

  subroutine t_end_forward(self, cost, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call calltree_ts_end_forward(cost)
  end subroutine t_end_forward

  subroutine t_reverse(self, nrev, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: nrev
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = 0; errmsg = ''
    call calltree_ts_reverse(nrev)
  end subroutine t_reverse

  subroutine t_gradient(self, n, x, ierr, errmsg)
    class(calltree_t), intent(inout) :: self
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    x = 0
    if (bad_size(n, ierr, errmsg)) return
    call calltree_ts_gradient(n, x)
  end subroutine t_gradient

end module calltree_kernel
