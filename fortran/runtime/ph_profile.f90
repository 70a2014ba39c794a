!> \brief Per-rank profiling runtime: the location registry (checkpoint call sites
!! and adjoint routines), run-time activation flags of the sites, and the event
!! buffer that Tapenade's ADPROFILEADJ_* callbacks append to.
module ph_profile
  use, intrinsic :: iso_c_binding, only: c_int, c_long, c_char
  use ph_kinds, only: int8, int32, int64, ph_namelen
  use ph_stack, only: ph_stack_current
  implicit none
  private
  public :: ph_ev_snpwrite, ph_ev_beginadvance, ph_ev_endadvance, ph_ev_snpread, &
            ph_ev_beginreverse, ph_ev_endreverse, ph_ev_turn, ph_ev_startrepeat, &
            ph_ev_resetrepeat, ph_ev_endrepeat
  public :: ph_register, ph_lookup, ph_nlocations, ph_location, ph_registry_clear
  public :: ph_site_active, ph_set_active, ph_set_all_active
  public :: ph_prof_enable, ph_prof_enabled, ph_prof_clear, ph_prof_nevents, &
            ph_prof_copy, ph_prof_record, ph_prof_record_named, ph_prof_release
  public :: ph_clock_ns, ph_cpu_ns

  integer(int8), parameter :: ph_ev_snpwrite = 1_int8, ph_ev_beginadvance = 2_int8, &
    ph_ev_endadvance = 3_int8, ph_ev_snpread = 4_int8, ph_ev_beginreverse = 5_int8, &
    ph_ev_endreverse = 6_int8, ph_ev_turn = 7_int8, ph_ev_startrepeat = 8_int8, &
    ph_ev_resetrepeat = 9_int8, ph_ev_endrepeat = 10_int8

  type, bind(c) :: timespec
    integer(c_long) :: tv_sec
    integer(c_long) :: tv_nsec
  end type timespec

  interface
    function c_clock_gettime(clk, ts) bind(c, name='clock_gettime') result(r)
      import :: c_int, timespec
      integer(c_int), value :: clk
      type(timespec), intent(out) :: ts
      integer(c_int) :: r
    end function c_clock_gettime
  end interface
  integer(c_int), parameter :: clock_monotonic = 1, clock_process_cputime = 2

  ! location registry
  integer, save :: nloc = 0
  character(len=ph_namelen), allocatable, save :: loc_callee(:), loc_file(:)
  integer(int32), allocatable, save :: loc_line(:)
  logical, allocatable, save :: loc_is_site(:), loc_active(:)
  integer, allocatable, save :: htab(:)        ! open addressing: 0 empty, else id
  integer, save :: hcap = 0

  ! events
  logical, save :: enabled = .false.
  integer(int64), save :: nev = 0
  integer(int8), allocatable, save :: ev_kind(:)
  integer(int32), allocatable, save :: ev_loc(:)
  integer(int64), allocatable, save :: ev_wall(:), ev_cpu(:), ev_stack(:)
  integer(int64), save :: wall0 = 0, cpu0 = 0

