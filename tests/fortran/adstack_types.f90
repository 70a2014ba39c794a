! Every kind of push Tapenade emits, then every pop in reverse, printing the
! stack size after each group ("SIZE tag bytes") and checking every value
! ("BAD tag" if one comes back wrong). Byte counts are derived by hand in
! tests/test_runtime_adstack.py from adStack.c's accounting.
program adstack_types
  use, intrinsic :: iso_c_binding, only: c_ptr, c_loc, c_associated
  use ph_stack, only: ph_stack_reset, ph_stack_peak, ph_stack_current, ph_stack_pushed, &
                      ph_stack_popped
  implicit none
  logical :: l(7), l2(7), b, b2(30)
  character(len=13) :: s, s2
  character :: c, c2
  complex(8) :: z, z2
  complex(4) :: y, y2
  integer(8) :: i8, i8b
  real(4) :: r4(3), r4b(3)
  real(16) :: q, q2
  real(8), target :: tgt
  type(c_ptr) :: ptr, ptr2
  integer :: k, cc
  call ph_stack_reset()
  do k = 1, 100
    call PUSHCONTROL1B(mod(k, 2))
  end do
  call size('ctl1b')
  do k = 1, 10
    call PUSHCONTROL3B(mod(k, 8))
  end do
  call size('ctl3b')
  do k = 1, 30
    call PUSHBOOLEAN(mod(k, 3) == 0)
  end do
  call size('bool')
  l = [.true., .false., .true., .true., .false., .false., .true.]
  call PUSHBOOLEANARRAY(l, 7)
  call size('boolarray')
  s = 'Tapenade rule'
  call PUSHCHARACTERARRAY(s, 13)
  call size('chararray')
  c = 'x'
  call PUSHCHARACTER(c)
  call size('char')
  call PUSHCONTROL8B(200)
  call size('ctl8b')
  z = (1.5d0, -2.5d0); y = (0.25, 4.0); i8 = -123456789012_8; r4 = [1.0, 2.0, 3.0]; q = 1.0_16/3
  call PUSHCOMPLEX16(z)
  call PUSHCOMPLEX8(y)
  call PUSHINTEGER8(i8)
  call PUSHREAL4ARRAY(r4, 3)
  call PUSHREAL16(q)
  ptr = c_loc(tgt)
  call PUSHPOINTER8(ptr)
  call size('scalars')
  write (*, '(a,i0)') 'PEAK ', ph_stack_peak()
  ! ---- pops, in reverse
  call POPPOINTER8(ptr2)
  if (.not. c_associated(ptr, ptr2)) write (*, '(a)') 'BAD pointer8'
  call POPREAL16(q2);       if (q2 /= q) write (*, '(a)') 'BAD real16'
  call POPREAL4ARRAY(r4b, 3); if (any(r4b /= r4)) write (*, '(a)') 'BAD real4array'
  call POPINTEGER8(i8b);    if (i8b /= i8) write (*, '(a)') 'BAD integer8'
  call POPCOMPLEX8(y2);     if (y2 /= y) write (*, '(a)') 'BAD complex8'
  call POPCOMPLEX16(z2);    if (z2 /= z) write (*, '(a)') 'BAD complex16'
  call POPCONTROL8B(cc);    if (cc /= 200) write (*, '(a)') 'BAD ctl8b'
  call POPCHARACTER(c2);    if (c2 /= c) write (*, '(a)') 'BAD char'
  call POPCHARACTERARRAY(s2, 13); if (s2 /= s) write (*, '(a)') 'BAD chararray'
  call POPBOOLEANARRAY(l2, 7); if (any(l2 .neqv. l)) write (*, '(a)') 'BAD boolarray'
  call size('after-boolarray')
  do k = 30, 1, -1
    call POPBOOLEAN(b2(k))
    if (b2(k) .neqv. (mod(k, 3) == 0)) write (*, '(a,i0)') 'BAD bool ', k
  end do
  do k = 10, 1, -1
    call POPCONTROL3B(cc)
    if (cc /= mod(k, 8)) write (*, '(a,i0)') 'BAD ctl3b ', k
  end do
  do k = 100, 1, -1
    call POPCONTROL1B(cc)
    if (cc /= mod(k, 2)) write (*, '(a,i0)') 'BAD ctl1b ', k
  end do
  b = .true.
  call size('end')
  write (*, '(a,2(1x,i0))') 'TRAFFIC', ph_stack_pushed(), ph_stack_popped()
  call ADSTACK_SHOWPEAKSIZE()
  call ADSTACK_SHOWTOTALTRAFFIC()
contains
  subroutine size(tag)
    character(len=*), intent(in) :: tag
    write (*, '(a,1x,a,1x,i0)') 'SIZE', tag, ph_stack_current()
  end subroutine size
end program adstack_types
