!> \brief streamice: the leaf routines, each as Tapenade gives it: primal `foo`,
!! forward sweep `foo_fwd` (pushes the inputs its adjoint needs, then runs the
!! primal), backward sweep `foo_bwd` (pops them; uses nothing else of the primal
!! state). Adjoints of pure outputs are consumed (reset to zero).
module streamice_ops
  use mpi, only: MPI_Allreduce, MPI_DOUBLE_PRECISION, MPI_Sendrecv, MPI_STATUS_IGNORE, MPI_SUM
  use ph_kinds, only: real64
  use streamice_grid, only: nx, nyl, nf, comm, up, down, dx, dy, dt, rhog, bglen, eps0, beta0, &
                            kappa, smb, gamma_h, lstrain, bed, hobs, uobs, push_f, pop_f, push_s, pop_s
  implicit none
  private
  public :: halo_exchange, halo_exchange_fwd, halo_exchange_bwd
  public :: driving_stress, driving_stress_fwd, driving_stress_bwd
  public :: strain_rate, strain_rate_fwd, strain_rate_bwd
  public :: glen_law, glen_law_fwd, glen_law_bwd
  public :: basal_drag, basal_drag_fwd, basal_drag_bwd
  public :: stencil, stencil_fwd, stencil_bwd
  public :: local_dot, local_dot_fwd, local_dot_bwd
  public :: allreduce_sum, allreduce_sum_fwd, allreduce_sum_bwd
  public :: axpy, axpy_fwd, axpy_bwd, xpay, xpay_fwd, xpay_bwd
  public :: residual, residual_fwd, residual_bwd
  public :: flux, flux_fwd, flux_bwd, update_h, update_h_fwd, update_h_bwd
  public :: local_misfit, local_misfit_fwd, local_misfit_bwd

