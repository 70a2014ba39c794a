!> \brief Per-rank profiling runtime seen from Fortran: the location registry
!! (checkpoint call sites and adjoint routines), run-time activation flags of the
!! sites, and the event buffer. A thin layer over the C recorder (ph_trace.c),
!! which also provides Tapenade's ADPROFILEADJ_* callbacks by name. Events are
!! recorded by location id; names are stored whole, whatever their length.
module ph_profile
  use, intrinsic :: iso_c_binding, only: c_int8_t, c_int32_t, c_int64_t, c_char, c_null_char
  use ph_kinds, only: int8, int32, int64
  implicit none
  private
  public :: ph_ev_snpwrite, ph_ev_beginadvance, ph_ev_endadvance, ph_ev_snpread, &
            ph_ev_beginreverse, ph_ev_endreverse, ph_ev_turn, ph_ev_startrepeat, &
            ph_ev_resetrepeat, ph_ev_endrepeat
  public :: ph_register, ph_lookup, ph_nlocations, ph_location, ph_location_len, &
            ph_registry_clear
  public :: ph_site_active, ph_set_active, ph_set_all_active
  public :: ph_prof_enable, ph_prof_enabled, ph_prof_clear, ph_prof_nevents, &
            ph_prof_copy, ph_prof_copy_ctl, ph_prof_record, ph_prof_record_named, ph_prof_release, &
            ph_prof_set_cpu_clock, ph_prof_cpu_clock, ph_prof_write
  public :: ph_clock_ns, ph_cpu_ns
  public :: ph_trace_on

  integer(int8), parameter :: ph_ev_snpwrite = 1_int8, ph_ev_beginadvance = 2_int8, &
    ph_ev_endadvance = 3_int8, ph_ev_snpread = 4_int8, ph_ev_beginreverse = 5_int8, &
    ph_ev_endreverse = 6_int8, ph_ev_turn = 7_int8, ph_ev_startrepeat = 8_int8, &
    ph_ev_resetrepeat = 9_int8, ph_ev_endrepeat = 10_int8

  !> nonzero while events are recorded (test it before calling in)
  integer(c_int32_t), bind(c, name='ph_trace_on') :: ph_trace_on

  interface
    function c_register(callee, lc, file, lf, line, is_site) bind(c, name='ph_trace_register') result(id)
      import :: c_char, c_int32_t, c_int64_t
      character(kind=c_char), intent(in) :: callee(*), file(*)
      integer(c_int64_t), value :: lc, lf
      integer(c_int32_t), value :: line, is_site
      integer(c_int32_t) :: id
    end function c_register
    function c_lookup(callee, lc, file, lf, line) bind(c, name='ph_trace_lookup') result(id)
      import :: c_char, c_int32_t, c_int64_t
      character(kind=c_char), intent(in) :: callee(*), file(*)
      integer(c_int64_t), value :: lc, lf
      integer(c_int32_t), value :: line
      integer(c_int32_t) :: id
    end function c_lookup
    subroutine ph_registry_clear() bind(c, name='ph_trace_registry_clear')
    end subroutine ph_registry_clear
    function c_nlocations() bind(c, name='ph_trace_nlocations') result(n)
      import :: c_int32_t
      integer(c_int32_t) :: n
    end function c_nlocations
    function c_location_info(id, lc, lf, line, is_site) bind(c, name='ph_trace_location_info') result(r)
      import :: c_int32_t, c_int64_t
      integer(c_int32_t), value :: id
      integer(c_int64_t), intent(out) :: lc, lf
      integer(c_int32_t), intent(out) :: line, is_site
      integer(c_int32_t) :: r
    end function c_location_info
    subroutine c_location_names(id, callee, nc, file, nf) bind(c, name='ph_trace_location_names')
      import :: c_char, c_int32_t, c_int64_t
      integer(c_int32_t), value :: id
      character(kind=c_char), intent(inout) :: callee(*), file(*)
      integer(c_int64_t), value :: nc, nf
    end subroutine c_location_names
    function c_site_active(id) bind(c, name='ph_trace_site_active') result(r)
      import :: c_int32_t
      integer(c_int32_t), value :: id
      integer(c_int32_t) :: r
    end function c_site_active
    subroutine c_set_active(id, flag) bind(c, name='ph_trace_set_active')
      import :: c_int32_t
      integer(c_int32_t), value :: id, flag
    end subroutine c_set_active
    subroutine c_set_all_active(flag) bind(c, name='ph_trace_set_all_active')
      import :: c_int32_t
      integer(c_int32_t), value :: flag
    end subroutine c_set_all_active
    subroutine c_enable(flag) bind(c, name='ph_trace_enable')
      import :: c_int32_t
      integer(c_int32_t), value :: flag
    end subroutine c_enable
    subroutine c_set_cpu_clock(flag) bind(c, name='ph_trace_set_cpu_clock')
      import :: c_int32_t
      integer(c_int32_t), value :: flag
    end subroutine c_set_cpu_clock
    function c_cpu_clock() bind(c, name='ph_trace_cpu_clock') result(r)
      import :: c_int32_t
      integer(c_int32_t) :: r
    end function c_cpu_clock
    subroutine ph_prof_clear() bind(c, name='ph_trace_clear')
    end subroutine ph_prof_clear
    subroutine ph_prof_release() bind(c, name='ph_trace_release')
    end subroutine ph_prof_release
    function ph_prof_nevents() bind(c, name='ph_trace_nevents') result(n)
      import :: c_int64_t
      integer(c_int64_t) :: n
    end function ph_prof_nevents
    subroutine c_record(kind, id) bind(c, name='ph_trace_record')
      import :: c_int32_t
      integer(c_int32_t), value :: kind, id
    end subroutine c_record
    subroutine c_copy(n, kind, loc, wall, cpu, stack) bind(c, name='ph_trace_copy')
      import :: c_int8_t, c_int32_t, c_int64_t
      integer(c_int64_t), value :: n
      integer(c_int8_t), intent(inout) :: kind(*)
      integer(c_int32_t), intent(inout) :: loc(*)
      integer(c_int64_t), intent(inout) :: wall(*), cpu(*), stack(*)
    end subroutine c_copy
    subroutine c_copy_ctl(n, ctl) bind(c, name='ph_trace_copy_ctl')
      import :: c_int64_t
      integer(c_int64_t), value :: n
      integer(c_int64_t), intent(inout) :: ctl(*)
    end subroutine c_copy_ctl
    function ph_clock_ns() bind(c, name='ph_trace_wall_ns') result(t)
      import :: c_int64_t
      integer(c_int64_t) :: t
    end function ph_clock_ns
    function ph_cpu_ns() bind(c, name='ph_trace_cpu_ns') result(t)
      import :: c_int64_t
      integer(c_int64_t) :: t
    end function ph_cpu_ns
    function c_write(dir, errmsg, errlen) bind(c, name='ph_trace_write') result(r)
      import :: c_char, c_int32_t, c_int64_t
      character(kind=c_char), intent(in) :: dir(*)
      character(kind=c_char), intent(inout) :: errmsg(*)
      integer(c_int64_t), value :: errlen
      integer(c_int32_t) :: r
    end function c_write
  end interface

