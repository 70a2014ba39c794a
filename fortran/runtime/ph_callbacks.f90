!> \brief Tapenade's profiling callbacks (the names and argument order that
!! Tapenade's -profile adjoints call), as external procedures. Names arrive
!! NUL-terminated (`'cg_solve'//CHAR(0)`) or blank-padded; lines as integers.
!! Each callback appends one event to the per-rank buffer (see ph_profile).

subroutine adprofileadj_snpwrite(callee, file, line)
  use ph_profile, only: ph_prof_record_named, ph_ev_snpwrite
  implicit none
  character(len=*), intent(in) :: callee, file
  integer, intent(in) :: line
  call ph_prof_record_named(ph_ev_snpwrite, callee, file, line, .true.)
end subroutine adprofileadj_snpwrite

subroutine adprofileadj_beginadvance(callee, file, line)
  use ph_profile, only: ph_prof_record_named, ph_ev_beginadvance
  implicit none
  character(len=*), intent(in) :: callee, file
  integer, intent(in) :: line
  call ph_prof_record_named(ph_ev_beginadvance, callee, file, line, .true.)
end subroutine adprofileadj_beginadvance

subroutine adprofileadj_endadvance(callee, file, line)
  use ph_profile, only: ph_prof_record_named, ph_ev_endadvance
  implicit none
  character(len=*), intent(in) :: callee, file
  integer, intent(in) :: line
  call ph_prof_record_named(ph_ev_endadvance, callee, file, line, .true.)
end subroutine adprofileadj_endadvance

subroutine adprofileadj_snpread(callee, file, line)
  use ph_profile, only: ph_prof_record_named, ph_ev_snpread
  implicit none
  character(len=*), intent(in) :: callee, file
  integer, intent(in) :: line
  call ph_prof_record_named(ph_ev_snpread, callee, file, line, .true.)
end subroutine adprofileadj_snpread

subroutine adprofileadj_beginreverse(callee, file, line)
  use ph_profile, only: ph_prof_record_named, ph_ev_beginreverse
  implicit none
  character(len=*), intent(in) :: callee, file
  integer, intent(in) :: line
  call ph_prof_record_named(ph_ev_beginreverse, callee, file, line, .true.)
end subroutine adprofileadj_beginreverse

subroutine adprofileadj_endreverse(callee, file, line)
  use ph_profile, only: ph_prof_record_named, ph_ev_endreverse
  implicit none
  character(len=*), intent(in) :: callee, file
  integer, intent(in) :: line
  call ph_prof_record_named(ph_ev_endreverse, callee, file, line, .true.)
end subroutine adprofileadj_endreverse

subroutine adprofileadj_turn(routine, file)
  use ph_profile, only: ph_prof_record_named, ph_ev_turn
  implicit none
  character(len=*), intent(in) :: routine, file
  call ph_prof_record_named(ph_ev_turn, routine, file, 0, .false.)
end subroutine adprofileadj_turn

subroutine adprofileadj_startrepeat()
  use ph_profile, only: ph_prof_record, ph_ev_startrepeat
  implicit none
  call ph_prof_record(ph_ev_startrepeat, 0)
end subroutine adprofileadj_startrepeat

subroutine adprofileadj_resetrepeat()
  use ph_profile, only: ph_prof_record, ph_ev_resetrepeat
  implicit none
  call ph_prof_record(ph_ev_resetrepeat, 0)
end subroutine adprofileadj_resetrepeat

subroutine adprofileadj_endrepeat()
  use ph_profile, only: ph_prof_record, ph_ev_endrepeat
  implicit none
  call ph_prof_record(ph_ev_endrepeat, 0)
end subroutine adprofileadj_endrepeat
