!> \brief The small, flat API that Python sees (wrapped by f90wrap): runtime
!! control (stack, profiler, locations, activation) and one set of entry points
!! per kernel. Every routine that can fail returns ierr (0 = success) and errmsg;
!! nothing here stops the process.
module ph_api
  use ph_kinds, only: int8, int32, int64, real64, ph_msglen, ph_namelen
  use ph_stack, only: ph_stack_reset, ph_stack_set_limit, ph_stack_current, &
                      ph_stack_peak, ph_stack_pushed, ph_stack_popped, ph_stack_status, &
                      ph_stack_release
  use ph_profile, only: ph_prof_enable, ph_prof_clear, ph_prof_nevents, ph_prof_copy, &
                        ph_nlocations, ph_location, ph_set_active, ph_site_active, &
                        ph_registry_clear, ph_set_all_active, ph_prof_release, &
                        ph_clock_ns, ph_cpu_ns
  use ph_bench, only: ph_bench_stack
  use ph_profile, only: ph_register
  use calltree_kernel, only: calltree_setup, calltree_nctrl, calltree_primal, calltree_adjoint, &
                             calltree_teardown, calltree_set_nsteps, calltree_ts_begin, &
                             calltree_ts_state, calltree_ts_set_state, calltree_ts_advance, &
                             calltree_ts_end_forward, calltree_ts_reverse, calltree_ts_gradient
  use ph_stack, only: ph_stack_external
  use biogeo_driver, only: biogeo_setup, biogeo_nctrl, biogeo_control_default, &
                           biogeo_primal, biogeo_adjoint, biogeo_teardown, &
                           biogeo_ts_begin, biogeo_ts_state_size, biogeo_ts_state, &
                           biogeo_ts_set_state, biogeo_ts_advance, biogeo_ts_end_forward, &
                           biogeo_ts_reverse, biogeo_ts_gradient
  use streamice_driver, only: streamice_setup, streamice_nctrl, streamice_control_default, &
                              streamice_primal, streamice_adjoint, streamice_teardown, &
                              streamice_ts_begin, streamice_ts_state_size, streamice_ts_state, &
                              streamice_ts_set_state, streamice_ts_advance, streamice_ts_end_forward, &
                              streamice_ts_reverse, streamice_ts_gradient
  implicit none
  private
  public :: api_reset, api_release, api_set_stack_limit, api_stack_stats, &
            api_prof_enable, api_prof_nevents, api_prof_events, api_nlocations, &
            api_location, api_set_active, api_get_active, api_clocks, api_bench_stack
  public :: api_register, api_registry_clear, api_stack_external, api_stack_check
  public :: api_calltree_set_nsteps, api_calltree_ts_begin, api_calltree_ts_state, &
            api_calltree_ts_set_state, api_calltree_ts_advance, api_calltree_ts_end_forward, &
            api_calltree_ts_reverse, api_calltree_ts_gradient
  public :: api_calltree_setup, api_calltree_nctrl, api_calltree_primal, api_calltree_adjoint, &
            api_calltree_teardown
  public :: api_streamice_ts_begin, api_streamice_ts_state_size, api_streamice_ts_state, &
            api_streamice_ts_set_state, api_streamice_ts_advance, api_streamice_ts_end_forward, &
            api_streamice_ts_reverse, api_streamice_ts_gradient
  public :: api_biogeo_ts_begin, api_biogeo_ts_state_size, api_biogeo_ts_state, &
            api_biogeo_ts_set_state, api_biogeo_ts_advance, api_biogeo_ts_end_forward, &
            api_biogeo_ts_reverse, api_biogeo_ts_gradient
  public :: api_biogeo_setup, api_biogeo_nctrl, api_biogeo_control_default, &
            api_biogeo_primal, api_biogeo_adjoint, api_biogeo_teardown
  public :: api_streamice_setup, api_streamice_nctrl, api_streamice_control_default, &
            api_streamice_primal, api_streamice_adjoint, api_streamice_teardown

