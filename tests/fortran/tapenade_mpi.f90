! An MPI adjoint in the shape Tapenade's -profile output has (joint mode: every
! call checkpointed), linked against the pyharness runtime without Python: the
! profiling callbacks get 'name'//CHAR(0) and line numbers; nothing starts the
! profiler but PYHARNESS_PROFILE=DIR in the environment.
!
! Primal, per rank on x(n): y = smooth(x) (line 21), then z = PART_ONE(y) (line 22)
! and w = PART_TWO(z) (line 23), two callees whose names share their first 80
! characters; cost = sum over ranks of sum(w**2). main repeats the three calls
! nrep times on the same x (a loop: sites with several instances).
! Arguments: nrep (default 2), then "noshow" to skip adprofileadj_showprofilesfile
! (the trace is then written at exit). Prints "COST <hex>" and "GRAD i <hex>".
program tapenade_mpi
  use mpi, only: MPI_Allreduce, MPI_COMM_WORLD, MPI_Comm_rank, MPI_DOUBLE_PRECISION, MPI_Finalize, &
                 MPI_Init, MPI_SUM
  implicit none
  integer, parameter :: n = 6, dp = kind(1.0d0)
  character(len=*), parameter :: long = 'compute_the_contribution_of_vertical_mixing_to_the_tracer_budget_in_each_column_'
  real(dp) :: x(n), xb(n), cost
  integer :: ierr, rank, nrep, i, k
  character(len=32) :: arg
  character(len=64) :: fname
  logical :: show

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  nrep = 2
  show = .true.
  do k = 1, command_argument_count()
    call get_command_argument(k, arg)
    if (trim(arg) == 'noshow') then
      show = .false.
    else
      read (arg, *) nrep
    end if
  end do
  do i = 1, n
    x(i) = 0.1_dp * i + 0.05_dp * rank
  end do
  call main_b(x, xb, cost)
  write (*, '(a,1x,i0,1x,z16.16)') 'COST', rank, cost
  do i = 1, n
    write (*, '(a,1x,i0,1x,i0,1x,z16.16)') 'GRAD', rank, i, xb(i)
  end do
  if (show) then
    write (fname, '(a,i4.4,a)') 'tapenade_profile.', rank, '.txt'
    call ADPROFILEADJ_SHOWPROFILESFILE(trim(fname)//CHAR(0))
  end if
  call MPI_Finalize(ierr)

contains

  subroutine smooth(x, y)
    real(dp), intent(in) :: x(n)
    real(dp), intent(out) :: y(n)
    y = x + 0.5_dp * sin(x)
  end subroutine smooth
  subroutine smooth_fwd(x, y)
    real(dp), intent(in) :: x(n)
    real(dp), intent(out) :: y(n)
    call PUSHREAL8ARRAY(x, n)
    y = x + 0.5_dp * sin(x)
  end subroutine smooth_fwd
  subroutine smooth_bwd(xb, yb)
    real(dp), intent(inout) :: xb(n)
    real(dp), intent(in) :: yb(n)
    real(dp) :: x(n)
    call POPREAL8ARRAY(x, n)
    xb = xb + yb * (1.0_dp + 0.5_dp * cos(x))
  end subroutine smooth_bwd

  subroutine part_one(y, z)
    real(dp), intent(in) :: y(n)
    real(dp), intent(out) :: z(n)
    z = y * y
  end subroutine part_one
  subroutine part_one_fwd(y, z)
    real(dp), intent(in) :: y(n)
    real(dp), intent(out) :: z(n)
    call PUSHREAL8ARRAY(y, n)
    z = y * y
  end subroutine part_one_fwd
  subroutine part_one_bwd(yb, zb)
    real(dp), intent(inout) :: yb(n)
    real(dp), intent(in) :: zb(n)
    real(dp) :: y(n)
    call POPREAL8ARRAY(y, n)
    yb = yb + 2.0_dp * y * zb
  end subroutine part_one_bwd

  subroutine part_two(z, w)
    real(dp), intent(in) :: z(n)
    real(dp), intent(out) :: w(n)
    w = exp(-z)
  end subroutine part_two
  subroutine part_two_fwd(z, w)
    real(dp), intent(in) :: z(n)
    real(dp), intent(out) :: w(n)
    w = exp(-z)
    call PUSHREAL8ARRAY(w, n)
  end subroutine part_two_fwd
  subroutine part_two_bwd(zb, wb)
    real(dp), intent(inout) :: zb(n)
    real(dp), intent(in) :: wb(n)
    real(dp) :: w(n)
    call POPREAL8ARRAY(w, n)
    zb = zb - w * wb
  end subroutine part_two_bwd

  ! the adjoint of main: joint mode at the three call sites, nrep times
  subroutine main_b(x, xb, cost)
    real(dp), intent(in) :: x(n)
    real(dp), intent(out) :: xb(n), cost
    real(dp) :: y(n), z(n), w(n), yb(n), zb(n), wb(n), local, costb
    integer :: r, ierr
    xb = 0
    cost = 0
    do r = 1, nrep
      ! ---- forward sweep: snapshot, untaped run, for each call
      call ADPROFILEADJ_SNPWRITE('smooth'//CHAR(0), 'model.f90'//CHAR(0), 21)
      call PUSHREAL8ARRAY(x, n)
      call ADPROFILEADJ_BEGINADVANCE('smooth'//CHAR(0), 'model.f90'//CHAR(0), 21)
      call smooth(x, y)
      call ADPROFILEADJ_ENDADVANCE('smooth'//CHAR(0), 'model.f90'//CHAR(0), 21)
      call ADPROFILEADJ_SNPWRITE(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0), 22)
      call PUSHREAL8ARRAY(y, n)
      call ADPROFILEADJ_BEGINADVANCE(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0), 22)
      call part_one(y, z)
      call ADPROFILEADJ_ENDADVANCE(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0), 22)
      call ADPROFILEADJ_SNPWRITE(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0), 23)
      call PUSHREAL8ARRAY(z, n)
      call ADPROFILEADJ_BEGINADVANCE(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0), 23)
      call part_two(z, w)
      call ADPROFILEADJ_ENDADVANCE(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0), 23)
      local = sum(w * w)
      call MPI_Allreduce(local, costb, 1, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD, ierr)
      cost = cost + costb
      call PUSHREAL8ARRAY(w, n)
      call ADPROFILEADJ_TURN('main'//CHAR(0), 'model.f90'//CHAR(0))
      ! ---- backward sweep
      call POPREAL8ARRAY(w, n)
      wb = 2.0_dp * w
      zb = 0
      call ADPROFILEADJ_SNPREAD(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0), 23)
      call POPREAL8ARRAY(z, n)
      call ADPROFILEADJ_BEGINREVERSE(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0), 23)
      call part_two_fwd(z, w)
      call ADPROFILEADJ_TURN(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0))
      call part_two_bwd(zb, wb)
      call ADPROFILEADJ_ENDREVERSE(long//'part_two'//CHAR(0), 'model.f90'//CHAR(0), 23)
      yb = 0
      call ADPROFILEADJ_SNPREAD(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0), 22)
      call POPREAL8ARRAY(y, n)
      call ADPROFILEADJ_BEGINREVERSE(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0), 22)
      call part_one_fwd(y, z)
      call ADPROFILEADJ_TURN(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0))
      call part_one_bwd(yb, zb)
      call ADPROFILEADJ_ENDREVERSE(long//'part_one'//CHAR(0), 'model.f90'//CHAR(0), 22)
      call ADPROFILEADJ_SNPREAD('smooth'//CHAR(0), 'model.f90'//CHAR(0), 21)
      call POPREAL8ARRAY(y, n)   ! the snapshot of x
      call ADPROFILEADJ_BEGINREVERSE('smooth'//CHAR(0), 'model.f90'//CHAR(0), 21)
      call smooth_fwd(y, z)
      call ADPROFILEADJ_TURN('smooth'//CHAR(0), 'model.f90'//CHAR(0))
      call smooth_bwd(xb, yb)
      call ADPROFILEADJ_ENDREVERSE('smooth'//CHAR(0), 'model.f90'//CHAR(0), 21)
    end do
  end subroutine main_b

end program tapenade_mpi
