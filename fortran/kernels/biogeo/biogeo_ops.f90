!> \brief biogeo: the transport leaves (halo exchange, upwind advective fluxes,
!! flux divergence, implicit vertical mixing by Thomas sweeps), surface
!! restoring and the cost's reduction, each as Tapenade gives it: primal `foo`,
!! forward sweep `foo_fwd` (pushes what its adjoint needs, then runs the primal),
!! backward sweep `foo_bwd` (pops it; uses nothing else of the primal state).
!! All of these are linear with constant coefficients: their forward sweeps tape
!! nothing. Adjoints of pure outputs are consumed (reset to zero).
module biogeo_ops
  use mpi, only: MPI_Allreduce, MPI_DOUBLE_PRECISION, MPI_Sendrecv, MPI_STATUS_IGNORE, MPI_SUM
  use ph_kinds, only: real64
  use biogeo_grid, only: nx, nyl, nz, comm, up, down, dx, dy, dz, dt, nt, uf, vf, wf, &
                         tri_a, tri_m, tri_cp, clim, rrest
  implicit none
  private
  public :: halo3, halo3_fwd, halo3_bwd
  public :: flux_x, flux_x_fwd, flux_x_bwd, flux_y, flux_y_fwd, flux_y_bwd
  public :: flux_z, flux_z_fwd, flux_z_bwd, adv_update, adv_update_fwd, adv_update_bwd
  public :: vd_rhs, vd_rhs_fwd, vd_rhs_bwd, thomas_elim, thomas_elim_fwd, thomas_elim_bwd
  public :: thomas_back, thomas_back_fwd, thomas_back_bwd, vd_copy, vd_copy_fwd, vd_copy_bwd
  public :: restore, restore_fwd, restore_bwd
  public :: local_cost, local_cost_fwd, local_cost_bwd
  public :: allreduce_sum, allreduce_sum_fwd, allreduce_sum_bwd

