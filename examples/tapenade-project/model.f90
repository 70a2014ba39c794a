! The primal model of the example: what a user gives Tapenade (tapenade -b -head
! "forward(u)\(cost)" model.f90). 1-D field u on each rank (a block of a global
! vector), nt time steps; per step three calls, each a checkpoint site of the
! adjoint: react (logistic growth), heavy (m smoothing iterations, each a call of
! smooth_iter: nested sites) and relax (towards the global mean: an MPI_Allreduce).
! cost = 0.5 * sum over ranks of sum(u**2) at the end.
module tp_model
  use mpi, only: MPI_Allreduce, MPI_COMM_WORLD, MPI_DOUBLE_PRECISION, MPI_SUM
  implicit none
  private
  public :: dp, nt, m, nsub, dt, c, a, forward, react, heavy, smooth_iter, relax, global_sum

  integer, parameter :: dp = kind(1.0d0)
  integer, parameter :: m = 8          ! smooth_iter calls per heavy
  integer, parameter :: nsub = 4       ! sub-steps inside smooth_iter
  real(dp), parameter :: dt = 0.1_dp, c = 0.2_dp, a = 0.3_dp
  integer, save :: nt = 10             ! time steps (set by the driver)

contains

  !> the whole primal: u(0) -> u(nt), and the cost
  subroutine forward(u, n, cost)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    real(dp), intent(out) :: cost
    integer :: t
    do t = 1, nt
      call react(u, n)
      call heavy(u, n)
      call relax(u, n)
    end do
    cost = 0.5_dp * global_sum(sum(u * u))
  end subroutine forward

  real(dp) function global_sum(x) result(s)
    real(dp), intent(in) :: x
    integer :: ierr
    call MPI_Allreduce(x, s, 1, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD, ierr)
  end function global_sum

  subroutine react(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    u = u + dt * u * (1.0_dp - u)
  end subroutine react

  subroutine heavy(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    integer :: k
    do k = 1, m
      call smooth_iter(u, n)
    end do
    u = u - 0.01_dp * u**3
  end subroutine heavy

  subroutine smooth_iter(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    real(dp) :: v(n)
    integer :: s, i
    do s = 1, nsub
      do i = 1, n
        v(i) = u(i) + c * (u(max(i - 1, 1)) - 2.0_dp * u(i) + u(min(i + 1, n)))
      end do
      u = v + 0.01_dp * sin(v)
    end do
  end subroutine smooth_iter

  subroutine relax(u, n)
    integer, intent(in) :: n
    real(dp), intent(inout) :: u(n)
    real(dp) :: mean
    mean = global_sum(sum(u)) / global_sum(real(n, dp))
    u = u + a * (mean - u) * u
  end subroutine relax

end module tp_model
