! Byte accounting, op by op, of a program that calls only Tapenade's entry
! points (and adStack_getCurrentStackSize, which adStack.c and the runtime both
! export). Linked once against the runtime and once against Tapenade's own
! adStack.c (tests/test_adstack_vs_tapenade.py, scripts/compare-adstack.sh), the
! two outputs must be the same line for line: "S <op> <bytes on the stack>"
! after every push, pop and repeat-section call, "V <op> <value popped>" for the
! values that must come back, "PEAK <largest size seen>" and the traffic at the end.
! Covers every scalar type, every array type, control values of 1 to 8 bits,
! booleans, characters, the 32-bit bit word filling and emptying across other
! pushes, a push that crosses adStack.c's 1 MiB block, and repeat sections
! (pushes inside the frozen part, several passes, nested sections, the bit word
! kept across a section).
program adstack_accounting
  use, intrinsic :: iso_c_binding, only: c_int64_t, c_ptr, c_loc, c_associated, c_null_ptr
  implicit none
  interface
    function stack_size() bind(C, name='adStack_getCurrentStackSize') result(n)
      import :: c_int64_t
      integer(c_int64_t) :: n
    end function
  end interface
  integer(c_int64_t) :: peak
  integer :: k, cc, i4, i4b, n, pass
  integer(8) :: i8, i8b, ia8(3), ia8b(3)
  integer :: ia4(5), ia4b(5)
  real(4) :: r4, r4b, ra4(3), ra4b(3)
  real(8) :: r8, r8b, ra8(4), ra8b(4)
  real(8), allocatable :: big(:), bigb(:)
  real(16) :: q, qb, qa(2), qab(2)
  complex(4) :: y, yb, ya(2), yab(2)
  complex(8) :: z, zb, za(2), zab(2)
  character :: c, cb
  character(len=11) :: s, sb
  logical :: l, lb, la(6), lab(6)
  real(8), target :: tgt
  type(c_ptr) :: p8, p8b

  peak = 0
  call sz('start')

  ! ---- scalars of every type
  r8 = 1.25d0; call PUSHREAL8(r8); call sz('real8')
  r4 = 2.5; call PUSHREAL4(r4); call sz('real4')
  q = 1.0_16/3; call PUSHREAL16(q); call sz('real16')
  i4 = -7; call PUSHINTEGER4(i4); call sz('integer4')
  i8 = -123456789012_8; call PUSHINTEGER8(i8); call sz('integer8')
  y = (0.25, 4.0); call PUSHCOMPLEX8(y); call sz('complex8')
  z = (1.5d0, -2.5d0); call PUSHCOMPLEX16(z); call sz('complex16')
  c = 'q'; call PUSHCHARACTER(c); call sz('character')
  p8 = c_loc(tgt); call PUSHPOINTER8(p8); call sz('pointer8')
  ! ---- arrays of every type
  ra8 = [1d0, 2d0, 3d0, 4d0]; call PUSHREAL8ARRAY(ra8, 4); call sz('real8array')
  ra4 = [5.0, 6.0, 7.0]; call PUSHREAL4ARRAY(ra4, 3); call sz('real4array')
  qa = [1.0_16/7, 2.0_16/9]; call PUSHREAL16ARRAY(qa, 2); call sz('real16array')
  ia4 = [1, -2, 3, -4, 5]; call PUSHINTEGER4ARRAY(ia4, 5); call sz('integer4array')
  ia8 = [10_8, -20_8, 30_8]; call PUSHINTEGER8ARRAY(ia8, 3); call sz('integer8array')
  ya = [(1.0, 2.0), (3.0, 4.0)]; call PUSHCOMPLEX8ARRAY(ya, 2); call sz('complex8array')
  za = [(5d0, 6d0), (7d0, 8d0)]; call PUSHCOMPLEX16ARRAY(za, 2); call sz('complex16array')
  s = 'Tapenade AD'; call PUSHCHARACTERARRAY(s, 11); call sz('characterarray')
  la = [.true., .false., .false., .true., .true., .false.]
  call PUSHBOOLEANARRAY(la, 6); call sz('booleanarray')
  ! ---- control values 1b..8b and booleans, filling the bit word several times,
  ! with word boundaries falling inside multi-bit values
  do n = 1, 8
    do k = 1, 9
      call push_control(n, mod(k*37, 2**n)); call sz('control')
    end do
  end do
  do k = 1, 40
    l = mod(k, 3) == 0; call PUSHBOOLEAN(l); call sz('boolean')
  end do
  ! ---- a scalar push with bits waiting in the word, then more bits
  r8 = -3.5d0; call PUSHREAL8(r8); call sz('real8-between-bits')
  do k = 1, 5
    call PUSHCONTROL3B(k); call sz('control3b')
  end do
  ! ---- across adStack.c's 1 MiB block: an array that ends past the block
  allocate (big(131075), bigb(131075))
  do k = 1, size(big)
    big(k) = k
  end do
  call PUSHREAL8ARRAY(big, size(big)); call sz('real8array-1MiB')
  call PUSHINTEGER4(i4); call sz('integer4-next-block')
  call write_peak('forward')

  ! ---- pops, in reverse
  call POPINTEGER4(i4b); call val('integer4', real(i4b, 8))
  call POPREAL8ARRAY(bigb, size(bigb)); call sz('real8array-1MiB')
  if (any(bigb /= big)) write (*, '(a)') 'BAD big'
  do k = 5, 1, -1
    call POPCONTROL3B(cc); call val('control3b', real(cc, 8))
  end do
  call POPREAL8(r8b); call val('real8-between-bits', r8b)
  do k = 40, 1, -1
    call POPBOOLEAN(lb); call val('boolean', merge(1d0, 0d0, lb))
  end do
  do n = 8, 1, -1
    do k = 9, 1, -1
      call pop_control(n, cc); call val('control', real(cc, 8))
    end do
  end do
  call POPBOOLEANARRAY(lab, 6); call sz('booleanarray')
  if (any(lab .neqv. la)) write (*, '(a)') 'BAD booleanarray'
  call POPCHARACTERARRAY(sb, 11); call sz('characterarray')
  if (sb /= s) write (*, '(a)') 'BAD characterarray'
  call POPCOMPLEX16ARRAY(zab, 2); call sz('complex16array')
  if (any(zab /= za)) write (*, '(a)') 'BAD complex16array'
  call POPCOMPLEX8ARRAY(yab, 2); call sz('complex8array')
  if (any(yab /= ya)) write (*, '(a)') 'BAD complex8array'
  call POPINTEGER8ARRAY(ia8b, 3); call sz('integer8array')
  if (any(ia8b /= ia8)) write (*, '(a)') 'BAD integer8array'
  call POPINTEGER4ARRAY(ia4b, 5); call sz('integer4array')
  if (any(ia4b /= ia4)) write (*, '(a)') 'BAD integer4array'
  call POPREAL16ARRAY(qab, 2); call sz('real16array')
  if (any(qab /= qa)) write (*, '(a)') 'BAD real16array'
  call POPREAL4ARRAY(ra4b, 3); call sz('real4array')
  if (any(ra4b /= ra4)) write (*, '(a)') 'BAD real4array'
  call POPREAL8ARRAY(ra8b, 4); call sz('real8array')
  if (any(ra8b /= ra8)) write (*, '(a)') 'BAD real8array'
  p8b = c_null_ptr
  call POPPOINTER8(p8b); call sz('pointer8')
  if (.not. c_associated(p8, p8b)) write (*, '(a)') 'BAD pointer8'
  call POPCHARACTER(cb); call sz('character')
  if (cb /= c) write (*, '(a)') 'BAD character'
  call POPCOMPLEX16(zb); call val('complex16', real(zb, 8) + 10*aimag(zb))
  call POPCOMPLEX8(yb); call val('complex8', real(real(yb) + 10*aimag(yb), 8))
  call POPINTEGER8(i8b); call val('integer8', real(i8b, 8))
  call POPINTEGER4(i4b); call val('integer4', real(i4b, 8))
  call POPREAL16(qb); call val('real16', real(qb*3, 8))
  call POPREAL4(r4b); call val('real4', real(r4b, 8))
  call POPREAL8(r8b); call val('real8', r8b)

  ! ---- repeat sections, as Tapenade's fixed-point adjoints use them
  do k = 1, 6
    r8 = k; call PUSHREAL8(r8); call sz('tape-real8')
  end do
  do k = 1, 5
    call PUSHCONTROL1B(mod(k, 2)); call sz('tape-control1b')
  end do
  call ADSTACK_STARTREPEAT(); call sz('startrepeat')
  do pass = 1, 3
    call ADSTACK_RESETREPEAT(); call sz('resetrepeat')
    do k = 5, 3, -1
      call POPCONTROL1B(cc); call val('frozen-control1b', real(cc, 8))
    end do
    call POPREAL8(r8b); call val('frozen-real8', r8b)
    ! the body pushes (and pops) its own tape inside the frozen part
    r8 = 100 + pass; call PUSHREAL8(r8); call sz('inner-real8')
    call PUSHCONTROL2B(mod(pass, 4)); call sz('inner-control2b')
    i4 = pass; call PUSHINTEGER4(i4); call sz('inner-integer4')
    call POPINTEGER4(i4b); call val('inner-integer4', real(i4b, 8))
    call POPCONTROL2B(cc); call val('inner-control2b', real(cc, 8))
    call POPREAL8(r8b); call val('inner-real8', r8b)
    call POPREAL8(r8b); call val('frozen-real8', r8b)
    ! a nested section inside the pass
    call ADSTACK_STARTREPEAT(); call sz('nested-startrepeat')
    do n = 1, 2
      call ADSTACK_RESETREPEAT(); call sz('nested-resetrepeat')
      call POPREAL8(r8b); call val('nested-frozen-real8', r8b)
      r8 = 200 + n; call PUSHREAL8(r8); call sz('nested-inner-real8')
      call POPREAL8(r8b); call val('nested-inner-real8', r8b)
    end do
    call ADSTACK_ENDREPEAT(); call sz('nested-endrepeat')
  end do
  call ADSTACK_ENDREPEAT(); call sz('endrepeat')
  ! after the section: the rest of the tape, popped once
  do while (stack_size() > 0)
    call POPREAL8(r8b); call val('after-real8', r8b)
  end do
  do k = 2, 1, -1
    call POPCONTROL1B(cc); call val('after-control1b', real(cc, 8))
  end do
  call write_peak('end')
  ! bytes pushed plus bytes popped (adStack.c counts them when built with -DADSTACK_PROFILE)
  call ADSTACK_SHOWTOTALTRAFFIC()

