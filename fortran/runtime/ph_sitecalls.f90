!> \brief The static checkpoint sites of the kernel set up last, by number, and
!! Tapenade's profiling callbacks (ADPROFILEADJ_*) with each site's names. A
!! kernel registers its table (callee, primal file, line of the call) once at
!! set-up; its generated code then says `act(S_FOO)`, `snp_write(S_FOO)`, ...
module ph_sitecalls
  use ph_profile, only: ph_register, ph_site_active
  implicit none
  private
  public :: sites_register, act, snp_write, begin_adv, end_adv, snp_read, begin_rev, end_rev, turn

  integer, parameter :: namelen = 32
  character(len=namelen), allocatable, save :: callee_(:), file_(:)
  integer, allocatable, save :: line_(:), id_(:)

contains

  !> register sites 1..n (all active) in the runtime's location registry
  subroutine sites_register(n, callee, file, line)
    integer, intent(in) :: n
    character(len=*), intent(in) :: callee(n), file(n)
    integer, intent(in) :: line(n)
    integer :: s
    if (allocated(callee_)) deallocate(callee_, file_, line_, id_)
    allocate(callee_(n), file_(n), line_(n), id_(n))
    callee_ = callee
    file_ = file
    line_ = line
    do s = 1, n
      id_(s) = ph_register(trim(callee_(s)), trim(file_(s)), line_(s), .true.)
    end do
  end subroutine sites_register

  !> is site s checkpointed in this run?
  logical function act(s)
    integer, intent(in) :: s
    act = ph_site_active(id_(s))
  end function act

  subroutine snp_write(s)
    integer, intent(in) :: s
    call adprofileadj_snpwrite(trim(callee_(s))//char(0), trim(file_(s))//char(0), line_(s))
  end subroutine snp_write
  subroutine begin_adv(s)
    integer, intent(in) :: s
    call adprofileadj_beginadvance(trim(callee_(s))//char(0), trim(file_(s))//char(0), line_(s))
  end subroutine begin_adv
  subroutine end_adv(s)
    integer, intent(in) :: s
    call adprofileadj_endadvance(trim(callee_(s))//char(0), trim(file_(s))//char(0), line_(s))
  end subroutine end_adv
  subroutine snp_read(s)
    integer, intent(in) :: s
    call adprofileadj_snpread(trim(callee_(s))//char(0), trim(file_(s))//char(0), line_(s))
  end subroutine snp_read
  subroutine begin_rev(s)
    integer, intent(in) :: s
    call adprofileadj_beginreverse(trim(callee_(s))//char(0), trim(file_(s))//char(0), line_(s))
  end subroutine begin_rev
  subroutine end_rev(s)
    integer, intent(in) :: s
    call adprofileadj_endreverse(trim(callee_(s))//char(0), trim(file_(s))//char(0), line_(s))
  end subroutine end_rev
  !> the turn of the callee of site s (its joint-mode re-run)
  subroutine turn(s)
    integer, intent(in) :: s
    call adprofileadj_turn(trim(callee_(s))//char(0), trim(file_(s))//char(0))
  end subroutine turn

end module ph_sitecalls