contains

  ! ------------------------------------------------------------ halo exchange
  !> fill a tracer's halo rows from the neighbour ranks (zero at the walls), all
  !! levels in one message each way; halo columns 0 and nx+1 zero
  subroutine halo3(a)
    real(real64), intent(inout) :: a(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: sbuf(0:nx + 1, nz), rbuf(0:nx + 1, nz)
    integer :: ierr, m
    m = (nx + 2) * nz
    sbuf = a(:, nyl, :)
    rbuf = 0
    call MPI_Sendrecv(sbuf, m, MPI_DOUBLE_PRECISION, up, 21, rbuf, m, MPI_DOUBLE_PRECISION, &
                      down, 21, comm, MPI_STATUS_IGNORE, ierr)
    a(:, 0, :) = rbuf
    sbuf = a(:, 1, :)
    rbuf = 0
    call MPI_Sendrecv(sbuf, m, MPI_DOUBLE_PRECISION, down, 22, rbuf, m, MPI_DOUBLE_PRECISION, &
                      up, 22, comm, MPI_STATUS_IGNORE, ierr)
    a(:, nyl + 1, :) = rbuf
    a(0, :, :) = 0
    a(nx + 1, :, :) = 0
  end subroutine halo3

  subroutine halo3_fwd(a)
    real(real64), intent(inout) :: a(0:nx + 1, 0:nyl + 1, nz)
    call halo3(a)                   ! linear: nothing to tape
  end subroutine halo3_fwd

  !> adjoint: the halo's adjoints go back to the rows they came from
  subroutine halo3_bwd(ab)
    real(real64), intent(inout) :: ab(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: sbuf(0:nx + 1, nz), rbuf(0:nx + 1, nz)
    integer :: ierr, m
    m = (nx + 2) * nz
    ab(0, :, :) = 0
    ab(nx + 1, :, :) = 0
    sbuf = ab(:, nyl + 1, :)
    rbuf = 0
    call MPI_Sendrecv(sbuf, m, MPI_DOUBLE_PRECISION, up, 23, rbuf, m, MPI_DOUBLE_PRECISION, &
                      down, 23, comm, MPI_STATUS_IGNORE, ierr)
    ab(:, 1, :) = ab(:, 1, :) + rbuf
    sbuf = ab(:, 0, :)
    rbuf = 0
    call MPI_Sendrecv(sbuf, m, MPI_DOUBLE_PRECISION, down, 24, rbuf, m, MPI_DOUBLE_PRECISION, &
                      up, 24, comm, MPI_STATUS_IGNORE, ierr)
    ab(:, nyl, :) = ab(:, nyl, :) + rbuf
    ab(:, 0, :) = 0
    ab(:, nyl + 1, :) = 0
  end subroutine halo3_bwd

  ! ------------------------------------------------------------ advective fluxes
  !> zonal upwind flux through the east faces of level k
  subroutine flux_x(k, c, fx)
    integer, intent(in) :: k
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fx(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    fx = 0
    do j = 1, nyl
      do i = 0, nx
        if (uf(i, j, k) > 0) then
          fx(i, j) = uf(i, j, k) * c(i, j)
        else
          fx(i, j) = uf(i, j, k) * c(i + 1, j)
        end if
      end do
    end do
  end subroutine flux_x

  subroutine flux_x_fwd(k, c, fx)
    integer, intent(in) :: k
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fx(0:nx + 1, 0:nyl + 1)
    call flux_x(k, c, fx)
  end subroutine flux_x_fwd

  subroutine flux_x_bwd(k, cb, fxb)
    integer, intent(in) :: k
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1), fxb(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    do j = 1, nyl
      do i = 0, nx
        if (uf(i, j, k) > 0) then
          cb(i, j) = cb(i, j) + uf(i, j, k) * fxb(i, j)
        else
          cb(i + 1, j) = cb(i + 1, j) + uf(i, j, k) * fxb(i, j)
        end if
      end do
    end do
    fxb = 0
  end subroutine flux_x_bwd

  !> meridional upwind flux through the north faces of level k (reads the halo rows)
  subroutine flux_y(k, c, fy)
    integer, intent(in) :: k
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fy(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    fy = 0
    do j = 0, nyl
      do i = 1, nx
        if (vf(i, j, k) > 0) then
          fy(i, j) = vf(i, j, k) * c(i, j)
        else
          fy(i, j) = vf(i, j, k) * c(i, j + 1)
        end if
      end do
    end do
  end subroutine flux_y

  subroutine flux_y_fwd(k, c, fy)
    integer, intent(in) :: k
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fy(0:nx + 1, 0:nyl + 1)
    call flux_y(k, c, fy)
  end subroutine flux_y_fwd

  subroutine flux_y_bwd(k, cb, fyb)
    integer, intent(in) :: k
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1), fyb(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    do j = 0, nyl
      do i = 1, nx
        if (vf(i, j, k) > 0) then
          cb(i, j) = cb(i, j) + vf(i, j, k) * fyb(i, j)
        else
          cb(i, j + 1) = cb(i, j + 1) + vf(i, j, k) * fyb(i, j)
        end if
      end do
    end do
    fyb = 0
  end subroutine flux_y_bwd

  !> vertical upwind flux through the level interfaces (positive downward;
  !! none through the surface and the bottom)
  subroutine flux_z(c, fz)
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: fz(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: i, j, k
    fz = 0
    do k = 2, nz
      do j = 1, nyl
        do i = 1, nx
          if (wf(i, j, k) > 0) then
            fz(i, j, k) = wf(i, j, k) * c(i, j, k - 1)
          else
            fz(i, j, k) = wf(i, j, k) * c(i, j, k)
          end if
        end do
      end do
    end do
  end subroutine flux_z

  subroutine flux_z_fwd(c, fz)
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: fz(0:nx + 1, 0:nyl + 1, nz + 1)
    call flux_z(c, fz)
  end subroutine flux_z_fwd

  subroutine flux_z_bwd(cb, fzb)
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1, nz), fzb(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: i, j, k
    do k = 2, nz
      do j = 1, nyl
        do i = 1, nx
          if (wf(i, j, k) > 0) then
            cb(i, j, k - 1) = cb(i, j, k - 1) + wf(i, j, k) * fzb(i, j, k)
          else
            cb(i, j, k) = cb(i, j, k) + wf(i, j, k) * fzb(i, j, k)
          end if
        end do
      end do
    end do
    fzb = 0
  end subroutine flux_z_bwd

  !> c <- c - dt div(F) on one level; ft, fb the fluxes through its top and bottom
  subroutine adv_update(c, fx, fy, ft, fb)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: fx, fy, ft, fb
    integer :: i, j
    do j = 1, nyl
      do i = 1, nx
        c(i, j) = c(i, j) - dt * ((fx(i, j) - fx(i - 1, j)) / dx + (fy(i, j) - fy(i, j - 1)) / dy &
                                  + (fb(i, j) - ft(i, j)) / dz)
      end do
    end do
  end subroutine adv_update

  subroutine adv_update_fwd(c, fx, fy, ft, fb)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: fx, fy, ft, fb
    call adv_update(c, fx, fy, ft, fb)
  end subroutine adv_update_fwd

  subroutine adv_update_bwd(cb, fxb, fyb, ftb, fbb)
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: fxb, fyb, ftb, fbb
    integer :: i, j
    real(real64) :: g
    do j = 1, nyl
      do i = 1, nx
        g = dt * cb(i, j)
        fxb(i, j) = fxb(i, j) - g / dx
        fxb(i - 1, j) = fxb(i - 1, j) + g / dx
        fyb(i, j) = fyb(i, j) - g / dy
        fyb(i, j - 1) = fyb(i, j - 1) + g / dy
        fbb(i, j) = fbb(i, j) - g / dz
        ftb(i, j) = ftb(i, j) + g / dz
      end do
    end do
  end subroutine adv_update_bwd

  ! ------------------------------------------------------------ implicit vertical mixing
  ! (I - dt d/dz kappa d/dz) c_new = c: the Thomas algorithm, its coefficients fixed
  ! at set-up; d holds the right-hand side, then the eliminated one, then the solution

  !> d = c, the surface level already divided by the first pivot
  subroutine vd_rhs(c, d)
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: d(0:nx + 1, 0:nyl + 1, nz)
    d = 0
    d(1:nx, 1:nyl, :) = c(1:nx, 1:nyl, :)
    d(1:nx, 1:nyl, 1) = d(1:nx, 1:nyl, 1) / tri_m(1)
  end subroutine vd_rhs

  subroutine vd_rhs_fwd(c, d)
    real(real64), intent(in) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: d(0:nx + 1, 0:nyl + 1, nz)
    call vd_rhs(c, d)
  end subroutine vd_rhs_fwd

  subroutine vd_rhs_bwd(cb, db)
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1, nz), db(0:nx + 1, 0:nyl + 1, nz)
    db(1:nx, 1:nyl, 1) = db(1:nx, 1:nyl, 1) / tri_m(1)
    cb(1:nx, 1:nyl, :) = cb(1:nx, 1:nyl, :) + db(1:nx, 1:nyl, :)
    db = 0
  end subroutine vd_rhs_bwd

  !> forward elimination on level k: dk <- (dk - a_k dprev) / m_k
  subroutine thomas_elim(k, dprev, dk)
    integer, intent(in) :: k
    real(real64), intent(in) :: dprev(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: dk(0:nx + 1, 0:nyl + 1)
    dk(1:nx, 1:nyl) = (dk(1:nx, 1:nyl) - tri_a(k) * dprev(1:nx, 1:nyl)) / tri_m(k)
  end subroutine thomas_elim

  subroutine thomas_elim_fwd(k, dprev, dk)
    integer, intent(in) :: k
    real(real64), intent(in) :: dprev(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: dk(0:nx + 1, 0:nyl + 1)
    call thomas_elim(k, dprev, dk)
  end subroutine thomas_elim_fwd

  subroutine thomas_elim_bwd(k, dprevb, dkb)
    integer, intent(in) :: k
    real(real64), intent(inout) :: dprevb(0:nx + 1, 0:nyl + 1), dkb(0:nx + 1, 0:nyl + 1)
    dkb(1:nx, 1:nyl) = dkb(1:nx, 1:nyl) / tri_m(k)
    dprevb(1:nx, 1:nyl) = dprevb(1:nx, 1:nyl) - tri_a(k) * dkb(1:nx, 1:nyl)
  end subroutine thomas_elim_bwd

  !> back substitution on level k: dk <- dk - cp_k x_{k+1}
  subroutine thomas_back(k, dk, xnext)
    integer, intent(in) :: k
    real(real64), intent(inout) :: dk(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: xnext(0:nx + 1, 0:nyl + 1)
    dk(1:nx, 1:nyl) = dk(1:nx, 1:nyl) - tri_cp(k) * xnext(1:nx, 1:nyl)
  end subroutine thomas_back

  subroutine thomas_back_fwd(k, dk, xnext)
    integer, intent(in) :: k
    real(real64), intent(inout) :: dk(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: xnext(0:nx + 1, 0:nyl + 1)
    call thomas_back(k, dk, xnext)
  end subroutine thomas_back_fwd

  subroutine thomas_back_bwd(k, dkb, xnextb)
    integer, intent(in) :: k
    real(real64), intent(inout) :: dkb(0:nx + 1, 0:nyl + 1), xnextb(0:nx + 1, 0:nyl + 1)
    xnextb(1:nx, 1:nyl) = xnextb(1:nx, 1:nyl) - tri_cp(k) * dkb(1:nx, 1:nyl)
  end subroutine thomas_back_bwd

  !> c = d on the owned columns
  subroutine vd_copy(d, c)
    real(real64), intent(in) :: d(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    c(1:nx, 1:nyl, :) = d(1:nx, 1:nyl, :)
  end subroutine vd_copy

  subroutine vd_copy_fwd(d, c)
    real(real64), intent(in) :: d(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    call vd_copy(d, c)
  end subroutine vd_copy_fwd

  subroutine vd_copy_bwd(db, cb)
    real(real64), intent(inout) :: db(0:nx + 1, 0:nyl + 1, nz), cb(0:nx + 1, 0:nyl + 1, nz)
    db(1:nx, 1:nyl, :) = db(1:nx, 1:nyl, :) + cb(1:nx, 1:nyl, :)
    cb(1:nx, 1:nyl, :) = 0
  end subroutine vd_copy_bwd

  ! ------------------------------------------------------------ surface restoring
  !> relax tracer n's surface level towards the climatology
  subroutine restore(n, c1)
    integer, intent(in) :: n
    real(real64), intent(inout) :: c1(0:nx + 1, 0:nyl + 1)
    c1(1:nx, 1:nyl) = c1(1:nx, 1:nyl) + dt * rrest(n) * (clim(1:nx, 1:nyl, n) - c1(1:nx, 1:nyl))
  end subroutine restore

  subroutine restore_fwd(n, c1)
    integer, intent(in) :: n
    real(real64), intent(inout) :: c1(0:nx + 1, 0:nyl + 1)
    call restore(n, c1)
  end subroutine restore_fwd

  subroutine restore_bwd(n, c1b)
    integer, intent(in) :: n
    real(real64), intent(inout) :: c1b(0:nx + 1, 0:nyl + 1)
    c1b(1:nx, 1:nyl) = (1 - dt * rrest(n)) * c1b(1:nx, 1:nyl)
  end subroutine restore_bwd

  ! ------------------------------------------------------------ the cost
  !> this rank's part of the mean air-sea CO2 uptake rate over the run
  subroutine local_cost(acc, cost)
    real(real64), intent(in) :: acc
    real(real64), intent(out) :: cost
    cost = acc / (nt * dt)
  end subroutine local_cost

  subroutine local_cost_fwd(acc, cost)
    real(real64), intent(in) :: acc
    real(real64), intent(out) :: cost
    call local_cost(acc, cost)
  end subroutine local_cost_fwd

  subroutine local_cost_bwd(accb, costb)
    real(real64), intent(inout) :: accb, costb
    accb = accb + costb / (nt * dt)
    costb = 0
  end subroutine local_cost_bwd

  subroutine allreduce_sum(s)
    real(real64), intent(inout) :: s
    real(real64) :: t
    integer :: ierr
    call MPI_Allreduce(s, t, 1, MPI_DOUBLE_PRECISION, MPI_SUM, comm, ierr)
    s = t
  end subroutine allreduce_sum

  subroutine allreduce_sum_fwd(s)
    real(real64), intent(inout) :: s
    call allreduce_sum(s)           ! linear: nothing to tape
  end subroutine allreduce_sum_fwd

  !> adjoint of a replicated sum: every rank holds part of the result's adjoint
  subroutine allreduce_sum_bwd(sb)
    real(real64), intent(inout) :: sb
    call allreduce_sum(sb)
  end subroutine allreduce_sum_bwd

end module biogeo_ops
