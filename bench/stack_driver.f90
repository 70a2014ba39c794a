! The same Fortran driver for every AD stack the benchmark compares (pyharness's
! runtime, static and shared; adStack.c): only Tapenade's entry points are called.
! For each routine pair: `reps` rounds of `m` pushes then `m` pops, timed as a
! whole; prints "routine wall_seconds cpu_seconds" (the process's CPU time: on a
! shared, loaded machine the wall clock mostly measures time spent descheduled).
! Usage: stack_driver [log2(total pairs)] [log2(m)]   (m is at most the total: below
! 2^20 pairs, one round of them all)
program stack_driver
  use, intrinsic :: iso_fortran_env, only: int64, real64
  implicit none
  integer :: total_log, m_log, m, reps, r, i, c, k
  integer(int64) :: t0, t1, rate
  real(real64) :: x, acc, c0, c1
  character(len=16) :: arg
  total_log = 25; m_log = 20
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg); read (arg, *) total_log
  end if
  if (command_argument_count() >= 2) then
    call get_command_argument(2, arg); read (arg, *) m_log
  end if
  ! fewer pairs than one round of m: one round of them all (else no round at all ran
  ! and every routine timed nothing)
  m_log = min(m_log, total_log)
  m = 2**m_log
  reps = 2**(total_log - m_log)
  acc = 0
  k = 0
  ! warm up: the stack's memory is allocated before anything is timed
  do i = 1, m
    call PUSHREAL8(acc)
  end do
  do i = 1, m
    call POPREAL8(x)
  end do

  call system_clock(t0, rate)
  call cpu_time(c0)
  do r = 1, reps
    do i = 1, m
      x = real(i, real64)
      call PUSHREAL8(x)
    end do
    do i = 1, m
      call POPREAL8(x)
      acc = acc + x
    end do
  end do
  call cpu_time(c1)
  call system_clock(t1)
  write (*, '(a,1x,f10.6,1x,f10.6)') 'real8', real(t1 - t0, real64) / rate, c1 - c0

  call system_clock(t0)
  call cpu_time(c0)
  do r = 1, reps
    do i = 1, m
      call PUSHCONTROL1B(iand(i, 1))
    end do
    do i = 1, m
      call POPCONTROL1B(c)
      k = k + c
    end do
  end do
  call cpu_time(c1)
  call system_clock(t1)
  write (*, '(a,1x,f10.6,1x,f10.6)') 'control1b', real(t1 - t0, real64) / rate, c1 - c0

  call system_clock(t0)
  call cpu_time(c0)
  do r = 1, reps
    do i = 1, m
      call PUSHINTEGER4(i)
    end do
    do i = 1, m
      call POPINTEGER4(c)
      k = k + c
    end do
  end do
  call cpu_time(c1)
  call system_clock(t1)
  write (*, '(a,1x,f10.6,1x,f10.6)') 'integer4', real(t1 - t0, real64) / rate, c1 - c0

  call system_clock(t0)
  call cpu_time(c0)
  do r = 1, reps
    do i = 1, m
      call PUSHCONTROL3B(iand(i, 7))
    end do
    do i = 1, m
      call POPCONTROL3B(c)
      k = k + c
    end do
  end do
  call cpu_time(c1)
  call system_clock(t1)
  write (*, '(a,1x,f10.6,1x,f10.6)') 'control3b', real(t1 - t0, real64) / rate, c1 - c0
  if (acc < 0 .or. k == 42) write (*, '(a)') 'unlikely'
end program stack_driver