contains

  !> \brief Empty the AD stack, clear its counters and error, drop recorded events.
  subroutine api_reset()
    call ph_stack_reset()
    call ph_prof_clear()
  end subroutine api_reset

  !> \brief Free the memory held by the AD stack and the event buffer.
  subroutine api_release()
    call ph_stack_release()
    call ph_prof_release()
  end subroutine api_release

  !> \brief Set the per-rank hard limit of the AD stack.
  !! \param[in] nbytes limit in bytes; 0 removes the limit
  subroutine api_set_stack_limit(nbytes)
    integer(int64), intent(in) :: nbytes
    call ph_stack_set_limit(nbytes)
  end subroutine api_set_stack_limit

  !> \brief Byte counts of the AD stack since the last reset.
  !! \param[out] current bytes on the stack now
  !! \param[out] peak    largest size reached
  !! \param[out] pushed  total bytes pushed
  !! \param[out] popped  total bytes popped
  subroutine api_stack_stats(current, peak, pushed, popped)
    integer(int64), intent(out) :: current, peak, pushed, popped
    current = ph_stack_current()
    peak = ph_stack_peak()
    pushed = ph_stack_pushed()
    popped = ph_stack_popped()
  end subroutine api_stack_stats

  !> \brief Switch event recording on (flag /= 0) or off (flag == 0).
  subroutine api_prof_enable(flag)
    integer, intent(in) :: flag
    call ph_prof_enable(flag /= 0)
  end subroutine api_prof_enable

  !> \brief Number of events recorded since the last reset.
  subroutine api_prof_nevents(n)
    integer(int64), intent(out) :: n
    n = ph_prof_nevents()
  end subroutine api_prof_nevents

  !> \brief Copy the first n events into caller-allocated arrays.
  !! \param[in] n number of events (api_prof_nevents)
  !! \param[inout] kind event kind codes (docs/FORMAT.md)
  !! \param[inout] loc 0-based location index, -1 for none
  !! \param[inout] wall wall-clock ns since the reset
  !! \param[inout] cpu CPU ns since the reset
  !! \param[inout] stack AD stack bytes at the event
  subroutine api_prof_events(n, kind, loc, wall, cpu, stack)
    integer(int64), intent(in) :: n
    integer(int8), intent(inout) :: kind(n)
    integer(int32), intent(inout) :: loc(n)
    integer(int64), intent(inout) :: wall(n), cpu(n), stack(n)
    call ph_prof_copy(n, kind, loc, wall, cpu, stack)
  end subroutine api_prof_events

  !> \brief Wall-clock and CPU time of this process now, in ns.
  subroutine api_clocks(wall, cpu)
    integer(int64), intent(out) :: wall, cpu
    wall = ph_clock_ns()
    cpu = ph_cpu_ns()
  end subroutine api_clocks

  !> \brief Number of registered locations (sites and routines).
  subroutine api_nlocations(n)
    integer, intent(out) :: n
    n = ph_nlocations()
  end subroutine api_nlocations

  !> \brief Describe location i (0-based).
  !! \param[in] i location index
  !! \param[out] callee called routine (site) or routine name (turn)
  !! \param[out] file source file
  !! \param[out] line source line (0 for routines, -1 if i is out of range)
  !! \param[out] is_site 1 for a checkpoint call site, 0 otherwise
  subroutine api_location(i, callee, file, line, is_site)
    integer, intent(in) :: i
    character(len=64), intent(out) :: callee, file
    integer, intent(out) :: line, is_site
    logical :: s
    call ph_location(i + 1, callee, file, line, s)
    is_site = merge(1, 0, s)
  end subroutine api_location

  !> \brief Set the activation of the first n locations (1 active, 0 inhibited).
  !! Locations registered later (routines seen at their first turn) stay as they are.
  subroutine api_set_active(n, flags, ierr, errmsg)
    integer, intent(in) :: n
    integer, intent(in) :: flags(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    integer :: i
    ierr = 0
    errmsg = ''
    if (n > ph_nlocations()) then
      ierr = 1
      write (errmsg, '(a,i0,a,i0,a)') 'configuration has ', n, &
        ' entries but only ', ph_nlocations(), ' locations are registered'
      return
    end if
    do i = 1, n
      call ph_set_active(i, flags(i) /= 0)
    end do
  end subroutine api_set_active

  !> \brief Read the activation of the first n locations.
  subroutine api_get_active(n, flags)
    integer, intent(in) :: n
    integer, intent(inout) :: flags(n)
    integer :: i
    do i = 1, min(n, ph_nlocations())
      flags(i) = merge(1, 0, ph_site_active(i))
    end do
  end subroutine api_get_active

  subroutine check_stack(ierr, errmsg)
    integer, intent(inout) :: ierr
    character(len=*), intent(inout) :: errmsg
    integer :: serr
    character(len=ph_msglen) :: smsg
    if (ierr /= 0) return
    call ph_stack_status(serr, smsg)
    if (serr /= 0) then
      ierr = 100 + serr
      errmsg = smsg
    else if (ph_stack_current() /= 0) then
      ierr = 110
      write (errmsg, '(a,i0,a)') 'AD stack not empty after the adjoint (', &
        ph_stack_current(), ' bytes left): pushes and pops do not match'
    end if
  end subroutine check_stack

  !> \brief Register a location (or find it); returns its 0-based index.
  !! \param[in] callee called routine (site) or routine name (turn)
  !! \param[in] file source file
  !! \param[in] line source line (0 for routines)
  !! \param[in] is_site 1 for a checkpoint call site
  !! \param[out] idx 0-based location index
  subroutine api_register(callee, file, line, is_site, idx)
    character(len=64), intent(in) :: callee, file
    integer, intent(in) :: line, is_site
    integer, intent(out) :: idx
    idx = ph_register(trim(callee), trim(file), line, is_site /= 0) - 1
  end subroutine api_register

  !> \brief Account for bytes held outside the AD stack (time-loop snapshots).
  !! \param[in] delta bytes added (positive) or released (negative)
  subroutine api_stack_external(delta)
    integer(int64), intent(in) :: delta
    call ph_stack_external(delta)
  end subroutine api_stack_external

  !> \brief Error status of the AD stack, and an error if it is not empty.
  subroutine api_stack_check(ierr, errmsg)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call check_stack(ierr, errmsg)
  end subroutine api_stack_check

  !> \brief Forget every registered location.
  subroutine api_registry_clear()
    call ph_registry_clear()
  end subroutine api_registry_clear

  !> \brief Stack push/pop throughput against a plain copy of the same bytes.
  !! \param[in] n reals per push
  !! \param[in] npush pushes per repetition
  !! \param[in] reps repetitions (best kept)
  !! \param[out] t_stack seconds through the AD stack
  !! \param[out] t_copy seconds for plain copies
  !! \param[out] ok 0 if the popped values were right
  subroutine api_bench_stack(n, npush, reps, t_stack, t_copy, ok)
    integer, intent(in) :: n, npush, reps
    real(real64), intent(out) :: t_stack, t_copy
    integer, intent(out) :: ok
    call ph_bench_stack(n, npush, reps, t_stack, t_copy, ok)
  end subroutine api_bench_stack

  ! ------------------------------------------------------------ calltree

  !> \brief Set up the calltree kernel (locations registered before, from Python).
  !! Arrays as in calltree_kernel: CSR children of every node, 1-based ids.
  subroutine api_calltree_setup(comm, m, nnodes, nedges, child_start, child_node, child_loop, &
                                site_id, turn_id, work, pad, snap_pad, commflag, amp, ierr, errmsg)
    integer, intent(in) :: comm, m, nnodes, nedges
    real(real64), intent(in) :: amp
    integer, intent(in) :: child_start(nnodes + 1), child_node(nedges), child_loop(nedges)
    integer, intent(in) :: site_id(nedges), turn_id(nnodes)
    integer, intent(in) :: work(nnodes), pad(nnodes), snap_pad(nnodes), commflag(nnodes)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    call calltree_setup(comm, m, nnodes, nedges, child_start, child_node, child_loop, site_id, &
                        turn_id, work, pad, snap_pad, commflag, amp, ierr, errmsg)
  end subroutine api_calltree_setup

  !> \brief Number of control values owned by this rank.
  subroutine api_calltree_nctrl(n)
    integer, intent(out) :: n
    n = calltree_nctrl()
  end subroutine api_calltree_nctrl

  !> \brief Primal run of the calltree kernel.
  subroutine api_calltree_primal(n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    call calltree_primal(n, ctrl, cost, ierr, errmsg)
  end subroutine api_calltree_primal

  !> \brief Adjoint run of the calltree kernel; the AD stack is checked after.
  subroutine api_calltree_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(inout) :: grad(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    call calltree_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    call check_stack(ierr, errmsg)
  end subroutine api_calltree_adjoint

  !> \brief Number of time steps (executions of the root) per run.
  subroutine api_calltree_set_nsteps(n)
    integer, intent(in) :: n
    call calltree_set_nsteps(n)
  end subroutine api_calltree_set_nsteps

  !> \brief Time stepping: the state at step 0 is the control.
  subroutine api_calltree_ts_begin(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    call calltree_ts_begin(n, ctrl)
  end subroutine api_calltree_ts_begin

  !> \brief Time stepping: copy the current state out.
  subroutine api_calltree_ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(inout) :: x(n)
    call calltree_ts_state(n, x)
  end subroutine api_calltree_ts_state

  !> \brief Time stepping: restore the state from a snapshot.
  subroutine api_calltree_ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    call calltree_ts_set_state(n, x)
  end subroutine api_calltree_ts_set_state

  !> \brief Time stepping: advance nadv steps, untaped (0) or taped (1).
  subroutine api_calltree_ts_advance(nadv, taped)
    integer, intent(in) :: nadv, taped
    call calltree_ts_advance(nadv, taped)
  end subroutine api_calltree_ts_advance

  !> \brief Time stepping: the cost of the final state; seeds the adjoint.
  subroutine api_calltree_ts_end_forward(cost)
    real(real64), intent(out) :: cost
    call calltree_ts_end_forward(cost)
  end subroutine api_calltree_ts_end_forward

  !> \brief Time stepping: reverse the last nrev taped steps.
  subroutine api_calltree_ts_reverse(nrev)
    integer, intent(in) :: nrev
    call calltree_ts_reverse(nrev)
  end subroutine api_calltree_ts_reverse

  !> \brief Time stepping: the gradient after the whole reversal.
  subroutine api_calltree_ts_gradient(n, grad)
    integer, intent(in) :: n
    real(real64), intent(inout) :: grad(n)
    call calltree_ts_gradient(n, grad)
  end subroutine api_calltree_ts_gradient

  !> \brief Free the calltree kernel's arrays.
  subroutine api_calltree_teardown()
    call calltree_teardown()
  end subroutine api_calltree_teardown

  ! ------------------------------------------------------------ streamice

  !> \brief Set up the streamice kernel on communicator comm (Fortran handle).
  !! Registers its checkpoint sites (all active).
  !! \param[in] comm MPI communicator (mpi4py: comm.py2f())
  !! \param[in] nx global grid size along the flow
  !! \param[in] ny global grid size across the flow (split over ranks)
  !! \param[in] nt number of time steps
  !! \param[in] npicard Picard iterations per step
  !! \param[in] ncg conjugate-gradient iterations per Picard iteration
  subroutine api_streamice_setup(comm, nx, ny, nt, npicard, ncg, ierr, errmsg)
    integer, intent(in) :: comm, nx, ny, nt, npicard, ncg
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call ph_registry_clear()
    call streamice_setup(comm, nx, ny, nt, npicard, ncg, ierr, errmsg)
    call ph_set_all_active(.true.)
  end subroutine api_streamice_setup

  !> \brief Number of control values owned by this rank.
  subroutine api_streamice_nctrl(n)
    integer, intent(out) :: n
    n = streamice_nctrl()
  end subroutine api_streamice_nctrl

  !> \brief The default control on this rank.
  subroutine api_streamice_control_default(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(inout) :: ctrl(n)
    call streamice_control_default(n, ctrl)
  end subroutine api_streamice_control_default

  !> \brief Run the primal model; cost is the (replicated) cost function.
  subroutine api_streamice_primal(n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call streamice_primal(n, ctrl, cost, ierr, errmsg)
  end subroutine api_streamice_primal

  !> \brief Run the adjoint: cost and its gradient on this rank's controls.
  !! The AD stack must be empty before (api_reset); it is checked after.
  subroutine api_streamice_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(inout) :: grad(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call streamice_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    call check_stack(ierr, errmsg)
  end subroutine api_streamice_adjoint

  !> \brief Time stepping: the state at step 0 from the control.
  subroutine api_streamice_ts_begin(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    call streamice_ts_begin(n, ctrl)
  end subroutine api_streamice_ts_begin

  !> \brief Time stepping: reals in a snapshot of the state.
  subroutine api_streamice_ts_state_size(n)
    integer, intent(out) :: n
    n = streamice_ts_state_size()
  end subroutine api_streamice_ts_state_size

  !> \brief Time stepping: copy the state out.
  subroutine api_streamice_ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(inout) :: x(n)
    call streamice_ts_state(n, x)
  end subroutine api_streamice_ts_state

  !> \brief Time stepping: restore the state.
  subroutine api_streamice_ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    call streamice_ts_set_state(n, x)
  end subroutine api_streamice_ts_set_state

  !> \brief Time stepping: advance nadv steps, untaped (0) or taped (1).
  subroutine api_streamice_ts_advance(nadv, taped)
    integer, intent(in) :: nadv, taped
    call streamice_ts_advance(nadv, taped)
  end subroutine api_streamice_ts_advance

  !> \brief Time stepping: the cost; seeds the adjoint.
  subroutine api_streamice_ts_end_forward(cost)
    real(real64), intent(out) :: cost
    call streamice_ts_end_forward(cost)
  end subroutine api_streamice_ts_end_forward

  !> \brief Time stepping: reverse the last nrev taped steps.
  subroutine api_streamice_ts_reverse(nrev)
    integer, intent(in) :: nrev
    call streamice_ts_reverse(nrev)
  end subroutine api_streamice_ts_reverse

  !> \brief Time stepping: the gradient after the whole reversal.
  subroutine api_streamice_ts_gradient(n, grad)
    integer, intent(in) :: n
    real(real64), intent(inout) :: grad(n)
    call streamice_ts_gradient(n, grad)
  end subroutine api_streamice_ts_gradient

  !> \brief Free the streamice kernel's fields.
  subroutine api_streamice_teardown()
    call streamice_teardown()
  end subroutine api_streamice_teardown

  ! ------------------------------------------------------------ biogeo

  !> \brief Set up the biogeo kernel on communicator comm (Fortran handle).
  !! Registers its checkpoint sites (all active).
  !! \param[in] comm MPI communicator (mpi4py: comm.py2f())
  !! \param[in] nx global grid size, zonal
  !! \param[in] ny global grid size, meridional (split over ranks)
  !! \param[in] nz number of levels
  !! \param[in] nt number of time steps
  !! \param[in] nnewton Newton iterations of the carbonate solve
  subroutine api_biogeo_setup(comm, nx, ny, nz, nt, nnewton, ierr, errmsg)
    integer, intent(in) :: comm, nx, ny, nz, nt, nnewton
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call ph_registry_clear()
    call biogeo_setup(comm, nx, ny, nz, nt, nnewton, ierr, errmsg)
    call ph_set_all_active(.true.)
  end subroutine api_biogeo_setup

  !> \brief Number of control values owned by this rank.
  subroutine api_biogeo_nctrl(n)
    integer, intent(out) :: n
    n = biogeo_nctrl()
  end subroutine api_biogeo_nctrl

  !> \brief The default control on this rank.
  subroutine api_biogeo_control_default(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(inout) :: ctrl(n)
    call biogeo_control_default(n, ctrl)
  end subroutine api_biogeo_control_default

  !> \brief Run the primal model; cost is the (replicated) cost function.
  subroutine api_biogeo_primal(n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call biogeo_primal(n, ctrl, cost, ierr, errmsg)
  end subroutine api_biogeo_primal

  !> \brief Run the adjoint: cost and its gradient on this rank's controls.
  !! The AD stack must be empty before (api_reset); it is checked after.
  subroutine api_biogeo_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(inout) :: grad(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    ierr = 0
    errmsg = ''
    call biogeo_adjoint(n, ctrl, grad, cost, ierr, errmsg)
    call check_stack(ierr, errmsg)
  end subroutine api_biogeo_adjoint

  !> \brief Time stepping: the state at step 0 from the control.
  subroutine api_biogeo_ts_begin(n, ctrl)
    integer, intent(in) :: n
    real(real64), intent(in) :: ctrl(n)
    call biogeo_ts_begin(n, ctrl)
  end subroutine api_biogeo_ts_begin

  !> \brief Time stepping: reals in a snapshot of the state.
  subroutine api_biogeo_ts_state_size(n)
    integer, intent(out) :: n
    n = biogeo_ts_state_size()
  end subroutine api_biogeo_ts_state_size

  !> \brief Time stepping: copy the state out.
  subroutine api_biogeo_ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(inout) :: x(n)
    call biogeo_ts_state(n, x)
  end subroutine api_biogeo_ts_state

  !> \brief Time stepping: restore the state.
  subroutine api_biogeo_ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    call biogeo_ts_set_state(n, x)
  end subroutine api_biogeo_ts_set_state

  !> \brief Time stepping: advance nadv steps, untaped (0) or taped (1).
  subroutine api_biogeo_ts_advance(nadv, taped)
    integer, intent(in) :: nadv, taped
    call biogeo_ts_advance(nadv, taped)
  end subroutine api_biogeo_ts_advance

  !> \brief Time stepping: the cost; seeds the adjoint.
  subroutine api_biogeo_ts_end_forward(cost)
    real(real64), intent(out) :: cost
    call biogeo_ts_end_forward(cost)
  end subroutine api_biogeo_ts_end_forward

  !> \brief Time stepping: reverse the last nrev taped steps.
  subroutine api_biogeo_ts_reverse(nrev)
    integer, intent(in) :: nrev
    call biogeo_ts_reverse(nrev)
  end subroutine api_biogeo_ts_reverse

  !> \brief Time stepping: the gradient after the whole reversal.
  subroutine api_biogeo_ts_gradient(n, grad)
    integer, intent(in) :: n
    real(real64), intent(inout) :: grad(n)
    call biogeo_ts_gradient(n, grad)
  end subroutine api_biogeo_ts_gradient

  !> \brief Free the biogeo kernel's fields.
  subroutine api_biogeo_teardown()
    call biogeo_teardown()
  end subroutine api_biogeo_teardown

end module ph_api
