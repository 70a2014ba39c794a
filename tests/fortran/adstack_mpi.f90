! A Tapenade-shaped adjoint under MPI: each rank owns n = 5 + rank values x,
! y = sum_i f(x_i) with f(x) = sin(x) if x > 0 else x**2 (a control bit per i),
! s = allreduce(y), J = s**2. The backward sweep pops x and the bits, and
! xb_i = 2 s f'(x_i). Prints, per rank, "RANK r PEAK bytes LEFT bytes ERR maxerr".
program adstack_mpi
  use mpi, only: MPI_Allreduce, MPI_COMM_WORLD, MPI_Comm_rank, MPI_Comm_size, MPI_DOUBLE_PRECISION, &
                 MPI_Finalize, MPI_Init, MPI_SUM
  use ph_stack, only: ph_stack_reset, ph_stack_peak, ph_stack_current
  implicit none
  integer :: rank, nranks, ierr, n, i, c
  real(8), allocatable :: x(:), xb(:), ref(:)
  real(8) :: y, s, sb, yb
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  n = 5 + rank
  allocate(x(n), xb(n), ref(n))
  do i = 1, n
    x(i) = 0.7d0*i - 1.9d0 + 0.1d0*rank
  end do
  call ph_stack_reset()
  ! ---- forward sweep
  y = 0.0d0
  do i = 1, n
    if (x(i) > 0.0d0) then
      y = y + sin(x(i))
      call PUSHCONTROL1B(1)
    else
      y = y + x(i)**2
      call PUSHCONTROL1B(0)
    end if
  end do
  call PUSHREAL8ARRAY(x, n)
  call MPI_Allreduce(y, s, 1, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD, ierr)
  ! ---- backward sweep
  sb = 2.0d0*s
  yb = sb
  x = 0.0d0
  call POPREAL8ARRAY(x, n)
  do i = n, 1, -1
    call POPCONTROL1B(c)
    if (c == 1) then
      xb(i) = yb*cos(x(i))
    else
      xb(i) = yb*2.0d0*x(i)
    end if
  end do
  do i = 1, n
    if (x(i) > 0.0d0) then
      ref(i) = 2.0d0*s*cos(x(i))
    else
      ref(i) = 2.0d0*s*2.0d0*x(i)
    end if
  end do
  write (*, '(a,i0,a,i0,a,i0,a,es10.2)') 'RANK ', rank, ' PEAK ', ph_stack_peak(), &
    ' LEFT ', ph_stack_current(), ' ERR ', maxval(abs(xb - ref))
  call MPI_Finalize(ierr)
end program adstack_mpi
