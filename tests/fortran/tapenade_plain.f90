! A Tapenade-shaped adjoint without MPI, linked the default way (plain gfortran,
! `pyharness-config --libs`: the static archive): implicit interfaces only, no
! .mod file, nothing but Tapenade's entry points and -profile callbacks.
!
! Primal: y = sq(x) (line 11 of plain.f90, checkpointed), cost = sum(y); sq(x)
! = x**2 where x > 0, else -x (a control bit per element). Adjoint in joint mode:
! snapshot x, run sq untaped; at the turn restore x, run sq taped (x and the
! bits), pop them back. xb = 2 x where x > 0, else -1.
! Prints "GRAD i xb ref", then ADSTACK_SHOWPEAKSIZE's line: the peak is the
! snapshot, 5 reals (40 bytes); the taped call pushes 3 reals, its 5 bits stay
! in the word. 8 events: 6 at the site, 2 turns.
program tapenade_plain
  implicit none
  integer, parameter :: n = 5
  real(8) :: x(n), xb(n), y(n), yb(n), ref(n)
  integer :: i, c
  do i = 1, n
    x(i) = 0.4d0 * i - 1.1d0
  end do
  ! ---- forward sweep: snapshot, untaped call
  call ADPROFILEADJ_SNPWRITE('sq'//CHAR(0), 'plain.f90'//CHAR(0), 11)
  call PUSHREAL8ARRAY(x, n)
  call ADPROFILEADJ_BEGINADVANCE('sq'//CHAR(0), 'plain.f90'//CHAR(0), 11)
  call sq(x, y)
  call ADPROFILEADJ_ENDADVANCE('sq'//CHAR(0), 'plain.f90'//CHAR(0), 11)
  call ADPROFILEADJ_TURN('main'//CHAR(0), 'plain.f90'//CHAR(0))
  ! ---- backward sweep: restore, taped call, its adjoint
  yb = 1.0d0
  xb = 0.0d0
  call ADPROFILEADJ_SNPREAD('sq'//CHAR(0), 'plain.f90'//CHAR(0), 11)
  call POPREAL8ARRAY(x, n)
  call ADPROFILEADJ_BEGINREVERSE('sq'//CHAR(0), 'plain.f90'//CHAR(0), 11)
  do i = 1, n
    if (x(i) > 0.0d0) then
      call PUSHREAL8(x(i))
      y(i) = x(i)**2
      call PUSHCONTROL1B(1)
    else
      y(i) = -x(i)
      call PUSHCONTROL1B(0)
    end if
  end do
  call ADPROFILEADJ_TURN('sq'//CHAR(0), 'plain.f90'//CHAR(0))
  do i = n, 1, -1
    call POPCONTROL1B(c)
    if (c == 1) then
      call POPREAL8(x(i))
      xb(i) = xb(i) + 2.0d0 * x(i) * yb(i)
    else
      xb(i) = xb(i) - yb(i)
    end if
  end do
  call ADPROFILEADJ_ENDREVERSE('sq'//CHAR(0), 'plain.f90'//CHAR(0), 11)
  do i = 1, n
    ref(i) = merge(2.0d0 * x(i), -1.0d0, x(i) > 0.0d0)
    write (*, '(a,1x,i0,2(1x,es24.16))') 'GRAD', i, xb(i), ref(i)
  end do
  call ADSTACK_SHOWPEAKSIZE()

contains

  subroutine sq(x, y)
    real(8), intent(in) :: x(n)
    real(8), intent(out) :: y(n)
    y = merge(x**2, -x, x > 0.0d0)
  end subroutine sq

end program tapenade_plain
