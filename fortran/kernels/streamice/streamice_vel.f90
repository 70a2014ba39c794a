!> \brief streamice: the velocity solve. viscosity (Glen's law from the strain
!! rates), the operator A = beta - div(nu grad), global dot products, and the
!! conjugate-gradient solve, each as primal / _fwd / _bwd with a run-time
!! checkpoint branch at every call site (see streamice_grid for the helpers).
module streamice_vel
  use ph_kinds, only: real64
  use streamice_grid, only: act, begin_adv, begin_rev, end_adv, end_rev, ncg, nx, nyl, pop_f, &
                            pop_s, push_f, push_s, S_ALLRED, S_AOP, S_AOP0, S_AXPYR, S_AXPYU, &
                            S_DOT0, S_DOTPQ, S_DOTRR, S_GLEN, S_HALO_NU, S_HALO_P, S_HALO_U, &
                            S_LDOT, S_RESID, S_STENCIL, S_STRAIN, S_XPAY, snp_read, snp_write, &
                            turn
  use streamice_ops, only: allreduce_sum, allreduce_sum_bwd, allreduce_sum_fwd, axpy, axpy_bwd, &
                           axpy_fwd, glen_law, glen_law_bwd, glen_law_fwd, halo_exchange, &
                           halo_exchange_bwd, halo_exchange_fwd, local_dot, local_dot_bwd, &
                           local_dot_fwd, residual, residual_bwd, residual_fwd, stencil, &
                           stencil_bwd, stencil_fwd, strain_rate, strain_rate_bwd, &
                           strain_rate_fwd, xpay, xpay_bwd, xpay_fwd
  implicit none
  private
  public :: viscosity, viscosity_fwd, viscosity_bwd
  public :: apply_op, apply_op_fwd, apply_op_bwd
  public :: global_dot, global_dot_fwd, global_dot_bwd
  public :: cg_solve, cg_solve_fwd, cg_solve_bwd

