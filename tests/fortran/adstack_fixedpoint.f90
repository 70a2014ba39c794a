! A fixed-point adjoint in the shape Tapenade 3.16 gives it (FP-LOOP directive):
! the forward sweep iterates z = phi(z, p) = 0.5*sin(z) + p to convergence and
! tapes only the last iteration; the backward sweep iterates the adjoint inside
! ADSTACK_STARTREPEAT / RESETREPEAT / ENDREPEAT, each pass popping the frozen tape
! again, and its body (a checkpointed call to sinh_part) pushes and pops its own
! tape inside the repeated section: those pushes must go above the frozen tape.
! Cost J = z**2; dJ/dp = 2 z / (1 - 0.5 cos z) (implicit function theorem).
! Prints "GRAD pb", "PRIMAL z", "ITERS n", "PEAK bytes", "LEFT bytes".
program adstack_fixedpoint
  use ph_stack, only: ph_stack_reset, ph_stack_peak, ph_stack_current, ph_stack_status
  implicit none
  real(8) :: p, z, zb, w, wnew, zz, pb, j0, jp, jm, h
  integer :: iters, ierr
  character(len=256) :: msg
  p = 0.3d0
  call ph_stack_reset()
  ! ---- the rest of the program's tape, below the fixed point (10 reals)
  call push_filler()
  ! ---- forward sweep
  z = solve(p)
  call PUSHREAL8(z)                  ! tape of the last iteration: its input
  z = 0.5d0*sin(z) + p
  ! ---- backward sweep
  zb = 2.0d0*z
  w = 0.0d0
  iters = 0
  call ADSTACK_STARTREPEAT()
  do
    call ADSTACK_RESETREPEAT()
    call POPREAL8(zz)                ! the frozen tape, popped again each pass
    wnew = zb + w*body_b(zz)
    iters = iters + 1
    if (abs(wnew - w) <= 1d-14*abs(wnew) .or. iters >= 200) exit
    w = wnew
  end do
  call ADSTACK_ENDREPEAT()
  pb = wnew
  call pop_filler()
  ! ---- finite differences of the primal
  h = 1d-6
  jp = solve(p + h); jp = (0.5d0*sin(jp) + p + h)**2
  jm = solve(p - h); jm = (0.5d0*sin(jm) + p - h)**2
  j0 = z**2
  write (*, '(a,es24.16)') 'GRAD', pb
  write (*, '(a,es24.16)') 'FD', (jp - jm)/(2*h)
  write (*, '(a,es24.16)') 'PRIMAL', z
  write (*, '(a,i0)') 'ITERS ', iters
  write (*, '(a,i0)') 'PEAK ', ph_stack_peak()
  write (*, '(a,i0)') 'LEFT ', ph_stack_current()
  call ph_stack_status(ierr, msg)
  write (*, '(a,i0)') 'STATUS ', ierr
contains
  real(8) function solve(q)
    real(8), intent(in) :: q
    real(8) :: znew
    solve = 0.0d0
    do
      znew = 0.5d0*sin(solve) + q
      if (abs(znew - solve) <= 1d-15) exit
      solve = znew
    end do
  end function solve
  ! d phi / d z at zz, computed through a checkpointed call with its own tape:
  ! the forward part pushes (real, integer, control bits), the backward part pops.
  real(8) function body_b(zz)
    real(8), intent(in) :: zz
    real(8) :: t, s
    integer :: k, c
    t = 0.5d0*zz
    call PUSHREAL8(t)
    call PUSHINTEGER4(7)
    do k = 1, 40
      call PUSHCONTROL1B(mod(k, 2))  ! 40 bits: one 4-byte word reaches the stack
    end do
    call PUSHREAL8(0.125d0)
    t = -1.0d0
    call POPREAL8(s)
    if (s /= 0.125d0) t = huge(1.0d0)
    do k = 40, 1, -1
      call POPCONTROL1B(c)
      if (c /= mod(k, 2)) t = huge(1.0d0)
    end do
    call POPINTEGER4(k)
    if (k /= 7) t = huge(1.0d0)
    call POPREAL8(t)
    body_b = 0.5d0*cos(2.0d0*t)
  end function body_b
  subroutine push_filler()
    integer :: i
    do i = 1, 10
      call PUSHREAL8(dble(i))
    end do
  end subroutine push_filler
  subroutine pop_filler()
    integer :: i
    real(8) :: v
    do i = 10, 1, -1
      call POPREAL8(v)
      if (v /= dble(i)) write (*, '(a,i0,es12.4)') 'FILLER WRONG ', i, v
    end do
  end subroutine pop_filler
end program adstack_fixedpoint
