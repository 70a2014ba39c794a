!> \brief The static checkpoint sites of the kernel set up last, by number, and
!! the profiling events of each site by its location id (no name lookup per
!! event). A kernel registers its table (callee, primal file, line of the call)
!! once at set-up; its generated code then says `act(S_FOO)`, `snp_write(S_FOO)`,
!! ... Names are stored whole in the runtime's registry, whatever their length.
module ph_sitecalls
  use ph_kinds, only: int8
  use ph_profile, only: ph_register, ph_site_active, ph_prof_record, ph_trace_on, &
                        ph_ev_snpwrite, ph_ev_beginadvance, ph_ev_endadvance, ph_ev_snpread, &
                        ph_ev_beginreverse, ph_ev_endreverse, ph_ev_turn
  implicit none
  private
  public :: sites_register, act, snp_write, begin_adv, end_adv, snp_read, begin_rev, end_rev, turn

  integer, allocatable, save :: id_(:)        !< location id of site s
  integer, allocatable, save :: turn_id_(:)   !< location id of the callee's routine (0: not yet)
  character(len=:), allocatable, save :: callee_(:), file_(:)

contains

  !> register sites 1..n (all active) in the runtime's location registry;
  !! astat nonzero: the tables could not be allocated (nothing registered)
  subroutine sites_register(n, callee, file, line, astat)
    integer, intent(in) :: n
    character(len=*), intent(in) :: callee(n), file(n)
    integer, intent(in) :: line(n)
    integer, intent(out) :: astat
    integer :: s
    call release()
    allocate(id_(n), turn_id_(n), stat=astat)
    if (astat == 0) allocate(character(len=len(callee)) :: callee_(n), stat=astat)
    if (astat == 0) allocate(character(len=len(file)) :: file_(n), stat=astat)
    if (astat /= 0) then
      call release()
      return
    end if
    callee_ = callee
    file_ = file
    turn_id_ = 0
    do s = 1, n
      id_(s) = ph_register(callee(s), file(s), line(s), .true.)
    end do
  end subroutine sites_register

  subroutine release()
    if (allocated(id_)) deallocate(id_)
    if (allocated(turn_id_)) deallocate(turn_id_)
    if (allocated(callee_)) deallocate(callee_)
    if (allocated(file_)) deallocate(file_)
  end subroutine release

  !> is site s checkpointed in this run?
  logical function act(s)
    integer, intent(in) :: s
    act = ph_site_active(id_(s))
  end function act

  subroutine ev(kind, s)
    integer(int8), intent(in) :: kind
    integer, intent(in) :: s
    if (ph_trace_on == 0) return
    call ph_prof_record(kind, id_(s))
  end subroutine ev

  subroutine snp_write(s)
    integer, intent(in) :: s
    call ev(ph_ev_snpwrite, s)
  end subroutine snp_write
  subroutine begin_adv(s)
    integer, intent(in) :: s
    call ev(ph_ev_beginadvance, s)
  end subroutine begin_adv
  subroutine end_adv(s)
    integer, intent(in) :: s
    call ev(ph_ev_endadvance, s)
  end subroutine end_adv
  subroutine snp_read(s)
    integer, intent(in) :: s
    call ev(ph_ev_snpread, s)
  end subroutine snp_read
  subroutine begin_rev(s)
    integer, intent(in) :: s
    call ev(ph_ev_beginreverse, s)
  end subroutine begin_rev
  subroutine end_rev(s)
    integer, intent(in) :: s
    call ev(ph_ev_endreverse, s)
  end subroutine end_rev
  !> the turn of the callee of site s (its joint-mode re-run); the routine is
  !! registered at its first turn, as Tapenade's callbacks would
  subroutine turn(s)
    integer, intent(in) :: s
    if (ph_trace_on == 0) return
    if (turn_id_(s) == 0) turn_id_(s) = ph_register(callee_(s), file_(s), 0, .false.)
    call ph_prof_record(ph_ev_turn, turn_id_(s))
  end subroutine turn

end module ph_sitecalls
