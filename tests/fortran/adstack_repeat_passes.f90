! The 30-line check of repeat sections: ten reals frozen by ADSTACK_STARTREPEAT,
! two passes, each popping three, pushing four (inside the frozen part), popping
! those four, then the seven left. Every pass must pop 10..1 and the four 99s.
! Prints "PASS k v1 ... v14", then "PEAK", "LEFT" and "SIZE" after the section.
program adstack_repeat_passes
  use ph_stack, only: ph_stack_reset, ph_stack_peak, ph_stack_current
  implicit none
  real(8) :: v(14)
  integer :: i, k, pass
  call ph_stack_reset()
  do i = 1, 10
    call PUSHREAL8(dble(i))
  end do
  call ADSTACK_STARTREPEAT()
  do pass = 1, 2
    call ADSTACK_RESETREPEAT()
    k = 0
    do i = 1, 3
      k = k + 1; call POPREAL8(v(k))
    end do
    do i = 1, 4
      call PUSHREAL8(99.0d0)
    end do
    do i = 1, 4
      k = k + 1; call POPREAL8(v(k))
    end do
    do i = 1, 7
      k = k + 1; call POPREAL8(v(k))
    end do
    write (*, '(a,i0,14(1x,f4.0))') 'PASS ', pass, v
  end do
  call ADSTACK_ENDREPEAT()
  write (*, '(a,i0)') 'PEAK ', ph_stack_peak()
  write (*, '(a,i0)') 'LEFT ', ph_stack_current()
end program adstack_repeat_passes