contains

  !> \brief Monotonic wall clock in nanoseconds.
  integer(int64) function ph_clock_ns()
    type(timespec) :: ts
    integer(c_int) :: r
    r = c_clock_gettime(clock_monotonic, ts)
    ph_clock_ns = int(ts%tv_sec, int64) * 1000000000_int64 + int(ts%tv_nsec, int64)
  end function ph_clock_ns

  !> \brief CPU time of this process in nanoseconds.
  integer(int64) function ph_cpu_ns()
    type(timespec) :: ts
    integer(c_int) :: r
    r = c_clock_gettime(clock_process_cputime, ts)
    ph_cpu_ns = int(ts%tv_sec, int64) * 1000000000_int64 + int(ts%tv_nsec, int64)
  end function ph_cpu_ns

  ! ---------------------------------------------------------------- registry

  pure integer function strip_len(s)
    character(len=*), intent(in) :: s
    integer :: k
    k = index(s, char(0))
    if (k > 0) then
      strip_len = k - 1
    else
      strip_len = len_trim(s)
    end if
    strip_len = min(strip_len, ph_namelen)
  end function strip_len

  pure integer(int64) function hash_key(callee, file, line)
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    integer :: i
    integer(int64) :: h
    h = 1469598103934665603_int64
    do i = 1, len(callee)
      h = ieor(h, int(ichar(callee(i:i)), int64)) * 1099511628211_int64
    end do
    h = ieor(h, 47_int64) * 1099511628211_int64
    do i = 1, len(file)
      h = ieor(h, int(ichar(file(i:i)), int64)) * 1099511628211_int64
    end do
    h = ieor(h, int(line, int64)) * 1099511628211_int64
    hash_key = iand(h, huge(h))
  end function hash_key

  subroutine rehash(newcap)
    integer, intent(in) :: newcap
    integer :: id, slot
    if (allocated(htab)) deallocate(htab)
    allocate(htab(0:newcap - 1))
    htab = 0
    hcap = newcap
    do id = 1, nloc
      slot = int(mod(hash_key(trim(loc_callee(id)), trim(loc_file(id)), loc_line(id)), &
                     int(hcap, int64)))
      do while (htab(slot) /= 0)
        slot = mod(slot + 1, hcap)
      end do
      htab(slot) = id
    end do
  end subroutine rehash

  !> \brief Id (1-based) of a location, or 0 if it is not registered.
  integer function ph_lookup(callee, file, line) result(id)
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    integer :: slot, lc, lf, cand
    id = 0
    if (hcap == 0) return
    lc = strip_len(callee)
    lf = strip_len(file)
    slot = int(mod(hash_key(callee(1:lc), file(1:lf), line), int(hcap, int64)))
    do
      cand = htab(slot)
      if (cand == 0) return
      if (loc_line(cand) == line) then
        if (loc_callee(cand) == callee(1:lc) .and. loc_file(cand) == file(1:lf)) then
          id = cand
          return
        end if
      end if
      slot = mod(slot + 1, hcap)
    end do
  end function ph_lookup

  !> \brief Register a location (or find it) and return its 1-based id.
  !! \param[in] callee  called routine (sites) or adjoint routine (turns)
  !! \param[in] file    source file of the call
  !! \param[in] line    line of the call (0 for routines)
  !! \param[in] is_site .true. for a checkpoint call site
  integer function ph_register(callee, file, line, is_site) result(id)
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    logical, intent(in) :: is_site
    integer :: slot, lc, lf
    character(len=ph_namelen), allocatable :: tc(:), tf(:)
    integer(int32), allocatable :: tl(:)
    logical, allocatable :: ts(:), ta(:)
    id = ph_lookup(callee, file, line)
    if (id /= 0) return
    lc = strip_len(callee)
    lf = strip_len(file)
    if (.not. allocated(loc_callee)) then
      allocate(loc_callee(64), loc_file(64), loc_line(64), loc_is_site(64), loc_active(64))
    end if
    if (nloc == size(loc_callee)) then
      allocate(tc(2 * nloc), tf(2 * nloc), tl(2 * nloc), ts(2 * nloc), ta(2 * nloc))
      tc(1:nloc) = loc_callee(1:nloc); tf(1:nloc) = loc_file(1:nloc)
      tl(1:nloc) = loc_line(1:nloc); ts(1:nloc) = loc_is_site(1:nloc)
      ta(1:nloc) = loc_active(1:nloc)
      call move_alloc(tc, loc_callee); call move_alloc(tf, loc_file)
      call move_alloc(tl, loc_line); call move_alloc(ts, loc_is_site)
      call move_alloc(ta, loc_active)
    end if
    nloc = nloc + 1
    id = nloc
    loc_callee(id) = callee(1:lc)
    loc_file(id) = file(1:lf)
    loc_line(id) = line
    loc_is_site(id) = is_site
    loc_active(id) = .true.
    if (2 * nloc > hcap) then
      call rehash(max(256, 4 * hcap))
    else
      slot = int(mod(hash_key(callee(1:lc), file(1:lf), line), int(hcap, int64)))
      do while (htab(slot) /= 0)
        slot = mod(slot + 1, hcap)
      end do
      htab(slot) = id
    end if
  end function ph_register

  !> \brief Forget every location (kernels register theirs again at set-up).
  subroutine ph_registry_clear()
    nloc = 0
    if (allocated(htab)) htab = 0
  end subroutine ph_registry_clear

  integer function ph_nlocations()
    ph_nlocations = nloc
  end function ph_nlocations

  !> \brief Describe location id (1-based); line is -1 if id is out of range.
  subroutine ph_location(id, callee, file, line, is_site)
    integer, intent(in) :: id
    character(len=*), intent(out) :: callee, file
    integer, intent(out) :: line
    logical, intent(out) :: is_site
    if (id < 1 .or. id > nloc) then
      callee = ''; file = ''; line = -1; is_site = .false.
      return
    end if
    callee = loc_callee(id); file = loc_file(id)
    line = loc_line(id); is_site = loc_is_site(id)
  end subroutine ph_location

  !> \brief Is the checkpoint of site id active (checkpointed)?
  logical function ph_site_active(id)
    integer, intent(in) :: id
    ph_site_active = loc_active(id)
  end function ph_site_active

  subroutine ph_set_active(id, flag)
    integer, intent(in) :: id
    logical, intent(in) :: flag
    if (id >= 1 .and. id <= nloc) loc_active(id) = flag
  end subroutine ph_set_active

  subroutine ph_set_all_active(flag)
    logical, intent(in) :: flag
    if (nloc > 0) loc_active(1:nloc) = flag
  end subroutine ph_set_all_active

  ! ---------------------------------------------------------------- events

  !> \brief Switch event recording on or off (off: the callbacks return at once).
  subroutine ph_prof_enable(flag)
    logical, intent(in) :: flag
    enabled = flag
  end subroutine ph_prof_enable

  logical function ph_prof_enabled()
    ph_prof_enabled = enabled
  end function ph_prof_enabled

  !> \brief Drop recorded events and restart the clocks' origin.
  subroutine ph_prof_clear()
    nev = 0
    wall0 = ph_clock_ns()
    cpu0 = ph_cpu_ns()
  end subroutine ph_prof_clear

  subroutine ph_prof_release()
    if (allocated(ev_kind)) deallocate(ev_kind, ev_loc, ev_wall, ev_cpu, ev_stack)
    nev = 0
  end subroutine ph_prof_release

  integer(int64) function ph_prof_nevents()
    ph_prof_nevents = nev
  end function ph_prof_nevents

  subroutine grow_events()
    integer(int64) :: cap
    integer(int8), allocatable :: tk(:)
    integer(int32), allocatable :: tl(:)
    integer(int64), allocatable :: tw(:), tc(:), ts(:)
    if (.not. allocated(ev_kind)) then
      cap = 65536
      allocate(ev_kind(cap), ev_loc(cap), ev_wall(cap), ev_cpu(cap), ev_stack(cap))
      return
    end if
    cap = 2 * size(ev_kind, kind=int64)
    allocate(tk(cap), tl(cap), tw(cap), tc(cap), ts(cap))
    tk(1:nev) = ev_kind(1:nev); tl(1:nev) = ev_loc(1:nev); tw(1:nev) = ev_wall(1:nev)
    tc(1:nev) = ev_cpu(1:nev); ts(1:nev) = ev_stack(1:nev)
    call move_alloc(tk, ev_kind); call move_alloc(tl, ev_loc)
    call move_alloc(tw, ev_wall); call move_alloc(tc, ev_cpu)
    call move_alloc(ts, ev_stack)
  end subroutine grow_events

  !> \brief Append one event for location id (0 for none).
  subroutine ph_prof_record(kind, id)
    integer(int8), intent(in) :: kind
    integer, intent(in) :: id
    if (.not. enabled) return
    if (.not. allocated(ev_kind)) call grow_events()
    if (nev == size(ev_kind, kind=int64)) call grow_events()
    nev = nev + 1
    ev_kind(nev) = kind
    ev_loc(nev) = int(id, int32)
    ev_wall(nev) = ph_clock_ns() - wall0
    ev_cpu(nev) = ph_cpu_ns() - cpu0
    ev_stack(nev) = ph_stack_current()
  end subroutine ph_prof_record

  !> \brief Append one event for the location named (callee, file, line),
  !! registering it on first sight (NUL-terminated or blank-padded names).
  subroutine ph_prof_record_named(kind, callee, file, line, is_site)
    integer(int8), intent(in) :: kind
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    logical, intent(in) :: is_site
    if (.not. enabled) return
    call ph_prof_record(kind, ph_register(callee, file, line, is_site))
  end subroutine ph_prof_record_named

  !> \brief Copy the first n events out (ids become 0-based; -1 for none).
  subroutine ph_prof_copy(n, kind, loc, wall, cpu, stack)
    integer(int64), intent(in) :: n
    integer(int8), intent(out) :: kind(n)
    integer(int32), intent(out) :: loc(n)
    integer(int64), intent(out) :: wall(n), cpu(n), stack(n)
    integer(int64) :: m
    m = min(n, nev)
    if (m <= 0) return
    kind(1:m) = ev_kind(1:m)
    loc(1:m) = ev_loc(1:m) - 1_int32
    wall(1:m) = ev_wall(1:m)
    cpu(1:m) = ev_cpu(1:m)
    stack(1:m) = ev_stack(1:m)
  end subroutine ph_prof_copy

end module ph_profile
