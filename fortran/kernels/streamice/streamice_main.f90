!> \brief streamice: one time step (driving stress, Picard iterations of the
!! viscosity with a CG solve each, thickness advection), the misfit cost, and
!! the root adjoint (forward sweep, turn, backward sweep).
module streamice_main
  use ph_kinds, only: real64
  use streamice_grid, only: act, begin_adv, begin_rev, end_adv, end_rev, h_init, nf, npicard, nt, &
                            nx, nyl, pop_f, pop_s, push_f, push_s, rank, S_ADVECT, S_ALLRED2, &
                            S_CG, S_DRAG, S_DRIVING, S_HALO_H1, S_LMIS, S_MISFIT, S_TIMESTEP, &
                            S_VISC, snp_read, snp_write, turn
  use streamice_ops, only: allreduce_sum, allreduce_sum_bwd, allreduce_sum_fwd, basal_drag, &
                           basal_drag_bwd, basal_drag_fwd, driving_stress, driving_stress_bwd, &
                           driving_stress_fwd, halo_exchange, halo_exchange_bwd, &
                           halo_exchange_fwd, local_misfit, local_misfit_bwd, local_misfit_fwd
  use streamice_vel, only: cg_solve, cg_solve_bwd, cg_solve_fwd, viscosity, viscosity_bwd, &
                           viscosity_fwd
  use streamice_adv, only: advect, advect_bwd, advect_fwd
  implicit none
  private
  public :: timestep, timestep_fwd, timestep_bwd, misfit_cost, misfit_cost_fwd, misfit_cost_bwd
  public :: streamice_run_primal, streamice_run_adjoint
  public :: ts_begin, ts_state_size, ts_state, ts_set_state, ts_advance, ts_end_forward, ts_reverse, &
            ts_gradient

  ! time stepping driven from Python (binomial checkpointing of the time loop):
  ! the state at the current step, the control, and the adjoints
  real(real64), allocatable, save :: ts_h(:,:), ts_u(:,:), ts_alpha(:,:)
  real(real64), allocatable, save :: ts_hb(:,:), ts_ub(:,:), ts_alphab(:,:)

