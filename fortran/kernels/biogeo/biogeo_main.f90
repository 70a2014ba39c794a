!> \brief biogeo: one time step (halo exchange, advection, biology, air-sea
!! exchange, surface restoring, vertical mixing), the cost (mean air-sea CO2
!! uptake over the run), and the root adjoint (forward sweep, turn, backward sweep).
module biogeo_main
  use ph_kinds, only: real64
  use biogeo_grid, only: act, begin_adv, begin_rev, end_adv, end_rev, n3, nt, ntr, nx, nyl, nz, &
                         pop_2, pop_3, pop_s, pop_t, push_2, push_3, push_s, push_t, rank, &
                         S_ADVECT, S_AIRSEA, S_ALLRED, S_BIO, S_COST, S_HALO_TR, S_LCOST, &
                         S_RESTORE, S_TIMESTEP, S_VDIFF, snp_read, snp_write, turn
  use biogeo_ops, only: allreduce_sum, allreduce_sum_bwd, allreduce_sum_fwd, halo3, halo3_bwd, &
                        halo3_fwd, local_cost, local_cost_bwd, local_cost_fwd, restore, &
                        restore_bwd, restore_fwd
  use biogeo_transport, only: advect_tracer, advect_tracer_bwd, advect_tracer_fwd, vdiff_tracer, &
                              vdiff_tracer_bwd, vdiff_tracer_fwd
  use biogeo_bio, only: biology, biology_bwd, biology_fwd
  use biogeo_carb, only: airsea, airsea_bwd, airsea_fwd
  implicit none
  private
  public :: biogeo_run_primal, biogeo_run_adjoint
  public :: ts_begin, ts_state_size, ts_state, ts_set_state, ts_advance, ts_end_forward, ts_reverse, &
            ts_gradient

  ! ts_*: the state of a time loop driven from Python (binomial checkpointing), tracers and
  ! accumulated uptake, and its adjoint; bwd_*: the backward step's work arrays (bwd_work)
  real(real64), allocatable, save :: ts_tr(:,:,:,:), ts_trb(:,:,:,:), bwd_tt(:,:,:,:), bwd_t3(:,:,:)
  real(real64), save :: ts_acc = 0, ts_accb = 0