contains

  subroutine sz(tag)
    character(len=*), intent(in) :: tag
    integer(c_int64_t) :: n8
    n8 = stack_size()
    if (n8 > peak) peak = n8
    write (*, '(a,1x,a,1x,i0)') 'S', tag, n8
  end subroutine

  subroutine val(tag, v)
    character(len=*), intent(in) :: tag
    real(8), intent(in) :: v
    write (*, '(a,1x,a,1x,g0.17)') 'V', tag, v
    call sz(tag)
  end subroutine

  subroutine write_peak(tag)
    character(len=*), intent(in) :: tag
    write (*, '(a,1x,a,1x,i0)') 'PEAK', tag, peak
  end subroutine

  subroutine push_control(nb, v)
    integer, intent(in) :: nb, v
    select case (nb)
    case (1); call PUSHCONTROL1B(v)
    case (2); call PUSHCONTROL2B(v)
    case (3); call PUSHCONTROL3B(v)
    case (4); call PUSHCONTROL4B(v)
    case (5); call PUSHCONTROL5B(v)
    case (6); call PUSHCONTROL6B(v)
    case (7); call PUSHCONTROL7B(v)
    case (8); call PUSHCONTROL8B(v)
    end select
  end subroutine

  subroutine pop_control(nb, v)
    integer, intent(in) :: nb
    integer, intent(out) :: v
    select case (nb)
    case (1); call POPCONTROL1B(v)
    case (2); call POPCONTROL2B(v)
    case (3); call POPCONTROL3B(v)
    case (4); call POPCONTROL4B(v)
    case (5); call POPCONTROL5B(v)
    case (6); call POPCONTROL6B(v)
    case (7); call POPCONTROL7B(v)
    case (8); call POPCONTROL8B(v)
    end select
  end subroutine
end program adstack_accounting
