! Driver of the example adjoint (hand-written, as a user's main program is).
!   ./adjoint                 the adjoint: writes the gradient d cost / d u0 of every
!                             rank to gradient.txt (rank 0 gathers; one real per line)
!   ./adjoint cost [I EPS]    the primal only: prints the cost, with u0(I) (global,
!                             1-based) moved by EPS (for finite differences)
! Sizes: TP_N reals per rank (default 20000), TP_NT time steps (default 10).
program tapenade_example
  use mpi, only: MPI_COMM_WORLD, MPI_Comm_rank, MPI_Comm_size, MPI_DOUBLE_PRECISION, &
                 MPI_Finalize, MPI_Gather, MPI_Init
  use tp_model, only: dp, nt, forward
  use tp_model_b, only: forward_b
  implicit none
  integer :: ierr, rank, nranks, n, i, iglob, u
  real(dp) :: cost, eps
  real(dp), allocatable :: u0(:), ub(:), all(:)
  character(len=64) :: arg

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  n = env_int('TP_N', 20000)
  nt = env_int('TP_NT', 10)
  allocate (u0(n), ub(n), all(n * nranks))
  do i = 1, n
    iglob = rank * n + i
    u0(i) = 0.5_dp + 0.3_dp * sin(0.01_dp * iglob) + 0.1_dp * cos(0.37_dp * iglob)
  end do

  arg = ''
  if (command_argument_count() >= 1) call get_command_argument(1, arg)
  if (trim(arg) == 'cost') then
    if (command_argument_count() >= 3) then
      call get_command_argument(2, arg)
      read (arg, *) iglob
      call get_command_argument(3, arg)
      read (arg, *) eps
      if (iglob > rank * n .and. iglob <= (rank + 1) * n) u0(iglob - rank * n) = u0(iglob - rank * n) + eps
    end if
    call forward(u0, n, cost)
    if (rank == 0) write (*, '(a,1x,es24.16)') 'COST', cost
  else
    call forward_b(u0, ub, n, cost)
    call MPI_Gather(ub, n, MPI_DOUBLE_PRECISION, all, n, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, ierr)
    if (rank == 0) then
      write (*, '(a,1x,es24.16)') 'COST', cost
      open (newunit=u, file='gradient.txt', status='replace', action='write')
      write (u, '(a,i0,a)') '# d cost / d u0: ', n * nranks, ' reals, one per line'
      do i = 1, n * nranks
        write (u, '(es24.16)') all(i)
      end do
      close (u)
    end if
  end if
  call MPI_Finalize(ierr)

contains

  integer function env_int(name, default) result(v)
    character(len=*), intent(in) :: name
    integer, intent(in) :: default
    character(len=32) :: text
    integer :: length, stat
    v = default
    call get_environment_variable(name, text, length, stat)
    if (stat == 0 .and. length > 0) read (text, *) v
  end function env_int

end program tapenade_example
