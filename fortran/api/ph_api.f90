!> \brief The small, flat API that Python sees (wrapped by f90wrap): runtime
!! control (stack, profiler, locations, activation) and the entry points of
!! every kernel, once, with the kernel's id (api_kernel_id looks it up by name).
!! Every routine that can fail returns ierr (0 = success) and errmsg; nothing
!! here stops the process.
module ph_api
  use ph_kinds, only: int8, int32, int64, real64, ph_msglen, ph_namelen
  use ph_stack, only: ph_stack_reset, ph_stack_set_limit, ph_stack_current, &
                      ph_stack_peak, ph_stack_pushed, ph_stack_popped, ph_stack_status, &
                      ph_stack_release, ph_stack_external, ph_stack_limit
  use ph_profile, only: ph_prof_enable, ph_prof_clear, ph_prof_nevents, ph_prof_copy, &
                        ph_prof_copy_ctl, &
                        ph_nlocations, ph_location, ph_set_active, ph_site_active, &
                        ph_registry_clear, ph_prof_release, ph_clock_ns, ph_cpu_ns, &
                        ph_register, ph_location_len, ph_prof_set_cpu_clock, &
                        ph_prof_cpu_clock, ph_prof_write
  use ph_bench, only: ph_bench_stack
  use ph_kernel, only: ph_kernel_t, ph_err_unsupported
  use ph_kernel_registry, only: ph_kernel_count, ph_kernel_name, ph_kernel_id, ph_kernel_get
  use ph_calibrate, only: ph_calibrate_events
  use, intrinsic :: iso_c_binding, only: c_int
  implicit none
  private
  public :: api_reset, api_release, api_set_stack_limit, api_stack_stats, &
            api_prof_enable, api_prof_nevents, api_prof_events, api_nlocations, &
            api_location, api_set_active, api_get_active, api_clocks, api_bench_stack
  public :: api_calibrate_events
  public :: api_register, api_registry_clear, api_stack_external, api_stack_check
  public :: api_locations_size, api_locations, api_register_bytes, api_prof_set_cpu_clock, &
            api_prof_cpu_clock, api_prof_write
  public :: api_kernel_count, api_kernel_name, api_kernel_id, api_kernel_setup, api_kernel_nctrl, &
            api_kernel_control_default, api_kernel_primal, api_kernel_adjoint, &
            api_kernel_teardown, api_kernel_ts_state_size, api_kernel_ts_begin, &
            api_kernel_ts_state, api_kernel_ts_set_state, api_kernel_ts_advance, &
            api_kernel_ts_end_forward, api_kernel_ts_reverse, api_kernel_ts_gradient
  public :: api_fpe_traps

  !> Stop at invalid, zero-division and overflow inside kernel calls (debug builds).
  logical, save :: fpe_traps = .false.

  interface
    ! fortran/api/ph_fpe.c: traps on (on /= 0) or off; 1 if they were on
    integer(c_int) function ph_fpe_traps(on) bind(c, name='ph_fpe_traps')
      import :: c_int
      integer(c_int), value :: on
    end function ph_fpe_traps
    ! fortran/api/ph_heap.c: keep the kernels' heap temporaries mapped (once per process)
    subroutine ph_heap_keep() bind(c, name='ph_heap_keep')
    end subroutine ph_heap_keep
  end interface

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
  !! \param[inout] ctl control bits on the AD stack at the event (32 per word + pending)
  subroutine api_prof_events(n, kind, loc, wall, cpu, stack, ctl)
    integer(int64), intent(in) :: n
    integer(int8), intent(inout) :: kind(n)
    integer(int32), intent(inout) :: loc(n)
    integer(int64), intent(inout) :: wall(n), cpu(n), stack(n), ctl(n)
    call ph_prof_copy(n, kind, loc, wall, cpu, stack)
    call ph_prof_copy_ctl(n, ctl)
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

  !> \brief Describe location i (0-based); names longer than 64 characters are
  !! cut here: api_locations gives them whole.
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

  !> \brief Number of locations and bytes of all their names (api_locations).
  !! \param[out] n number of locations
  !! \param[out] nbytes sum over locations of len(callee) + len(file) + 2
  subroutine api_locations_size(n, nbytes)
    integer, intent(out) :: n
    integer(int64), intent(out) :: nbytes
    integer :: i, lc, lf
    n = ph_nlocations()
    nbytes = 0
    do i = 1, n
      call ph_location_len(i, lc, lf)
      nbytes = nbytes + lc + lf + 2
    end do
  end subroutine api_locations_size

  !> \brief Every location, names whole: callee NUL file NUL, location after location.
  !! \param[in] n number of locations (api_locations_size)
  !! \param[in] nbytes bytes of the names (api_locations_size)
  !! \param[inout] names the names' bytes
  !! \param[inout] line source lines (0 for routines)
  !! \param[inout] is_site 1 for checkpoint call sites
  !! \param[out] ierr 0, or 1 if a location's names could not be allocated
  !! \param[out] errmsg what could not be allocated
  subroutine api_locations(n, nbytes, names, line, is_site, ierr, errmsg)
    integer, intent(in) :: n
    integer(int64), intent(in) :: nbytes
    integer(int8), intent(inout) :: names(nbytes)
    integer, intent(inout) :: line(n), is_site(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    integer :: i, lc, lf, k, astat
    integer(int64) :: p
    character(len=:), allocatable :: c, f
    logical :: s
    ierr = 0
    errmsg = ''
    p = 0
    do i = 1, min(n, ph_nlocations())
      call ph_location_len(i, lc, lf)
      if (p + lc + lf + 2 > nbytes) return
      allocate(character(len=lc) :: c, stat=astat)
      if (astat == 0) allocate(character(len=lf) :: f, stat=astat)
      if (astat /= 0) then
        ! without stat= the Fortran runtime stopped the process ("Error allocating")
        ierr = 1
        write (errmsg, '(a,i0,a,i0,a,i0,a)') 'cannot allocate the names (', lc, ' and ', lf, &
          ' characters) of location ', i, ': this process is out of memory'
        return
      end if
      call ph_location(i, c, f, line(i), s)
      is_site(i) = merge(1, 0, s)
      do k = 1, lc
        names(p + k) = int(ichar(c(k:k)), int8)
      end do
      p = p + lc + 1
      names(p) = 0_int8
      do k = 1, lf
        names(p + k) = int(ichar(f(k:k)), int8)
      end do
      p = p + lf + 1
      names(p) = 0_int8
      deallocate(c, f)
    end do
  end subroutine api_locations

  !> \brief Register a location with names of any length (given as bytes).
  !! \param[in] nc length of callee
  !! \param[in] callee the callee's bytes
  !! \param[in] nf length of file
  !! \param[in] file the file's bytes
  !! \param[in] line source line (0 for routines)
  !! \param[in] is_site 1 for a checkpoint call site
  !! \param[out] idx 0-based location index
  subroutine api_register_bytes(nc, callee, nf, file, line, is_site, idx)
    integer, intent(in) :: nc, nf
    integer(int8), intent(in) :: callee(nc), file(nf)
    integer, intent(in) :: line, is_site
    integer, intent(out) :: idx
    character(len=nc) :: c
    character(len=nf) :: f
    integer :: k
    do k = 1, nc
      c(k:k) = achar(iand(int(callee(k)), 255))
    end do
    do k = 1, nf
      f(k:k) = achar(iand(int(file(k)), 255))
    end do
    idx = ph_register(c, f, line, is_site /= 0) - 1
  end subroutine api_register_bytes

  !> \brief Read the thread CPU clock at every event (flag /= 0) or not (default).
  subroutine api_prof_set_cpu_clock(flag)
    integer, intent(in) :: flag
    call ph_prof_set_cpu_clock(flag /= 0)
  end subroutine api_prof_set_cpu_clock

  !> \brief 1 if events carry the thread CPU clock, else 0.
  subroutine api_prof_cpu_clock(flag)
    integer, intent(out) :: flag
    flag = merge(1, 0, ph_prof_cpu_clock())
  end subroutine api_prof_cpu_clock

  !> \brief Write this rank's trace file dir/pyharness.NNNNN.phtrace (docs/FORMAT.md).
  subroutine api_prof_write(dir, ierr, errmsg)
    character(len=1024), intent(in) :: dir
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    call ph_prof_write(trim(dir), ierr, errmsg)
  end subroutine api_prof_write

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

  ! ------------------------------------------------------------ kernels
  ! Every kernel (ph_kernel_t, registered in ph_kernel_registry) behind one set
  ! of entry points; kid is the id api_kernel_id gives for its name.
  !> \brief Cost of one profiler event, measured now (ph_calibrate).
  !! \param[in] npairs event pairs per repetition
  !! \param[in] reps repetitions (median kept)
  !! \param[in] path 0: by location id, 1: by site number through the named callbacks
  !! \param[in] id location id (1-based, path 0) or site number (path 1)
  !! \param[out] on_ns ns per event, recording on
  !! \param[out] off_ns ns per callback, recording off
  subroutine api_calibrate_events(npairs, reps, path, id, on_ns, off_ns)
    integer, intent(in) :: npairs, reps, path, id
    real(real64), intent(out) :: on_ns, off_ns
    call ph_calibrate_events(npairs, reps, path, id, on_ns, off_ns)
  end subroutine api_calibrate_events


  !> \brief Number of kernels compiled into this library.
  subroutine api_kernel_count(n)
    integer, intent(out) :: n
    n = ph_kernel_count()
  end subroutine api_kernel_count

  !> \brief Name of kernel kid (blank if there is none).
  subroutine api_kernel_name(kid, name)
    integer, intent(in) :: kid
    character(len=ph_namelen), intent(out) :: name
    name = ph_kernel_name(kid)
  end subroutine api_kernel_name

  !> \brief Id of the kernel called name; an error lists the built-in kernels.
  !! \param[in] name kernel name (as registered in ph_kernel_registry)
  !! \param[out] kid its id, for every api_kernel_* entry point
  subroutine api_kernel_id(name, kid, ierr, errmsg)
    character(len=ph_namelen), intent(in) :: name
    integer, intent(out) :: kid
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    call ph_kernel_id(name, kid, ierr, errmsg)
  end subroutine api_kernel_id

  subroutine get(kid, k, ierr, errmsg)
    integer, intent(in) :: kid
    class(ph_kernel_t), pointer, intent(out) :: k
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call ph_kernel_get(kid, k, ierr, errmsg)
  end subroutine get

  ! a hook the kernel does not implement: say which kernel
  subroutine name_kernel(kid, ierr, errmsg)
    integer, intent(in) :: kid, ierr
    character(len=*), intent(inout) :: errmsg
    if (ierr == ph_err_unsupported) errmsg = 'kernel ''' // ph_kernel_name(kid) // ''': ' // errmsg
  end subroutine name_kernel

  !> \brief Trap (stop with SIGFPE and a backtrace) at invalid operations, division
  !! by zero and overflow inside every kernel call: the debug build's
  !! -ffpe-trap for a library (a Fortran main program would set it at start).
  !! Python code between the calls keeps its own floating-point behaviour.
  !! \param[in] flag 1 on, 0 off
  subroutine api_fpe_traps(flag)
    integer, intent(in) :: flag
    fpe_traps = flag /= 0
  end subroutine api_fpe_traps

  ! Not under a hard stack limit: a run that reaches it goes on (pushes dropped,
  ! pops zero) with meaningless values until it reports the error.
  subroutine trap_begin(saved)
    integer(c_int), intent(out) :: saved
    saved = 0
    if (fpe_traps .and. ph_stack_limit() == 0) saved = ph_fpe_traps(1)
  end subroutine trap_begin

  subroutine trap_end(saved)
    integer(c_int), intent(in) :: saved
    integer(c_int) :: was
    if (fpe_traps .and. ph_stack_limit() == 0) was = ph_fpe_traps(saved)
  end subroutine trap_end

  !> \brief Set up kernel kid on communicator comm.
  !! \param[in] kid kernel id
  !! \param[in] comm MPI communicator (mpi4py: comm.py2f())
  !! \param[in] ni number of integer parameters
  !! \param[in] ipar integer parameters (their meaning is the kernel's)
  !! \param[in] nr number of real parameters
  !! \param[in] rpar real parameters
  subroutine api_kernel_setup(kid, comm, ni, ipar, nr, rpar, ierr, errmsg)
    integer, intent(in) :: kid, comm, ni, nr
    integer, intent(in) :: ipar(ni)
    real(real64), intent(in) :: rpar(nr)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call ph_heap_keep()
    call trap_begin(saved)
    call k%setup(comm, ni, ipar, nr, rpar, ierr, errmsg)
    call trap_end(saved)
  end subroutine api_kernel_setup

  !> \brief Number of control values owned by this rank.
  subroutine api_kernel_nctrl(kid, n, ierr, errmsg)
    integer, intent(in) :: kid
    integer, intent(out) :: n
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    n = 0
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    n = k%nctrl()
  end subroutine api_kernel_nctrl

  !> \brief The kernel's default control on this rank.
  subroutine api_kernel_control_default(kid, n, ctrl, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(inout) :: ctrl(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%control_default(n, ctrl, ierr, errmsg)
    call trap_end(saved)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_control_default

  !> \brief Run the primal model; cost is the (replicated) cost function.
  subroutine api_kernel_primal(kid, n, ctrl, cost, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    cost = 0
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%primal(n, ctrl, cost, ierr, errmsg)
    call trap_end(saved)
  end subroutine api_kernel_primal

  !> \brief Run the adjoint: cost and its gradient on this rank's controls.
  !! The AD stack must be empty before (api_reset); it is checked after.
  subroutine api_kernel_adjoint(kid, n, ctrl, grad, cost, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(in) :: ctrl(n)
    real(real64), intent(inout) :: grad(n)
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    cost = 0
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%adjoint(n, ctrl, grad, cost, ierr, errmsg)
    call trap_end(saved)
    call check_stack(ierr, errmsg)
  end subroutine api_kernel_adjoint

  !> \brief Free the kernel's fields.
  subroutine api_kernel_teardown(kid, ierr, errmsg)
    integer, intent(in) :: kid
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call k%teardown()
  end subroutine api_kernel_teardown

  !> \brief Time stepping: reals in a snapshot of the state.
  subroutine api_kernel_ts_state_size(kid, n, ierr, errmsg)
    integer, intent(in) :: kid
    integer, intent(out) :: n
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    n = 0
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    n = k%ts_state_size()
    if (n < 0) then
      ierr = ph_err_unsupported
      errmsg = 'this kernel does not implement time stepping'
      call name_kernel(kid, ierr, errmsg)
    end if
  end subroutine api_kernel_ts_state_size

  !> \brief Time stepping: the state at step 0 from the control.
  subroutine api_kernel_ts_begin(kid, n, ctrl, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(in) :: ctrl(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%ts_begin(n, ctrl, ierr, errmsg)
    call trap_end(saved)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_begin

  !> \brief Time stepping: copy the current state out (a snapshot).
  subroutine api_kernel_ts_state(kid, n, x, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(inout) :: x(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call k%ts_state(n, x, ierr, errmsg)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_state

  !> \brief Time stepping: restore the state from a snapshot.
  subroutine api_kernel_ts_set_state(kid, n, x, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(in) :: x(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call k%ts_set_state(n, x, ierr, errmsg)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_set_state

  !> \brief Time stepping: advance nadv steps, untaped (taped = 0) or taped (1).
  subroutine api_kernel_ts_advance(kid, nadv, taped, ierr, errmsg)
    integer, intent(in) :: kid, nadv, taped
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%ts_advance(nadv, taped /= 0, ierr, errmsg)
    call trap_end(saved)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_advance

  !> \brief Time stepping: the cost of the final state; seeds the adjoint.
  subroutine api_kernel_ts_end_forward(kid, cost, ierr, errmsg)
    integer, intent(in) :: kid
    real(real64), intent(out) :: cost
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    cost = 0
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%ts_end_forward(cost, ierr, errmsg)
    call trap_end(saved)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_end_forward

  !> \brief Time stepping: reverse the last nrev taped steps.
  subroutine api_kernel_ts_reverse(kid, nrev, ierr, errmsg)
    integer, intent(in) :: kid, nrev
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%ts_reverse(nrev, ierr, errmsg)
    call trap_end(saved)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_reverse

  !> \brief Time stepping: the gradient after the whole reversal.
  subroutine api_kernel_ts_gradient(kid, n, grad, ierr, errmsg)
    integer, intent(in) :: kid, n
    real(real64), intent(inout) :: grad(n)
    integer, intent(out) :: ierr
    character(len=ph_msglen), intent(out) :: errmsg
    class(ph_kernel_t), pointer :: k
    integer(c_int) :: saved
    call get(kid, k, ierr, errmsg)
    if (ierr /= 0) return
    call trap_begin(saved)
    call k%ts_gradient(n, grad, ierr, errmsg)
    call trap_end(saved)
    call name_kernel(kid, ierr, errmsg)
  end subroutine api_kernel_ts_gradient

end module ph_api
