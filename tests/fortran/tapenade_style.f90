! A small adjoint written the way Tapenade's -profile output calls the runtime:
! NUL-terminated names through implicit interfaces, PUSH*/POP* entry points.
! Call tree: main calls solve (line 12 of model.f, checkpointed) and, in a loop
! of 3, smooth (line 20 of model.f, inhibited). The test (test_runtime.py)
! derives the expected events and byte counts from this tree by hand.
! It prints: "LOC id callee file line is_site", "EV kind loc stack", "STAT ...".
program tapenade_style
  use ph_kinds, only: int8, int32, int64, real64
  use ph_stack, only: ph_stack_reset, ph_stack_peak, ph_stack_current, ph_stack_pushed, &
                      ph_stack_popped, ph_stack_set_limit, ph_stack_status
  use ph_profile, only: ph_prof_enable, ph_prof_clear, ph_prof_nevents, ph_prof_copy, &
                        ph_nlocations, ph_location
  implicit none
  real(real64) :: x(10), y(5), s
  integer :: i, n, line, ierr, cc
  logical :: site, flag
  integer(int64) :: nev
  integer(int8), allocatable :: kind(:)
  integer(int32), allocatable :: loc(:)
  integer(int64), allocatable :: wall(:), cpu(:), stack(:)
  character(len=64) :: callee, file
  character(len=256) :: msg

  x = 1.0_real64; y = 2.0_real64
  call ph_stack_reset()
  call ph_prof_clear()
  call ph_prof_enable(.true.)

  ! ---- forward sweep of main
  call ADPROFILEADJ_SNPWRITE('solve'//CHAR(0), 'model.f'//CHAR(0), 12)
  call PUSHREAL8ARRAY(x, 10)                      ! snapshot: 80 bytes
  call ADPROFILEADJ_BEGINADVANCE('solve'//CHAR(0), 'model.f'//CHAR(0), 12)
  x = 2.0_real64 * x                              ! untaped run of solve
  call ADPROFILEADJ_ENDADVANCE('solve'//CHAR(0), 'model.f'//CHAR(0), 12)
  do i = 1, 3
    call PUSHREAL8(x(i))                          ! smooth_fwd, inhibited: 8 bytes each
    call PUSHCONTROL1B(1)                         ! 1 bit each
    x(i) = x(i) + 1.0_real64
  end do
  call PUSHINTEGER4(i)                            ! 4 bytes
  call PUSHBOOLEAN(.true.)                        ! 1 bit
  call ADPROFILEADJ_TURN('main'//CHAR(0), 'model.f'//CHAR(0))
  ! ---- backward sweep of main
  call POPBOOLEAN(flag)
  call POPINTEGER4(n)
  do i = 3, 1, -1
    call POPCONTROL1B(cc)
    call POPREAL8(s)
  end do
  call ADPROFILEADJ_SNPREAD('solve'//CHAR(0), 'model.f'//CHAR(0), 12)
  call POPREAL8ARRAY(x, 10)
  call ADPROFILEADJ_BEGINREVERSE('solve'//CHAR(0), 'model.f'//CHAR(0), 12)
  call PUSHREAL8ARRAY(y, 5)                       ! solve_fwd: 40 bytes
  call ADPROFILEADJ_TURN('solve'//CHAR(0), 'model.f'//CHAR(0))
  call POPREAL8ARRAY(y, 5)
  call ADPROFILEADJ_ENDREVERSE('solve'//CHAR(0), 'model.f'//CHAR(0), 12)
  ! a fixed-point loop's repeated backward sweep
  call ADPROFILEADJ_STARTREPEAT()
  call ADPROFILEADJ_RESETREPEAT()
  call ADPROFILEADJ_ENDREPEAT()
  ! blank-padded names (no NUL) name the same site
  call ADPROFILEADJ_SNPWRITE('solve   ', 'model.f', 12)
  call ph_prof_enable(.false.)
  call ADPROFILEADJ_SNPWRITE('ignored'//CHAR(0), 'model.f'//CHAR(0), 99)   ! profiling off: not recorded

  n = ph_nlocations()
  do i = 1, n
    call ph_location(i, callee, file, line, site)
    write (*, '(a,1x,i0,1x,a,1x,a,1x,i0,1x,l1)') 'LOC', i - 1, trim(callee), trim(file), line, site
  end do
  nev = ph_prof_nevents()
  allocate(kind(nev), loc(nev), wall(nev), cpu(nev), stack(nev))
  call ph_prof_copy(nev, kind, loc, wall, cpu, stack)
  do i = 1, int(nev)
    write (*, '(a,1x,i0,1x,i0,1x,i0)') 'EV', kind(i), loc(i), stack(i)
  end do
  do i = 2, int(nev)
    if (wall(i) < wall(i - 1) .or. cpu(i) < cpu(i - 1)) write (*, '(a)') 'CLOCK NOT MONOTONIC'
  end do
  write (*, '(a,4(1x,i0))') 'STAT', ph_stack_current(), ph_stack_peak(), ph_stack_pushed(), ph_stack_popped()

  ! the limit: an error status; storing goes on, pops give what was pushed
  call ph_stack_reset()
  call ph_stack_set_limit(100_int64)
  call PUSHREAL8ARRAY(x, 10)                      ! 80 bytes: fits
  call PUSHREAL8ARRAY(y, 5)                       ! 120 > 100: stored, status set
  call ph_stack_status(ierr, msg)
  write (*, '(a,1x,i0,1x,i0,1x,a)') 'LIMIT', ierr, ph_stack_current(), trim(msg)
  y = 7.0_real64
  call POPREAL8ARRAY(y, 5)
  write (*, '(a,1x,f4.1)') 'POPPED', sum(y)
  ! underflow is an error too, never a crash
  call ph_stack_reset()
  call ph_stack_set_limit(0_int64)
  call POPREAL8(s)
  call ph_stack_status(ierr, msg)
  write (*, '(a,1x,i0,1x,a)') 'UNDERFLOW', ierr, trim(msg)
end program tapenade_style