contains

  ! ================================================================ time step
  subroutine bgc_timestep(tr, acc)
    real(real64), intent(inout) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr), acc
    integer :: n
    do n = 1, ntr
      call halo3(tr(:, :, :, n))                                               ! site S_HALO_TR
    end do
    do n = 1, ntr
      call advect_tracer(tr(:, :, :, n))                                       ! site S_ADVECT
    end do
    call biology(tr)                                                           ! site S_BIO
    call airsea(tr, acc)                                                       ! site S_AIRSEA
    do n = 1, ntr
      call restore(n, tr(:, :, 1, n))                                          ! site S_RESTORE
    end do
    do n = 1, ntr
      call vdiff_tracer(tr(:, :, :, n))                                        ! site S_VDIFF
    end do
  end subroutine bgc_timestep

  subroutine bgc_timestep_fwd(tr, acc)
    real(real64), intent(inout) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr), acc
    integer :: n
    do n = 1, ntr
      if (act(S_HALO_TR)) then
        call snp_write(S_HALO_TR); call push_3(tr(:, :, :, n)); call begin_adv(S_HALO_TR)
        call halo3(tr(:, :, :, n))
        call end_adv(S_HALO_TR)
      else
        call halo3_fwd(tr(:, :, :, n))
      end if
    end do
    do n = 1, ntr
      if (act(S_ADVECT)) then
        call snp_write(S_ADVECT); call push_3(tr(:, :, :, n)); call begin_adv(S_ADVECT)
        call advect_tracer(tr(:, :, :, n))
        call end_adv(S_ADVECT)
      else
        call advect_tracer_fwd(tr(:, :, :, n))
      end if
    end do
    if (act(S_BIO)) then
      call snp_write(S_BIO); call push_t(tr); call begin_adv(S_BIO)
      call biology(tr)
      call end_adv(S_BIO)
    else
      call biology_fwd(tr)
    end if
    if (act(S_AIRSEA)) then
      call snp_write(S_AIRSEA); call push_t(tr); call push_s(acc); call begin_adv(S_AIRSEA)
      call airsea(tr, acc)
      call end_adv(S_AIRSEA)
    else
      call airsea_fwd(tr, acc)
    end if
    do n = 1, ntr
      if (act(S_RESTORE)) then
        call snp_write(S_RESTORE); call push_2(tr(:, :, 1, n)); call begin_adv(S_RESTORE)
        call restore(n, tr(:, :, 1, n))
        call end_adv(S_RESTORE)
      else
        call restore_fwd(n, tr(:, :, 1, n))
      end if
    end do
    do n = 1, ntr
      if (act(S_VDIFF)) then
        call snp_write(S_VDIFF); call push_3(tr(:, :, :, n)); call begin_adv(S_VDIFF)
        call vdiff_tracer(tr(:, :, :, n))
        call end_adv(S_VDIFF)
      else
        call vdiff_tracer_fwd(tr(:, :, :, n))
      end if
    end do
  end subroutine bgc_timestep_fwd

  subroutine bgc_timestep_bwd(trb, accb)
    real(real64), intent(inout) :: trb(0:nx + 1, 0:nyl + 1, nz, ntr), accb
    ! its work arrays bwd_tt and bwd_t3 are allocated before the run (bwd_work): a step
    ! that could not allocate them would return while the other ranks wait for it in
    ! its halo exchanges
    real(real64) :: t2(0:nx + 1, 0:nyl + 1), ts
    integer :: n
    do n = ntr, 1, -1
      if (act(S_VDIFF)) then
        call snp_read(S_VDIFF); call pop_3(bwd_t3); call begin_rev(S_VDIFF)
        call vdiff_tracer_fwd(bwd_t3); call turn(S_VDIFF); call vdiff_tracer_bwd(trb(:, :, :, n))
        call end_rev(S_VDIFF)
      else
        call vdiff_tracer_bwd(trb(:, :, :, n))
      end if
    end do
    do n = ntr, 1, -1
      if (act(S_RESTORE)) then
        call snp_read(S_RESTORE); call pop_2(t2); call begin_rev(S_RESTORE)
        call restore_fwd(n, t2); call turn(S_RESTORE); call restore_bwd(n, trb(:, :, 1, n))
        call end_rev(S_RESTORE)
      else
        call restore_bwd(n, trb(:, :, 1, n))
      end if
    end do
    if (act(S_AIRSEA)) then
      call snp_read(S_AIRSEA); call pop_s(ts); call pop_t(bwd_tt); call begin_rev(S_AIRSEA)
      call airsea_fwd(bwd_tt, ts); call turn(S_AIRSEA); call airsea_bwd(trb, accb)
      call end_rev(S_AIRSEA)
    else
      call airsea_bwd(trb, accb)
    end if
    if (act(S_BIO)) then
      call snp_read(S_BIO); call pop_t(bwd_tt); call begin_rev(S_BIO)
      call biology_fwd(bwd_tt); call turn(S_BIO); call biology_bwd(trb)
      call end_rev(S_BIO)
    else
      call biology_bwd(trb)
    end if
    do n = ntr, 1, -1
      if (act(S_ADVECT)) then
        call snp_read(S_ADVECT); call pop_3(bwd_t3); call begin_rev(S_ADVECT)
        call advect_tracer_fwd(bwd_t3); call turn(S_ADVECT); call advect_tracer_bwd(trb(:, :, :, n))
        call end_rev(S_ADVECT)
      else
        call advect_tracer_bwd(trb(:, :, :, n))
      end if
    end do
    do n = ntr, 1, -1
      if (act(S_HALO_TR)) then
        call snp_read(S_HALO_TR); call pop_3(bwd_t3); call begin_rev(S_HALO_TR)
        call halo3_fwd(bwd_t3); call turn(S_HALO_TR); call halo3_bwd(trb(:, :, :, n))
        call end_rev(S_HALO_TR)
      else
        call halo3_bwd(trb(:, :, :, n))
      end if
    end do
  end subroutine bgc_timestep_bwd

  ! ================================================================ cost
  subroutine final_cost(acc, cost)
    real(real64), intent(in) :: acc
    real(real64), intent(out) :: cost
    call local_cost(acc, cost)                                                 ! site S_LCOST
    call allreduce_sum(cost)                                                   ! site S_ALLRED
  end subroutine final_cost

  subroutine final_cost_fwd(acc, cost)
    real(real64), intent(in) :: acc
    real(real64), intent(out) :: cost
    if (act(S_LCOST)) then
      call snp_write(S_LCOST); call push_s(acc); call begin_adv(S_LCOST)
      call local_cost(acc, cost)
      call end_adv(S_LCOST)
    else
      call local_cost_fwd(acc, cost)
    end if
    if (act(S_ALLRED)) then
      call snp_write(S_ALLRED); call push_s(cost); call begin_adv(S_ALLRED)
      call allreduce_sum(cost)
      call end_adv(S_ALLRED)
    else
      call allreduce_sum_fwd(cost)
    end if
  end subroutine final_cost_fwd

  subroutine final_cost_bwd(accb, costb)
    real(real64), intent(inout) :: accb, costb
    real(real64) :: t1, t2
    if (act(S_ALLRED)) then
      call snp_read(S_ALLRED); call pop_s(t1); call begin_rev(S_ALLRED)
      call allreduce_sum_fwd(t1); call turn(S_ALLRED); call allreduce_sum_bwd(costb)
      call end_rev(S_ALLRED)
    else
      call allreduce_sum_bwd(costb)
    end if
    if (act(S_LCOST)) then
      call snp_read(S_LCOST); call pop_s(t1); call begin_rev(S_LCOST)
      call local_cost_fwd(t1, t2); call turn(S_LCOST); call local_cost_bwd(accb, costb)
      call end_rev(S_LCOST)
    else
      call local_cost_bwd(accb, costb)
    end if
  end subroutine final_cost_bwd

  ! ================================================================ root
  !> the primal model: nt time steps from the initial tracers, then the cost
  subroutine biogeo_run_primal(tr0, cost, astat)
    real(real64), intent(in) :: tr0(0:nx + 1, 0:nyl + 1, nz, ntr)
    real(real64), intent(out) :: cost
    integer, intent(out) :: astat   !< nonzero: the state could not be allocated (nothing run)
    real(real64), allocatable :: tr(:,:,:,:)
    real(real64) :: acc
    integer :: t
    cost = 0; acc = 0; allocate(tr, source=tr0, stat=astat); if (astat /= 0) return
    do t = 1, nt
      call bgc_timestep(tr, acc)                                               ! site S_TIMESTEP
    end do
    call final_cost(acc, cost)                                                 ! site S_COST
  end subroutine biogeo_run_primal

  !> the adjoint, root reversed in joint mode; J is replicated over the ranks: its
  !! adjoint is seeded with 1 on rank 0 and 0 elsewhere (the adjoint of the
  !! Allreduce sums the ranks' parts)
  subroutine biogeo_run_adjoint(tr0, trb, cost, astat)
    real(real64), intent(in) :: tr0(0:nx + 1, 0:nyl + 1, nz, ntr)
    real(real64), intent(out) :: trb(0:nx + 1, 0:nyl + 1, nz, ntr), cost
    integer, intent(out) :: astat   !< nonzero: an allocation failed (the run stopped there)
    real(real64), allocatable :: tr(:,:,:,:), tt(:,:,:,:)
    real(real64) :: acc, accb, costb, ts, tc
    integer :: t
    cost = 0; trb = 0
    allocate(tr, source=tr0, stat=astat)
    if (astat == 0) allocate(tt, mold=tr0, stat=astat)
    if (astat == 0) call bwd_work(astat)
    if (astat /= 0) return
    acc = 0
    do t = 1, nt
      if (act(S_TIMESTEP)) then
        call snp_write(S_TIMESTEP); call push_t(tr); call push_s(acc); call begin_adv(S_TIMESTEP)
        call bgc_timestep(tr, acc)
        call end_adv(S_TIMESTEP)
      else
        call bgc_timestep_fwd(tr, acc)
      end if
    end do
    if (act(S_COST)) then
      call snp_write(S_COST); call push_s(acc); call begin_adv(S_COST)
      call final_cost(acc, cost)
      call end_adv(S_COST)
    else
      call final_cost_fwd(acc, cost)
    end if
    call adprofileadj_turn('biogeo_main'//char(0), 'biogeo_main.f90'//char(0))
    costb = merge(1.0_real64, 0.0_real64, rank == 0)
    trb = 0
    accb = 0
    if (act(S_COST)) then
      call snp_read(S_COST); call pop_s(ts); call begin_rev(S_COST)
      call final_cost_fwd(ts, tc); call turn(S_COST); call final_cost_bwd(accb, costb)
      call end_rev(S_COST)
    else
      call final_cost_bwd(accb, costb)
    end if
    do t = nt, 1, -1
      if (act(S_TIMESTEP)) then
        call snp_read(S_TIMESTEP); call pop_s(ts); call pop_t(tt); call begin_rev(S_TIMESTEP)
        call bgc_timestep_fwd(tt, ts); call turn(S_TIMESTEP); call bgc_timestep_bwd(trb, accb)
        call end_rev(S_TIMESTEP)
      else
        call bgc_timestep_bwd(trb, accb)
      end if
    end do
  end subroutine biogeo_run_adjoint

  !> allocate the backward step's work arrays for this run's grid (nonzero astat: they
  !! could not be)
  subroutine bwd_work(astat)
    integer, intent(out) :: astat
    if (allocated(bwd_tt)) deallocate(bwd_tt)
    if (allocated(bwd_t3)) deallocate(bwd_t3)
    allocate(bwd_tt(0:nx + 1, 0:nyl + 1, nz, ntr), stat=astat)
    if (astat == 0) allocate(bwd_t3(0:nx + 1, 0:nyl + 1, nz), stat=astat)
  end subroutine bwd_work

  ! ================================================================ time stepping
  !> start a schedule: the initial state, zero adjoints
  subroutine ts_begin(tr0, astat)
    real(real64), intent(in) :: tr0(0:nx + 1, 0:nyl + 1, nz, ntr)
    integer, intent(out) :: astat   !< nonzero: the state could not be allocated (none is kept)
    if (allocated(ts_tr)) deallocate(ts_tr)
    if (allocated(ts_trb)) deallocate(ts_trb)
    allocate(ts_tr, source=tr0, stat=astat)
    if (astat == 0) allocate(ts_trb, mold=tr0, stat=astat)
    if (astat == 0) call bwd_work(astat)
    if (astat /= 0) then
      if (allocated(ts_tr)) deallocate(ts_tr)
      if (allocated(ts_trb)) deallocate(ts_trb)
      return
    end if
    ts_trb = 0
    ts_acc = 0
    ts_accb = 0
  end subroutine ts_begin

  !> reals in a time-loop snapshot (the tracers and the accumulated uptake)
  integer function ts_state_size()
    ts_state_size = n3 * ntr + 1
  end function ts_state_size

  subroutine ts_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(out) :: x(n)
    x(1:n - 1) = reshape(ts_tr, [n - 1])
    x(n) = ts_acc
  end subroutine ts_state

  subroutine ts_set_state(n, x)
    integer, intent(in) :: n
    real(real64), intent(in) :: x(n)
    ts_tr = reshape(x(1:n - 1), [nx + 2, nyl + 2, nz, ntr])
    ts_acc = x(n)
  end subroutine ts_set_state

  !> advance nadv time steps, untaped (primal) or taped (forward sweep)
  subroutine ts_advance(nadv, taped)
    integer, intent(in) :: nadv
    logical, intent(in) :: taped
    integer :: k
    do k = 1, nadv
      if (taped) then
        call bgc_timestep_fwd(ts_tr, ts_acc)
      else
        call bgc_timestep(ts_tr, ts_acc)
      end if
    end do
  end subroutine ts_advance

  !> the cost of the final state, then (joint mode) its adjoint: the seed of accb
  subroutine ts_end_forward(cost)
    real(real64), intent(out) :: cost
    real(real64) :: costb
    call final_cost_fwd(ts_acc, cost)
    call adprofileadj_turn('biogeo_main'//char(0), 'biogeo_main.f90'//char(0))
    costb = merge(1.0_real64, 0.0_real64, rank == 0)
    call final_cost_bwd(ts_accb, costb)
  end subroutine ts_end_forward

  !> reverse the nrev steps taped last (each: turn, backward sweep)
  subroutine ts_reverse(nrev)
    integer, intent(in) :: nrev
    integer :: k
    do k = 1, nrev
      call turn(S_TIMESTEP)
      call bgc_timestep_bwd(ts_trb, ts_accb)
    end do
  end subroutine ts_reverse

  subroutine ts_gradient(trb)
    real(real64), intent(out) :: trb(0:nx + 1, 0:nyl + 1, nz, ntr)
    trb = ts_trb
  end subroutine ts_gradient

end module biogeo_main