contains

  ! ================================================================ viscosity
  subroutine viscosity(u, h, nu)
    real(real64), intent(inout) :: u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: nu(0:nx + 1, 0:nyl + 1)
    real(real64) :: eps2(0:nx + 1, 0:nyl + 1)
    call halo_exchange(u)                                   ! site S_HALO_U
    call strain_rate(u, eps2)                               ! site S_STRAIN
    call glen_law(eps2, h, nu)                              ! site S_GLEN
    call halo_exchange(nu)                                  ! site S_HALO_NU
  end subroutine viscosity

  subroutine viscosity_fwd(u, h, nu)
    real(real64), intent(inout) :: u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: nu(0:nx + 1, 0:nyl + 1)
    real(real64) :: eps2(0:nx + 1, 0:nyl + 1)
    if (act(S_HALO_U)) then
      call snp_write(S_HALO_U); call push_f(u); call begin_adv(S_HALO_U)
      call halo_exchange(u)
      call end_adv(S_HALO_U)
    else
      call halo_exchange_fwd(u)
    end if
    if (act(S_STRAIN)) then
      call snp_write(S_STRAIN); call push_f(u); call begin_adv(S_STRAIN)
      call strain_rate(u, eps2)
      call end_adv(S_STRAIN)
    else
      call strain_rate_fwd(u, eps2)
    end if
    if (act(S_GLEN)) then
      call snp_write(S_GLEN); call push_f(eps2); call push_f(h); call begin_adv(S_GLEN)
      call glen_law(eps2, h, nu)
      call end_adv(S_GLEN)
    else
      call glen_law_fwd(eps2, h, nu)
    end if
    if (act(S_HALO_NU)) then
      call snp_write(S_HALO_NU); call push_f(nu); call begin_adv(S_HALO_NU)
      call halo_exchange(nu)
      call end_adv(S_HALO_NU)
    else
      call halo_exchange_fwd(nu)
    end if
  end subroutine viscosity_fwd

  subroutine viscosity_bwd(ub, hb, nub)
    real(real64), intent(inout) :: ub(0:nx + 1, 0:nyl + 1), hb(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: nub(0:nx + 1, 0:nyl + 1)
    real(real64) :: eps2b(0:nx + 1, 0:nyl + 1), t1(0:nx + 1, 0:nyl + 1), t2(0:nx + 1, 0:nyl + 1)
    real(real64) :: t3(0:nx + 1, 0:nyl + 1)
    eps2b = 0
    if (act(S_HALO_NU)) then
      call snp_read(S_HALO_NU); call pop_f(t1); call begin_rev(S_HALO_NU)
      call halo_exchange_fwd(t1); call turn(S_HALO_NU); call halo_exchange_bwd(nub)
      call end_rev(S_HALO_NU)
    else
      call halo_exchange_bwd(nub)
    end if
    if (act(S_GLEN)) then
      call snp_read(S_GLEN); call pop_f(t2); call pop_f(t1); call begin_rev(S_GLEN)
      call glen_law_fwd(t1, t2, t3); call turn(S_GLEN); call glen_law_bwd(eps2b, hb, nub)
      call end_rev(S_GLEN)
    else
      call glen_law_bwd(eps2b, hb, nub)
    end if
    if (act(S_STRAIN)) then
      call snp_read(S_STRAIN); call pop_f(t1); call begin_rev(S_STRAIN)
      call strain_rate_fwd(t1, t2); call turn(S_STRAIN); call strain_rate_bwd(ub, eps2b)
      call end_rev(S_STRAIN)
    else
      call strain_rate_bwd(ub, eps2b)
    end if
    if (act(S_HALO_U)) then
      call snp_read(S_HALO_U); call pop_f(t1); call begin_rev(S_HALO_U)
      call halo_exchange_fwd(t1); call turn(S_HALO_U); call halo_exchange_bwd(ub)
      call end_rev(S_HALO_U)
    else
      call halo_exchange_bwd(ub)
    end if
  end subroutine viscosity_bwd

  ! ================================================================ q = A p
  !> apply_op is called from two sites; s_halo/s_sten are its own inner sites
  subroutine apply_op(nu, beta, p, q)
    real(real64), intent(in) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: p(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: q(0:nx + 1, 0:nyl + 1)
    call halo_exchange(p)                                   ! site S_HALO_P
    call stencil(nu, beta, p, q)                            ! site S_STENCIL
  end subroutine apply_op

  subroutine apply_op_fwd(nu, beta, p, q)
    real(real64), intent(in) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: p(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: q(0:nx + 1, 0:nyl + 1)
    if (act(S_HALO_P)) then
      call snp_write(S_HALO_P); call push_f(p); call begin_adv(S_HALO_P)
      call halo_exchange(p)
      call end_adv(S_HALO_P)
    else
      call halo_exchange_fwd(p)
    end if
    if (act(S_STENCIL)) then
      call snp_write(S_STENCIL); call push_f(nu); call push_f(beta); call push_f(p)
      call begin_adv(S_STENCIL)
      call stencil(nu, beta, p, q)
      call end_adv(S_STENCIL)
    else
      call stencil_fwd(nu, beta, p, q)
    end if
  end subroutine apply_op_fwd

  subroutine apply_op_bwd(nub, betab, pb, qb)
    real(real64), intent(inout) :: nub(0:nx + 1, 0:nyl + 1), betab(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: pb(0:nx + 1, 0:nyl + 1), qb(0:nx + 1, 0:nyl + 1)
    real(real64) :: t1(0:nx + 1, 0:nyl + 1), t2(0:nx + 1, 0:nyl + 1), t3(0:nx + 1, 0:nyl + 1)
    real(real64) :: t4(0:nx + 1, 0:nyl + 1)
    if (act(S_STENCIL)) then
      call snp_read(S_STENCIL); call pop_f(t3); call pop_f(t2); call pop_f(t1)
      call begin_rev(S_STENCIL)
      call stencil_fwd(t1, t2, t3, t4); call turn(S_STENCIL); call stencil_bwd(nub, betab, pb, qb)
      call end_rev(S_STENCIL)
    else
      call stencil_bwd(nub, betab, pb, qb)
    end if
    if (act(S_HALO_P)) then
      call snp_read(S_HALO_P); call pop_f(t1); call begin_rev(S_HALO_P)
      call halo_exchange_fwd(t1); call turn(S_HALO_P); call halo_exchange_bwd(pb)
      call end_rev(S_HALO_P)
    else
      call halo_exchange_bwd(pb)
    end if
  end subroutine apply_op_bwd

  ! ================================================================ global dot
  subroutine global_dot(a, b, s)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1), b(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: s
    call local_dot(a, b, s)                                 ! site S_LDOT
    call allreduce_sum(s)                                   ! site S_ALLRED
  end subroutine global_dot

  subroutine global_dot_fwd(a, b, s)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1), b(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: s
    if (act(S_LDOT)) then
      call snp_write(S_LDOT); call push_f(a); call push_f(b); call begin_adv(S_LDOT)
      call local_dot(a, b, s)
      call end_adv(S_LDOT)
    else
      call local_dot_fwd(a, b, s)
    end if
    if (act(S_ALLRED)) then
      call snp_write(S_ALLRED); call push_s(s); call begin_adv(S_ALLRED)
      call allreduce_sum(s)
      call end_adv(S_ALLRED)
    else
      call allreduce_sum_fwd(s)
    end if
  end subroutine global_dot_fwd

  !> adjoint: da, db are the increments of a's and b's adjoints (kept apart)
  subroutine global_dot_bwd(da, db, sb)
    real(real64), intent(out) :: da(0:nx + 1, 0:nyl + 1), db(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: sb
    real(real64) :: t1(0:nx + 1, 0:nyl + 1), t2(0:nx + 1, 0:nyl + 1), ts
    if (act(S_ALLRED)) then
      call snp_read(S_ALLRED); call pop_s(ts); call begin_rev(S_ALLRED)
      call allreduce_sum_fwd(ts); call turn(S_ALLRED); call allreduce_sum_bwd(sb)
      call end_rev(S_ALLRED)
    else
      call allreduce_sum_bwd(sb)
    end if
    if (act(S_LDOT)) then
      call snp_read(S_LDOT); call pop_f(t2); call pop_f(t1); call begin_rev(S_LDOT)
      call local_dot_fwd(t1, t2, ts); call turn(S_LDOT); call local_dot_bwd(da, db, sb)
      call end_rev(S_LDOT)
    else
      call local_dot_bwd(da, db, sb)
    end if
  end subroutine global_dot_bwd

  ! ================================================================ CG
  !> ncg iterations of conjugate gradients on A u = tau, from u = 0 (a cold start
  !! keeps CG away from round-off-level residuals, whose derivatives are noise)
  subroutine cg_solve(nu, beta, tau, u)
    real(real64), intent(in) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: tau(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: u(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: r, p, q
    real(real64) :: rr, pq, a, ma, bc, rrn
    integer :: k
    u(1:nx, 1:nyl) = 0
    call apply_op(nu, beta, u, q)                           ! site S_AOP0
    call residual(tau, q, r)                                ! site S_RESID
    p = r
    call global_dot(r, r, rr)                               ! site S_DOT0
    do k = 1, ncg
      call apply_op(nu, beta, p, q)                         ! site S_AOP
      call global_dot(p, q, pq)                             ! site S_DOTPQ
      a = rr / pq
      call axpy(a, p, u)                                    ! site S_AXPYU
      ma = -a
      call axpy(ma, q, r)                                   ! site S_AXPYR
      call global_dot(r, r, rrn)                            ! site S_DOTRR
      bc = rrn / rr
      call xpay(r, bc, p)                                   ! site S_XPAY
      rr = rrn
    end do
  end subroutine cg_solve

  subroutine cg_solve_fwd(nu, beta, tau, u)
    real(real64), intent(in) :: nu(0:nx + 1, 0:nyl + 1), beta(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: tau(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: u(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: r, p, q
    real(real64) :: rr, pq, a, ma, bc, rrn
    integer :: k
    u(1:nx, 1:nyl) = 0
    if (act(S_AOP0)) then
      call snp_write(S_AOP0); call push_f(nu); call push_f(beta); call push_f(u); call begin_adv(S_AOP0)
      call apply_op(nu, beta, u, q)
      call end_adv(S_AOP0)
    else
      call apply_op_fwd(nu, beta, u, q)
    end if
    if (act(S_RESID)) then
      call snp_write(S_RESID); call push_f(tau); call push_f(q); call begin_adv(S_RESID)
      call residual(tau, q, r)
      call end_adv(S_RESID)
    else
      call residual_fwd(tau, q, r)
    end if
    p = r
    if (act(S_DOT0)) then
      call snp_write(S_DOT0); call push_f(r); call begin_adv(S_DOT0)
      call global_dot(r, r, rr)
      call end_adv(S_DOT0)
    else
      call global_dot_fwd(r, r, rr)
    end if
    do k = 1, ncg
      if (act(S_AOP)) then
        call snp_write(S_AOP); call push_f(nu); call push_f(beta); call push_f(p); call begin_adv(S_AOP)
        call apply_op(nu, beta, p, q)
        call end_adv(S_AOP)
      else
        call apply_op_fwd(nu, beta, p, q)
      end if
      if (act(S_DOTPQ)) then
        call snp_write(S_DOTPQ); call push_f(p); call push_f(q); call begin_adv(S_DOTPQ)
        call global_dot(p, q, pq)
        call end_adv(S_DOTPQ)
      else
        call global_dot_fwd(p, q, pq)
      end if
      call push_s(rr); call push_s(pq)
      a = rr / pq
      if (act(S_AXPYU)) then
        call snp_write(S_AXPYU); call push_s(a); call push_f(p); call push_f(u); call begin_adv(S_AXPYU)
        call axpy(a, p, u)
        call end_adv(S_AXPYU)
      else
        call axpy_fwd(a, p, u)
      end if
      ma = -a
      if (act(S_AXPYR)) then
        call snp_write(S_AXPYR); call push_s(ma); call push_f(q); call push_f(r); call begin_adv(S_AXPYR)
        call axpy(ma, q, r)
        call end_adv(S_AXPYR)
      else
        call axpy_fwd(ma, q, r)
      end if
      if (act(S_DOTRR)) then
        call snp_write(S_DOTRR); call push_f(r); call begin_adv(S_DOTRR)
        call global_dot(r, r, rrn)
        call end_adv(S_DOTRR)
      else
        call global_dot_fwd(r, r, rrn)
      end if
      call push_s(rrn); call push_s(rr)
      bc = rrn / rr
      if (act(S_XPAY)) then
        call snp_write(S_XPAY); call push_f(r); call push_s(bc); call push_f(p); call begin_adv(S_XPAY)
        call xpay(r, bc, p)
        call end_adv(S_XPAY)
      else
        call xpay_fwd(r, bc, p)
      end if
      rr = rrn
    end do
  end subroutine cg_solve_fwd

  subroutine cg_solve_bwd(nub, betab, taub, ub)
    real(real64), intent(inout) :: nub(0:nx + 1, 0:nyl + 1), betab(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: taub(0:nx + 1, 0:nyl + 1), ub(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: rb, pb, qb, da, db, t1, t2, t3, t4
    real(real64) :: rrb, pqb, ab, mab, bcb, rrnb, rrv, pqv, rrnv, ts
    integer :: k
    rb = 0; pb = 0; qb = 0
    rrb = 0; pqb = 0; ab = 0; mab = 0; bcb = 0; rrnb = 0
    do k = ncg, 1, -1
      ! rr = rrn
      rrnb = rrnb + rrb
      rrb = 0
      if (act(S_XPAY)) then
        call snp_read(S_XPAY); call pop_f(t2); call pop_s(ts); call pop_f(t1); call begin_rev(S_XPAY)
        call xpay_fwd(t1, ts, t2); call turn(S_XPAY); call xpay_bwd(rb, bcb, pb)
        call end_rev(S_XPAY)
      else
        call xpay_bwd(rb, bcb, pb)
      end if
      ! bc = rrn / rr
      call pop_s(rrv); call pop_s(rrnv)
      rrnb = rrnb + bcb / rrv
      rrb = rrb - bcb * rrnv / rrv**2
      bcb = 0
      if (act(S_DOTRR)) then
        call snp_read(S_DOTRR); call pop_f(t1); call begin_rev(S_DOTRR)
        call global_dot_fwd(t1, t1, ts); call turn(S_DOTRR); call global_dot_bwd(da, db, rrnb)
        call end_rev(S_DOTRR)
      else
        call global_dot_bwd(da, db, rrnb)
      end if
      rb = rb + da + db
      if (act(S_AXPYR)) then
        call snp_read(S_AXPYR); call pop_f(t2); call pop_f(t1); call pop_s(ts); call begin_rev(S_AXPYR)
        call axpy_fwd(ts, t1, t2); call turn(S_AXPYR); call axpy_bwd(mab, qb, rb)
        call end_rev(S_AXPYR)
      else
        call axpy_bwd(mab, qb, rb)
      end if
      ! ma = -a
      ab = ab - mab
      mab = 0
      if (act(S_AXPYU)) then
        call snp_read(S_AXPYU); call pop_f(t2); call pop_f(t1); call pop_s(ts); call begin_rev(S_AXPYU)
        call axpy_fwd(ts, t1, t2); call turn(S_AXPYU); call axpy_bwd(ab, pb, ub)
        call end_rev(S_AXPYU)
      else
        call axpy_bwd(ab, pb, ub)
      end if
      ! a = rr / pq
      call pop_s(pqv); call pop_s(rrv)
      rrb = rrb + ab / pqv
      pqb = pqb - ab * rrv / pqv**2
      ab = 0
      if (act(S_DOTPQ)) then
        call snp_read(S_DOTPQ); call pop_f(t2); call pop_f(t1); call begin_rev(S_DOTPQ)
        call global_dot_fwd(t1, t2, ts); call turn(S_DOTPQ); call global_dot_bwd(da, db, pqb)
        call end_rev(S_DOTPQ)
      else
        call global_dot_bwd(da, db, pqb)
      end if
      pb = pb + da
      qb = qb + db
      if (act(S_AOP)) then
        call snp_read(S_AOP); call pop_f(t3); call pop_f(t2); call pop_f(t1); call begin_rev(S_AOP)
        call apply_op_fwd(t1, t2, t3, t4); call turn(S_AOP); call apply_op_bwd(nub, betab, pb, qb)
        call end_rev(S_AOP)
      else
        call apply_op_bwd(nub, betab, pb, qb)
      end if
    end do
    if (act(S_DOT0)) then
      call snp_read(S_DOT0); call pop_f(t1); call begin_rev(S_DOT0)
      call global_dot_fwd(t1, t1, ts); call turn(S_DOT0); call global_dot_bwd(da, db, rrb)
      call end_rev(S_DOT0)
    else
      call global_dot_bwd(da, db, rrb)
    end if
    rb = rb + da + db
    ! p = r
    rb = rb + pb
    pb = 0
    if (act(S_RESID)) then
      call snp_read(S_RESID); call pop_f(t2); call pop_f(t1); call begin_rev(S_RESID)
      call residual_fwd(t1, t2, t3); call turn(S_RESID); call residual_bwd(taub, qb, rb)
      call end_rev(S_RESID)
    else
      call residual_bwd(taub, qb, rb)
    end if
    if (act(S_AOP0)) then
      call snp_read(S_AOP0); call pop_f(t3); call pop_f(t2); call pop_f(t1); call begin_rev(S_AOP0)
      call apply_op_fwd(t1, t2, t3, t4); call turn(S_AOP0); call apply_op_bwd(nub, betab, ub, qb)
      call end_rev(S_AOP0)
    else
      call apply_op_bwd(nub, betab, ub, qb)
    end if
    ! u = 0 on the owned cells
    ub(1:nx, 1:nyl) = 0
  end subroutine cg_solve_bwd

end module streamice_vel