contains

  !> \brief Id (1-based) of a location, or 0 if it is not registered.
  integer function ph_lookup(callee, file, line) result(id)
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    id = c_lookup(callee, len(callee, c_int64_t), file, len(file, c_int64_t), int(line, c_int32_t))
  end function ph_lookup

  !> \brief Register a location (or find it) and return its 1-based id. Names end
  !! at a NUL or are blank-padded; they are stored whole.
  !! \param[in] callee  called routine (sites) or adjoint routine (turns)
  !! \param[in] file    source file of the call
  !! \param[in] line    line of the call (0 for routines)
  !! \param[in] is_site .true. for a checkpoint call site
  integer function ph_register(callee, file, line, is_site) result(id)
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    logical, intent(in) :: is_site
    id = c_register(callee, len(callee, c_int64_t), file, len(file, c_int64_t), &
                    int(line, c_int32_t), merge(1_c_int32_t, 0_c_int32_t, is_site))
  end function ph_register

  integer function ph_nlocations()
    ph_nlocations = c_nlocations()
  end function ph_nlocations

  !> \brief Lengths of the names of location id (0 if id is out of range).
  subroutine ph_location_len(id, lc, lf)
    integer, intent(in) :: id
    integer, intent(out) :: lc, lf
    integer(c_int64_t) :: a, b
    integer(c_int32_t) :: line, s
    if (c_location_info(int(id, c_int32_t), a, b, line, s) /= 0) then
      lc = 0; lf = 0
    else
      lc = int(a); lf = int(b)
    end if
  end subroutine ph_location_len

  !> \brief Describe location id (1-based); line is -1 if id is out of range.
  !! Names longer than the actual arguments are cut to fit (ph_location_len).
  subroutine ph_location(id, callee, file, line, is_site)
    integer, intent(in) :: id
    character(len=*), intent(out) :: callee, file
    integer, intent(out) :: line
    logical, intent(out) :: is_site
    integer(c_int64_t) :: lc, lf
    integer(c_int32_t) :: l, s
    callee = ''; file = ''
    if (c_location_info(int(id, c_int32_t), lc, lf, l, s) /= 0) then
      line = -1; is_site = .false.
      return
    end if
    call c_location_names(int(id, c_int32_t), callee, min(lc, len(callee, c_int64_t)), &
                          file, min(lf, len(file, c_int64_t)))
    line = int(l); is_site = s /= 0
  end subroutine ph_location

  !> \brief Is the checkpoint of site id active (checkpointed)?
  logical function ph_site_active(id)
    integer, intent(in) :: id
    ph_site_active = c_site_active(int(id, c_int32_t)) /= 0
  end function ph_site_active

  subroutine ph_set_active(id, flag)
    integer, intent(in) :: id
    logical, intent(in) :: flag
    call c_set_active(int(id, c_int32_t), merge(1_c_int32_t, 0_c_int32_t, flag))
  end subroutine ph_set_active

  subroutine ph_set_all_active(flag)
    logical, intent(in) :: flag
    call c_set_all_active(merge(1_c_int32_t, 0_c_int32_t, flag))
  end subroutine ph_set_all_active

  !> \brief Switch event recording on or off (off: the callbacks return at once).
  subroutine ph_prof_enable(flag)
    logical, intent(in) :: flag
    call c_enable(merge(1_c_int32_t, 0_c_int32_t, flag))
  end subroutine ph_prof_enable

  logical function ph_prof_enabled()
    ph_prof_enabled = ph_trace_on /= 0
  end function ph_prof_enabled

  !> \brief Read the thread CPU clock at every event (off by default: it is a system call).
  subroutine ph_prof_set_cpu_clock(flag)
    logical, intent(in) :: flag
    call c_set_cpu_clock(merge(1_c_int32_t, 0_c_int32_t, flag))
  end subroutine ph_prof_set_cpu_clock

  logical function ph_prof_cpu_clock()
    ph_prof_cpu_clock = c_cpu_clock() /= 0
  end function ph_prof_cpu_clock

  !> \brief Append one event for location id (0 for none).
  subroutine ph_prof_record(kind, id)
    integer(int8), intent(in) :: kind
    integer, intent(in) :: id
    if (ph_trace_on == 0) return
    call c_record(int(kind, c_int32_t), int(id, c_int32_t))
  end subroutine ph_prof_record

  !> \brief Append one event for the location named (callee, file, line),
  !! registering it on first sight (NUL-terminated or blank-padded names).
  subroutine ph_prof_record_named(kind, callee, file, line, is_site)
    integer(int8), intent(in) :: kind
    character(len=*), intent(in) :: callee, file
    integer, intent(in) :: line
    logical, intent(in) :: is_site
    if (ph_trace_on == 0) return
    call c_record(int(kind, c_int32_t), int(ph_register(callee, file, line, is_site), c_int32_t))
  end subroutine ph_prof_record_named

  !> \brief Copy the first n events out (ids become 0-based; -1 for none).
  subroutine ph_prof_copy(n, kind, loc, wall, cpu, stack)
    integer(int64), intent(in) :: n
    integer(int8), intent(out) :: kind(n)
    integer(int32), intent(out) :: loc(n)
    integer(int64), intent(out) :: wall(n), cpu(n), stack(n)
    call c_copy(n, kind, loc, wall, cpu, stack)
  end subroutine ph_prof_copy

  !> \brief Copy the control bits on the AD stack at the first n events (32 per
  !! control word on the stack plus those still in the word; docs/MODEL.md).
  subroutine ph_prof_copy_ctl(n, ctl)
    integer(int64), intent(in) :: n
    integer(int64), intent(out) :: ctl(n)
    call c_copy_ctl(n, ctl)
  end subroutine ph_prof_copy_ctl

  !> \brief Write this rank's trace file dir/pyharness.NNNNN.phtrace (docs/FORMAT.md).
  subroutine ph_prof_write(dir, ierr, errmsg)
    character(len=*), intent(in) :: dir
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    character(kind=c_char, len=len(errmsg) + 1) :: buf
    integer :: k
    buf = ''
    ierr = int(c_write(trim(dir)//c_null_char, buf, len(buf, c_int64_t)))
    k = index(buf, c_null_char)
    if (k == 0) k = len(buf) + 1
    errmsg = buf(1:k - 1)
  end subroutine ph_prof_write

end module ph_profile
