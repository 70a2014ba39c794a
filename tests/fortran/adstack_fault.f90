! Pushes the reals 1..5 and the control bits 1,0,1, pops them all, and prints
! what came back: "REALS v5 v4 v3 v2 v1", "CONTROLS c3 c2 c1", "STATUS code msg".
! Under PYHARNESS_FAULT the values show exactly what the fault did.
program adstack_fault
  use ph_stack, only: ph_stack_status
  implicit none
  real(8) :: v(5)
  integer :: i, c(3), ierr
  character(len=256) :: msg
  do i = 1, 5
    call PUSHREAL8(dble(i))
  end do
  call PUSHCONTROL1B(1)
  call PUSHCONTROL1B(0)
  call PUSHCONTROL1B(1)
  do i = 3, 1, -1
    call POPCONTROL1B(c(i))
  end do
  do i = 5, 1, -1
    call POPREAL8(v(i))
  end do
  write (*, '(a,5(1x,f4.1))') 'REALS', v(5:1:-1)
  write (*, '(a,3(1x,i0))') 'CONTROLS', c(3:1:-1)
  call ph_stack_status(ierr, msg)
  write (*, '(a,1x,i0,1x,a)') 'STATUS', ierr, trim(msg)
end program adstack_fault