contains

  ! ================================================================ time step
  subroutine timestep(h, u, alpha)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1), u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: tau, nu, beta
    integer :: k
    call halo_exchange(h)                                   ! site S_HALO_H1
    call driving_stress(h, tau)                             ! site S_DRIVING
    do k = 1, npicard
      call viscosity(u, h, nu)                              ! site S_VISC
      call basal_drag(alpha, beta)                          ! site S_DRAG
      call cg_solve(nu, beta, tau, u)                       ! site S_CG
    end do
    call advect(h, u)                                       ! site S_ADVECT
  end subroutine timestep

  subroutine timestep_fwd(h, u, alpha)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1), u(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: tau, nu, beta
    integer :: k
    if (act(S_HALO_H1)) then
      call snp_write(S_HALO_H1); call push_f(h); call begin_adv(S_HALO_H1)
      call halo_exchange(h)
      call end_adv(S_HALO_H1)
    else
      call halo_exchange_fwd(h)
    end if
    if (act(S_DRIVING)) then
      call snp_write(S_DRIVING); call push_f(h); call begin_adv(S_DRIVING)
      call driving_stress(h, tau)
      call end_adv(S_DRIVING)
    else
      call driving_stress_fwd(h, tau)
    end if
    do k = 1, npicard
      if (act(S_VISC)) then
        call snp_write(S_VISC); call push_f(u); call push_f(h); call begin_adv(S_VISC)
        call viscosity(u, h, nu)
        call end_adv(S_VISC)
      else
        call viscosity_fwd(u, h, nu)
      end if
      if (act(S_DRAG)) then
        call snp_write(S_DRAG); call push_f(alpha); call begin_adv(S_DRAG)
        call basal_drag(alpha, beta)
        call end_adv(S_DRAG)
      else
        call basal_drag_fwd(alpha, beta)
      end if
      if (act(S_CG)) then
        call snp_write(S_CG); call push_f(nu); call push_f(beta); call push_f(tau); call push_f(u)
        call begin_adv(S_CG)
        call cg_solve(nu, beta, tau, u)
        call end_adv(S_CG)
      else
        call cg_solve_fwd(nu, beta, tau, u)
      end if
    end do
    if (act(S_ADVECT)) then
      call snp_write(S_ADVECT); call push_f(h); call push_f(u); call begin_adv(S_ADVECT)
      call advect(h, u)
      call end_adv(S_ADVECT)
    else
      call advect_fwd(h, u)
    end if
  end subroutine timestep_fwd

  subroutine timestep_bwd(hb, ub, alphab)
    real(real64), intent(inout) :: hb(0:nx + 1, 0:nyl + 1), ub(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: alphab(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: taub, nub, betab, t1, t2, t3, t4
    integer :: k
    taub = 0; nub = 0; betab = 0
    if (act(S_ADVECT)) then
      call snp_read(S_ADVECT); call pop_f(t2); call pop_f(t1); call begin_rev(S_ADVECT)
      call advect_fwd(t1, t2); call turn(S_ADVECT); call advect_bwd(hb, ub)
      call end_rev(S_ADVECT)
    else
      call advect_bwd(hb, ub)
    end if
    do k = npicard, 1, -1
      if (act(S_CG)) then
        call snp_read(S_CG); call pop_f(t4); call pop_f(t3); call pop_f(t2); call pop_f(t1)
        call begin_rev(S_CG)
        call cg_solve_fwd(t1, t2, t3, t4); call turn(S_CG); call cg_solve_bwd(nub, betab, taub, ub)
        call end_rev(S_CG)
      else
        call cg_solve_bwd(nub, betab, taub, ub)
      end if
      if (act(S_DRAG)) then
        call snp_read(S_DRAG); call pop_f(t1); call begin_rev(S_DRAG)
        call basal_drag_fwd(t1, t2); call turn(S_DRAG); call basal_drag_bwd(alphab, betab)
        call end_rev(S_DRAG)
      else
        call basal_drag_bwd(alphab, betab)
      end if
      if (act(S_VISC)) then
        call snp_read(S_VISC); call pop_f(t2); call pop_f(t1); call begin_rev(S_VISC)
        call viscosity_fwd(t1, t2, t3); call turn(S_VISC); call viscosity_bwd(ub, hb, nub)
        call end_rev(S_VISC)
      else
        call viscosity_bwd(ub, hb, nub)
      end if
    end do
    if (act(S_DRIVING)) then
      call snp_read(S_DRIVING); call pop_f(t1); call begin_rev(S_DRIVING)
      call driving_stress_fwd(t1, t2); call turn(S_DRIVING); call driving_stress_bwd(hb, taub)
      call end_rev(S_DRIVING)
    else
      call driving_stress_bwd(hb, taub)
    end if
    if (act(S_HALO_H1)) then
      call snp_read(S_HALO_H1); call pop_f(t1); call begin_rev(S_HALO_H1)
      call halo_exchange_fwd(t1); call turn(S_HALO_H1); call halo_exchange_bwd(hb)
      call end_rev(S_HALO_H1)
    else
      call halo_exchange_bwd(hb)
    end if
  end subroutine timestep_bwd

  ! ================================================================ cost
  subroutine misfit_cost(u, h, cost)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: cost
    call local_misfit(u, h, cost)                           ! site S_LMIS
    call allreduce_sum(cost)                                ! site S_ALLRED2
  end subroutine misfit_cost

  subroutine misfit_cost_fwd(u, h, cost)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1), h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: cost
    if (act(S_LMIS)) then
      call snp_write(S_LMIS); call push_f(u); call push_f(h); call begin_adv(S_LMIS)
      call local_misfit(u, h, cost)
      call end_adv(S_LMIS)
    else
      call local_misfit_fwd(u, h, cost)
    end if
    if (act(S_ALLRED2)) then
      call snp_write(S_ALLRED2); call push_s(cost); call begin_adv(S_ALLRED2)
      call allreduce_sum(cost)
      call end_adv(S_ALLRED2)
    else
      call allreduce_sum_fwd(cost)
    end if
  end subroutine misfit_cost_fwd

  subroutine misfit_cost_bwd(ub, hb, costb)
    real(real64), intent(inout) :: ub(0:nx + 1, 0:nyl + 1), hb(0:nx + 1, 0:nyl + 1), costb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: t1, t2
    real(real64) :: ts
    if (act(S_ALLRED2)) then
      call snp_read(S_ALLRED2); call pop_s(ts); call begin_rev(S_ALLRED2)
      call allreduce_sum_fwd(ts); call turn(S_ALLRED2); call allreduce_sum_bwd(costb)
      call end_rev(S_ALLRED2)
    else
      call allreduce_sum_bwd(costb)
    end if
    if (act(S_LMIS)) then
      call snp_read(S_LMIS); call pop_f(t2); call pop_f(t1); call begin_rev(S_LMIS)
      call local_misfit_fwd(t1, t2, ts); call turn(S_LMIS); call local_misfit_bwd(ub, hb, costb)
      call end_rev(S_LMIS)
    else
      call local_misfit_bwd(ub, hb, costb)
    end if
  end subroutine misfit_cost_bwd

  ! ================================================================ root
  !> the primal model: nt time steps from the initial state, then the misfit
  subroutine streamice_run_primal(alpha, cost)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: cost
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: h, u
    integer :: t
    h = h_init
    u = 0
    do t = 1, nt
      call timestep(h, u, alpha)                            ! site S_TIMESTEP
    end do
    call misfit_cost(u, h, cost)                            ! site S_MISFIT
  end subroutine streamice_run_primal

  !> the adjoint, root reversed in joint mode; J is replicated over the ranks:
  !! its adjoint is seeded with 1 on rank 0 and 0 elsewhere (the adjoint of every
  !! Allreduce sums the ranks' parts)
  subroutine streamice_run_adjoint(alpha, alphab, cost)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: alphab(0:nx + 1, 0:nyl + 1), cost
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: h, u, hb, ub, t1, t2, t3
    real(real64) :: costb, ts
    integer :: t
    h = h_init
    u = 0
    do t = 1, nt
      if (act(S_TIMESTEP)) then
        call snp_write(S_TIMESTEP); call push_f(h); call push_f(u); call push_f(alpha)
        call begin_adv(S_TIMESTEP)
        call timestep(h, u, alpha)
        call end_adv(S_TIMESTEP)
      else
        call timestep_fwd(h, u, alpha)
      end if
    end do
    if (act(S_MISFIT)) then
      call snp_write(S_MISFIT); call push_f(u); call push_f(h); call begin_adv(S_MISFIT)
      call misfit_cost(u, h, cost)
      call end_adv(S_MISFIT)
    else
      call misfit_cost_fwd(u, h, cost)
    end if
    call adprofileadj_turn('streamice_main'//char(0), 'streamice_main.f90'//char(0))
    costb = merge(1.0_real64, 0.0_real64, rank == 0)
    hb = 0; ub = 0; alphab = 0
    if (act(S_MISFIT)) then
      call snp_read(S_MISFIT); call pop_f(t2); call pop_f(t1); call begin_rev(S_MISFIT)
      call misfit_cost_fwd(t1, t2, ts); call turn(S_MISFIT); call misfit_cost_bwd(ub, hb, costb)
      call end_rev(S_MISFIT)
    else
      call misfit_cost_bwd(ub, hb, costb)
    end if
    do t = nt, 1, -1
      if (act(S_TIMESTEP)) then
        call snp_read(S_TIMESTEP); call pop_f(t3); call pop_f(t2); call pop_f(t1)
        call begin_rev(S_TIMESTEP)
        call timestep_fwd(t1, t2, t3); call turn(S_TIMESTEP); call timestep_bwd(hb, ub, alphab)
        call end_rev(S_TIMESTEP)
      else
        call timestep_bwd(hb, ub, alphab)
      end if
    end do
  end subroutine streamice_run_adjoint

  ! ================================================================ time stepping
  !> start a schedule: the initial state, the control, zero adjoints
  subroutine ts_begin(alpha, astat)
    real(real64), intent(in) :: alpha(0:nx + 1, 0:nyl + 1)
    integer, intent(out) :: astat   !< nonzero: the state could not be allocated (none is kept)
    call ts_release()
    allocate(ts_h(0:nx + 1, 0:nyl + 1), ts_u(0:nx + 1, 0:nyl + 1), ts_alpha(0:nx + 1, 0:nyl + 1), &
             ts_hb(0:nx + 1, 0:nyl + 1), ts_ub(0:nx + 1, 0:nyl + 1), ts_alphab(0:nx + 1, 0:nyl + 1), &
             stat=astat)
    if (astat /= 0) then
      call ts_release()
      return
    end if
    ts_h = h_init
    ts_u = 0
    ts_alpha = alpha
    ts_hb = 0
    ts_ub = 0
    ts_alphab = 0
  end subroutine ts_begin

  subroutine ts_release()
    if (allocated(ts_h)) deallocate(ts_h)
    if (allocated(ts_u)) deallocate(ts_u)
    if (allocated(ts_alpha)) deallocate(ts_alpha)
    if (allocated(ts_hb)) deallocate(ts_hb)
    if (allocated(ts_ub)) deallocate(ts_ub)
    if (allocated(ts_alphab)) deallocate(ts_alphab)
  end subroutine ts_release

  !> reals in a time-loop snapshot (h and u)
  integer function ts_state_size()
    ts_state_size = 2 * nf
  end function ts_state_size

  subroutine ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    x(1:nf) = reshape(ts_h, [nf])
    x(nf + 1:2 * nf) = reshape(ts_u, [nf])
  end subroutine ts_state

  subroutine ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    ts_h = reshape(x(1:nf), [nx + 2, nyl + 2])
    ts_u = reshape(x(nf + 1:2 * nf), [nx + 2, nyl + 2])
  end subroutine ts_set_state

  !> advance nadv time steps, untaped (primal) or taped (forward sweep)
  subroutine ts_advance(nadv, taped)
    integer, intent(in) :: nadv
    logical, intent(in) :: taped
    integer :: k
    do k = 1, nadv
      if (taped) then
        call timestep_fwd(ts_h, ts_u, ts_alpha)
      else
        call timestep(ts_h, ts_u, ts_alpha)
      end if
    end do
  end subroutine ts_advance

  !> the cost of the final state, then (joint mode) its adjoint: the seeds of hb, ub
  subroutine ts_end_forward(cost)
    real(real64), intent(out) :: cost
    real(real64) :: costb
    call misfit_cost_fwd(ts_u, ts_h, cost)
    call adprofileadj_turn('streamice_main'//char(0), 'streamice_main.f90'//char(0))
    costb = merge(1.0_real64, 0.0_real64, rank == 0)
    call misfit_cost_bwd(ts_ub, ts_hb, costb)
  end subroutine ts_end_forward

  !> reverse the nrev steps taped last (each: turn, backward sweep)
  subroutine ts_reverse(nrev)
    integer, intent(in) :: nrev
    integer :: k
    do k = 1, nrev
      call turn(S_TIMESTEP)
      call timestep_bwd(ts_hb, ts_ub, ts_alphab)
    end do
  end subroutine ts_reverse

  subroutine ts_gradient(alphab)
    real(real64), intent(out) :: alphab(0:nx + 1, 0:nyl + 1)
    alphab = ts_alphab
  end subroutine ts_gradient

end module streamice_main