contains

  ! ------------------------------------------------------------ halo exchange
  !> fill the halo: rows from the neighbour ranks (zero at the domain's edge),
  !! columns 0 and nx+1 zero (the Dirichlet boundary)
  subroutine halo_exchange(a)
    real(real64), intent(inout) :: a(0:nx + 1, 0:nyl + 1)
    real(real64) :: sbuf(nx + 2), rbuf(nx + 2)
    integer :: ierr
    sbuf = a(:, nyl)
    rbuf = 0
    call MPI_Sendrecv(sbuf, nx + 2, MPI_DOUBLE_PRECISION, up, 11, rbuf, nx + 2, MPI_DOUBLE_PRECISION, &
                      down, 11, comm, MPI_STATUS_IGNORE, ierr)
    a(:, 0) = rbuf
    sbuf = a(:, 1)
    rbuf = 0
    call MPI_Sendrecv(sbuf, nx + 2, MPI_DOUBLE_PRECISION, down, 12, rbuf, nx + 2, MPI_DOUBLE_PRECISION, &
                      up, 12, comm, MPI_STATUS_IGNORE, ierr)
    a(:, nyl + 1) = rbuf
    a(0, :) = 0
    a(nx + 1, :) = 0
  end subroutine halo_exchange

  subroutine halo_exchange_fwd(a)
    real(real64), intent(inout) :: a(0:nx + 1, 0:nyl + 1)
    call halo_exchange(a)           ! linear: nothing to tape
  end subroutine halo_exchange_fwd

  !> adjoint: the halo's adjoints go back to the rows they came from
  subroutine halo_exchange_bwd(ab)
    real(real64), intent(inout) :: ab(0:nx + 1, 0:nyl + 1)
    real(real64) :: sbuf(nx + 2), rbuf(nx + 2)
    integer :: ierr
    ab(0, :) = 0
    ab(nx + 1, :) = 0
    sbuf = ab(:, nyl + 1)
    rbuf = 0
    call MPI_Sendrecv(sbuf, nx + 2, MPI_DOUBLE_PRECISION, up, 13, rbuf, nx + 2, MPI_DOUBLE_PRECISION, &
                      down, 13, comm, MPI_STATUS_IGNORE, ierr)
    ab(:, 1) = ab(:, 1) + rbuf
    sbuf = ab(:, 0)
    rbuf = 0
    call MPI_Sendrecv(sbuf, nx + 2, MPI_DOUBLE_PRECISION, down, 14, rbuf, nx + 2, MPI_DOUBLE_PRECISION, &
                      up, 14, comm, MPI_STATUS_IGNORE, ierr)
    ab(:, nyl) = ab(:, nyl) + rbuf
    ab(:, 0) = 0
    ab(:, nyl + 1) = 0
    ab(0, :) = 0
    ab(nx + 1, :) = 0
  end subroutine halo_exchange_bwd

  ! ------------------------------------------------------------ driving stress
  !> tau = -rho g h ds/dx, s = bed + h (centred inside, one-sided at the edges)
  subroutine driving_stress(h, tau)
    real(real64), intent(in) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: tau(0:nx + 1, 0:nyl + 1)
    integer :: i, j, ip, im
    tau = 0
    do j = 1, nyl
      do i = 1, nx
        ip = min(i + 1, nx)
        im = max(i - 1, 1)
        tau(i, j) = -rhog * h(i, j) * ((bed(ip, j) + h(ip, j)) - (bed(im, j) + h(im, j))) &
                    / ((ip - im) * dx)
      end do
    end do
  end subroutine driving_stress

  subroutine driving_stress_fwd(h, tau)
    real(real64), intent(in) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: tau(0:nx + 1, 0:nyl + 1)
    call push_f(h)
    call driving_stress(h, tau)
  end subroutine driving_stress_fwd

  subroutine driving_stress_bwd(hb, taub)
    real(real64), intent(inout) :: hb(0:nx + 1, 0:nyl + 1), taub(0:nx + 1, 0:nyl + 1)
    real(real64) :: h(0:nx + 1, 0:nyl + 1), c
    integer :: i, j, ip, im
    call pop_f(h)
    do j = 1, nyl
      do i = 1, nx
        ip = min(i + 1, nx)
        im = max(i - 1, 1)
        c = -rhog / ((ip - im) * dx) * taub(i, j)
        hb(i, j) = hb(i, j) + c * ((bed(ip, j) + h(ip, j)) - (bed(im, j) + h(im, j)))
        hb(ip, j) = hb(ip, j) + c * h(i, j)
        hb(im, j) = hb(im, j) - c * h(i, j)
      end do
    end do
    taub = 0
  end subroutine driving_stress_bwd

  ! ------------------------------------------------------------ strain rate
  !> eps2 = L^2 ((du/dx)^2 + (du/dy)^2) + eps0 (centred; needs u's halo), L a strain
  !! length scale that keeps the Picard iteration contractive
  subroutine strain_rate(u, eps2)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: eps2(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    eps2 = eps0
    do j = 1, nyl
      do i = 1, nx
        eps2(i, j) = lstrain**2 * (((u(i + 1, j) - u(i - 1, j)) / (2 * dx))**2 &
                                 + ((u(i, j + 1) - u(i, j - 1)) / (2 * dy))**2) + eps0
      end do
    end do
  end subroutine strain_rate

  subroutine strain_rate_fwd(u, eps2)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: eps2(0:nx + 1, 0:nyl + 1)
    call push_f(u)
    call strain_rate(u, eps2)
  end subroutine strain_rate_fwd

  subroutine strain_rate_bwd(ub, eps2b)
    real(real64), intent(inout) :: ub(0:nx + 1, 0:nyl + 1), eps2b(0:nx + 1, 0:nyl + 1)
    real(real64) :: u(0:nx + 1, 0:nyl + 1), gx, gy
    integer :: i, j
    call pop_f(u)
    do j = 1, nyl
      do i = 1, nx
        gx = lstrain**2 * 2 * (u(i + 1, j) - u(i - 1, j)) / (2 * dx)**2 * eps2b(i, j)
        gy = lstrain**2 * 2 * (u(i, j + 1) - u(i, j - 1)) / (2 * dy)**2 * eps2b(i, j)
        ub(i + 1, j) = ub(i + 1, j) + gx
        ub(i - 1, j) = ub(i - 1, j) - gx
        ub(i, j + 1) = ub(i, j + 1) + gy
        ub(i, j - 1) = ub(i, j - 1) - gy
      end do
    end do
    eps2b = 0
  end subroutine strain_rate_bwd

  ! ------------------------------------------------------------ Glen's law
  !> depth-integrated viscosity nu = B h eps2^((1-n)/(2n)), n = 3
  subroutine glen_law(eps2, h, nu)
    real(real64), intent(in) :: eps2(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: nu(0:nx + 1, 0:nyl + 1)
    nu = 0
    nu(1:nx, 1:nyl) = bglen * h(1:nx, 1:nyl) * eps2(1:nx, 1:nyl)**(-1.0_real64 / 3)
  end subroutine glen_law

  subroutine glen_law_fwd(eps2, h, nu)
    real(real64), intent(in) :: eps2(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: nu(0:nx + 1, 0:nyl + 1)
    call push_f(eps2)
    call push_f(h)
    call glen_law(eps2, h, nu)
  end subroutine glen_law_fwd

  subroutine glen_law_bwd(eps2b, hb, nub)
    real(real64), intent(inout) :: eps2b(0:nx + 1, 0:nyl + 1), hb(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: nub(0:nx + 1, 0:nyl + 1)
    real(real64) :: eps2(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    call pop_f(h)
    call pop_f(eps2)
    hb(1:nx, 1:nyl) = hb(1:nx, 1:nyl) + bglen * eps2(1:nx, 1:nyl)**(-1.0_real64 / 3) * nub(1:nx, 1:nyl)
    eps2b(1:nx, 1:nyl) = eps2b(1:nx, 1:nyl) - bglen / 3 * h(1:nx, 1:nyl) &
                         * eps2(1:nx, 1:nyl)**(-4.0_real64 / 3) * nub(1:nx, 1:nyl)
    nub = 0
  end subroutine glen_law_bwd

  ! ------------------------------------------------------------ basal drag
  !> beta = beta0 exp(alpha)
  subroutine basal_drag(alpha, beta)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: beta(0:nx + 1, 0:nyl + 1)
    beta = beta0 * exp(alpha)
  end subroutine basal_drag

  subroutine basal_drag_fwd(alpha, beta)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: beta(0:nx + 1, 0:nyl + 1)
    call push_f(alpha)
    call basal_drag(alpha, beta)
  end subroutine basal_drag_fwd

  subroutine basal_drag_bwd(alphab, betab)
    real(real64), intent(inout) :: alphab(0:nx + 1, 0:nyl + 1), betab(0:nx + 1, 0:nyl + 1)
    real(real64) :: alpha(0:nx + 1, 0:nyl + 1)
    call pop_f(alpha)
    alphab = alphab + beta0 * exp(alpha) * betab
    betab = 0
  end subroutine basal_drag_bwd

  ! ------------------------------------------------------------ the operator
  !> q = A p = beta p - div(nu grad p), face viscosities averaged (symmetric)
  subroutine stencil(nu, beta, p, q)
    real(real64), intent(in) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1), p(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: q(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    real(real64) :: ce, cw, cn, cs
    q = 0
    do j = 1, nyl
      do i = 1, nx
        ce = 0.5_real64 * (nu(i, j) + nu(i + 1, j))
        cw = 0.5_real64 * (nu(i, j) + nu(i - 1, j))
        cn = 0.5_real64 * (nu(i, j) + nu(i, j + 1))
        cs = 0.5_real64 * (nu(i, j) + nu(i, j - 1))
        q(i, j) = beta(i, j) * p(i, j) &
                + (ce * (p(i, j) - p(i + 1, j)) + cw * (p(i, j) - p(i - 1, j))) / dx**2 &
                + (cn * (p(i, j) - p(i, j + 1)) + cs * (p(i, j) - p(i, j - 1))) / dy**2
      end do
    end do
  end subroutine stencil

  subroutine stencil_fwd(nu, beta, p, q)
    real(real64), intent(in) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1), p(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: q(0:nx + 1, 0:nyl + 1)
    call push_f(nu)
    call push_f(beta)
    call push_f(p)
    call stencil(nu, beta, p, q)
  end subroutine stencil_fwd

  subroutine stencil_bwd(nub, betab, pb, qb)
    real(real64), intent(inout) :: nub(0:nx + 1, 0:nyl + 1), betab(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: pb(0:nx + 1, 0:nyl + 1), qb(0:nx + 1, 0:nyl + 1)
    real(real64) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1), p(0:nx + 1, 0:nyl + 1)
    real(real64) :: ce, cw, cn, cs, g, gx, gy
    integer :: i, j
    call pop_f(p)
    call pop_f(beta)
    call pop_f(nu)
    do j = 1, nyl
      do i = 1, nx
        g = qb(i, j)
        ce = 0.5_real64 * (nu(i, j) + nu(i + 1, j))
        cw = 0.5_real64 * (nu(i, j) + nu(i - 1, j))
        cn = 0.5_real64 * (nu(i, j) + nu(i, j + 1))
        cs = 0.5_real64 * (nu(i, j) + nu(i, j - 1))
        betab(i, j) = betab(i, j) + g * p(i, j)
        gx = g / dx**2
        gy = g / dy**2
        pb(i, j) = pb(i, j) + g * beta(i, j) + gx * (ce + cw) + gy * (cn + cs)
        pb(i + 1, j) = pb(i + 1, j) - gx * ce
        pb(i - 1, j) = pb(i - 1, j) - gx * cw
        pb(i, j + 1) = pb(i, j + 1) - gy * cn
        pb(i, j - 1) = pb(i, j - 1) - gy * cs
        nub(i, j) = nub(i, j) + 0.5_real64 * (gx * (p(i, j) - p(i + 1, j) + p(i, j) - p(i - 1, j)) &
                                             + gy * (p(i, j) - p(i, j + 1) + p(i, j) - p(i, j - 1)))
        nub(i + 1, j) = nub(i + 1, j) + 0.5_real64 * gx * (p(i, j) - p(i + 1, j))
        nub(i - 1, j) = nub(i - 1, j) + 0.5_real64 * gx * (p(i, j) - p(i - 1, j))
        nub(i, j + 1) = nub(i, j + 1) + 0.5_real64 * gy * (p(i, j) - p(i, j + 1))
        nub(i, j - 1) = nub(i, j - 1) + 0.5_real64 * gy * (p(i, j) - p(i, j - 1))
      end do
    end do
    qb = 0
  end subroutine stencil_bwd

  ! ------------------------------------------------------------ dot products
  !> s = sum over owned cells of a*b (this rank's part)
  subroutine local_dot(a, b, s)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1), b(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: s
    s = sum(a(1:nx, 1:nyl) * b(1:nx, 1:nyl))
  end subroutine local_dot

  subroutine local_dot_fwd(a, b, s)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1), b(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: s
    call push_f(a)
    call push_f(b)
    call local_dot(a, b, s)
  end subroutine local_dot_fwd

  !> adjoint: da, db are the increments of the adjoints of a and b (kept apart:
  !! a and b may be the same array)
  subroutine local_dot_bwd(da, db, sb)
    real(real64), intent(out) :: da(0:nx + 1, 0:nyl + 1), db(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: sb
    real(real64) :: a(0:nx + 1, 0:nyl + 1), b(0:nx + 1, 0:nyl + 1)
    call pop_f(b)
    call pop_f(a)
    da = 0
    db = 0
    da(1:nx, 1:nyl) = sb * b(1:nx, 1:nyl)
    db(1:nx, 1:nyl) = sb * a(1:nx, 1:nyl)
    sb = 0
  end subroutine local_dot_bwd

  !> s <- sum of s over the ranks (replicated result)
  subroutine allreduce_sum(s)
    real(real64), intent(inout) :: s
    real(real64) :: t
    integer :: ierr
    call MPI_Allreduce(s, t, 1, MPI_DOUBLE_PRECISION, MPI_SUM, comm, ierr)
    s = t
  end subroutine allreduce_sum

  subroutine allreduce_sum_fwd(s)
    real(real64), intent(inout) :: s
    call allreduce_sum(s)         ! linear: nothing to tape
  end subroutine allreduce_sum_fwd

  !> adjoint of a replicated sum: every rank holds part of the result's adjoint
  subroutine allreduce_sum_bwd(sb)
    real(real64), intent(inout) :: sb
    call allreduce_sum(sb)
  end subroutine allreduce_sum_bwd

  ! ------------------------------------------------------------ vector updates
  !> y = y + a x
  subroutine axpy(a, x, y)
    real(real64), intent(in) :: a, x(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: y(0:nx + 1, 0:nyl + 1)
    y(1:nx, 1:nyl) = y(1:nx, 1:nyl) + a * x(1:nx, 1:nyl)
  end subroutine axpy

  subroutine axpy_fwd(a, x, y)
    real(real64), intent(in) :: a, x(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: y(0:nx + 1, 0:nyl + 1)
    call push_f(x)
    call push_s(a)
    call axpy(a, x, y)
  end subroutine axpy_fwd

  !> adjoint: ab gets this rank's part (the adjoint of a replicated scalar)
  subroutine axpy_bwd(ab, xb, yb)
    real(real64), intent(inout) :: ab, xb(0:nx + 1, 0:nyl + 1), yb(0:nx + 1, 0:nyl + 1)
    real(real64) :: a, x(0:nx + 1, 0:nyl + 1)
    call pop_s(a)
    call pop_f(x)
    ab = ab + sum(x(1:nx, 1:nyl) * yb(1:nx, 1:nyl))
    xb(1:nx, 1:nyl) = xb(1:nx, 1:nyl) + a * yb(1:nx, 1:nyl)
  end subroutine axpy_bwd

  !> y = x + b y
  subroutine xpay(x, b, y)
    real(real64), intent(in) :: x(0:nx + 1, 0:nyl + 1), b
    real(real64), intent(inout) :: y(0:nx + 1, 0:nyl + 1)
    y(1:nx, 1:nyl) = x(1:nx, 1:nyl) + b * y(1:nx, 1:nyl)
  end subroutine xpay

  subroutine xpay_fwd(x, b, y)
    real(real64), intent(in) :: x(0:nx + 1, 0:nyl + 1), b
    real(real64), intent(inout) :: y(0:nx + 1, 0:nyl + 1)
    call push_f(y)
    call push_s(b)
    call xpay(x, b, y)
  end subroutine xpay_fwd

  subroutine xpay_bwd(xb, bb, yb)
    real(real64), intent(inout) :: xb(0:nx + 1, 0:nyl + 1), bb, yb(0:nx + 1, 0:nyl + 1)
    real(real64) :: b, y(0:nx + 1, 0:nyl + 1)
    call pop_s(b)
    call pop_f(y)
    xb(1:nx, 1:nyl) = xb(1:nx, 1:nyl) + yb(1:nx, 1:nyl)
    bb = bb + sum(y(1:nx, 1:nyl) * yb(1:nx, 1:nyl))
    yb(1:nx, 1:nyl) = b * yb(1:nx, 1:nyl)
  end subroutine xpay_bwd

  !> r = tau - q
  subroutine residual(tau, q, r)
    real(real64), intent(in) :: tau(0:nx + 1, 0:nyl + 1), q(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: r(0:nx + 1, 0:nyl + 1)
    r = 0
    r(1:nx, 1:nyl) = tau(1:nx, 1:nyl) - q(1:nx, 1:nyl)
  end subroutine residual

  subroutine residual_fwd(tau, q, r)
    real(real64), intent(in) :: tau(0:nx + 1, 0:nyl + 1), q(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: r(0:nx + 1, 0:nyl + 1)
    call residual(tau, q, r)      ! linear: nothing to tape
  end subroutine residual_fwd

  subroutine residual_bwd(taub, qb, rb)
    real(real64), intent(inout) :: taub(0:nx + 1, 0:nyl + 1), qb(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: rb(0:nx + 1, 0:nyl + 1)
    taub(1:nx, 1:nyl) = taub(1:nx, 1:nyl) + rb(1:nx, 1:nyl)
    qb(1:nx, 1:nyl) = qb(1:nx, 1:nyl) - rb(1:nx, 1:nyl)
    rb = 0
  end subroutine residual_bwd

  ! ------------------------------------------------------------ advection
  !> fluxes at the inner x-faces i+1/2 (i = 1..nx-1): centred + Lax-Friedrichs-like
  !! diffusion; no flux through the domain's edges
  subroutine flux(h, u, fx)
    real(real64), intent(in) :: h(0:nx + 1, 0:nyl + 1), u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fx(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    fx = 0
    do j = 1, nyl
      do i = 1, nx - 1
        fx(i, j) = 0.25_real64 * (u(i, j) + u(i + 1, j)) * (h(i, j) + h(i + 1, j)) &
                 - kappa * (h(i + 1, j) - h(i, j)) / dx
      end do
    end do
  end subroutine flux

  subroutine flux_fwd(h, u, fx)
    real(real64), intent(in) :: h(0:nx + 1, 0:nyl + 1), u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fx(0:nx + 1, 0:nyl + 1)
    call push_f(h)
    call push_f(u)
    call flux(h, u, fx)
  end subroutine flux_fwd

  subroutine flux_bwd(hb, ub, fxb)
    real(real64), intent(inout) :: hb(0:nx + 1, 0:nyl + 1), ub(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: fxb(0:nx + 1, 0:nyl + 1)
    real(real64) :: h(0:nx + 1, 0:nyl + 1), u(0:nx + 1, 0:nyl + 1), g, gu, gh
    integer :: i, j
    call pop_f(u)
    call pop_f(h)
    do j = 1, nyl
      do i = 1, nx - 1
        g = fxb(i, j)
        gu = 0.25_real64 * (h(i, j) + h(i + 1, j)) * g
        gh = 0.25_real64 * (u(i, j) + u(i + 1, j)) * g
        ub(i, j) = ub(i, j) + gu
        ub(i + 1, j) = ub(i + 1, j) + gu
        hb(i, j) = hb(i, j) + gh + kappa / dx * g
        hb(i + 1, j) = hb(i + 1, j) + gh - kappa / dx * g
      end do
    end do
    fxb = 0
  end subroutine flux_bwd

  !> h = h - dt/dx (fx(i) - fx(i-1)) + dt smb on the owned cells
  subroutine update_h(h, fx)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: fx(0:nx + 1, 0:nyl + 1)
    h(1:nx, 1:nyl) = h(1:nx, 1:nyl) - dt / dx * (fx(1:nx, 1:nyl) - fx(0:nx - 1, 1:nyl)) + dt * smb
  end subroutine update_h

  subroutine update_h_fwd(h, fx)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: fx(0:nx + 1, 0:nyl + 1)
    call update_h(h, fx)          ! linear: nothing to tape
  end subroutine update_h_fwd

  subroutine update_h_bwd(hb, fxb)
    real(real64), intent(inout) :: hb(0:nx + 1, 0:nyl + 1), fxb(0:nx + 1, 0:nyl + 1)
    fxb(1:nx, 1:nyl) = fxb(1:nx, 1:nyl) - dt / dx * hb(1:nx, 1:nyl)
    fxb(0:nx - 1, 1:nyl) = fxb(0:nx - 1, 1:nyl) + dt / dx * hb(1:nx, 1:nyl)
  end subroutine update_h_bwd

  ! ------------------------------------------------------------ misfit
  !> this rank's part of 1/2 sum (u-uobs)^2 + gamma/2 sum (h-hobs)^2, times the cell area
  subroutine local_misfit(u, h, jl)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: jl
    jl = 0.5_real64 * dx * dy * (sum((u(1:nx, 1:nyl) - uobs(1:nx, 1:nyl))**2) &
                                 + gamma_h * sum((h(1:nx, 1:nyl) - hobs(1:nx, 1:nyl))**2))
  end subroutine local_misfit

  subroutine local_misfit_fwd(u, h, jl)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: jl
    call push_f(u)
    call push_f(h)
    call local_misfit(u, h, jl)
  end subroutine local_misfit_fwd

  subroutine local_misfit_bwd(ub, hb, jlb)
    real(real64), intent(inout) :: ub(0:nx + 1, 0:nyl + 1), hb(0:nx + 1, 0:nyl + 1), jlb
    real(real64) :: u(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    call pop_f(h)
    call pop_f(u)
    ub(1:nx, 1:nyl) = ub(1:nx, 1:nyl) + dx * dy * jlb * (u(1:nx, 1:nyl) - uobs(1:nx, 1:nyl))
    hb(1:nx, 1:nyl) = hb(1:nx, 1:nyl) + dx * dy * gamma_h * jlb * (h(1:nx, 1:nyl) - hobs(1:nx, 1:nyl))
    jlb = 0
  end subroutine local_misfit_bwd

end module streamice_ops
