!> \brief streamice: thickness advection by the velocity (flux form), with a
!! surface mass balance; primal / _fwd / _bwd with a checkpoint at every call.
module streamice_adv
  use ph_kinds, only: real64
  use streamice_grid, only: act, begin_adv, begin_rev, end_adv, end_rev, nx, nyl, pop_f, push_f, &
                            S_FLUX, S_HALO_H2, S_UPDH, snp_read, snp_write, turn
  use streamice_ops, only: flux, flux_bwd, flux_fwd, halo_exchange, halo_exchange_bwd, &
                           halo_exchange_fwd, update_h, update_h_bwd, update_h_fwd
  implicit none
  private
  public :: advect, advect_fwd, advect_bwd

contains

  subroutine advect(h, u)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1)
    real(real64) :: fx(0:nx + 1, 0:nyl + 1)
    call halo_exchange(h)                                   ! site S_HALO_H2
    call flux(h, u, fx)                                     ! site S_FLUX
    call update_h(h, fx)                                    ! site S_UPDH
  end subroutine advect

  subroutine advect_fwd(h, u)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: u(0:nx + 1, 0:nyl + 1)
    real(real64) :: fx(0:nx + 1, 0:nyl + 1)
    if (act(S_HALO_H2)) then
      call snp_write(S_HALO_H2); call push_f(h); call begin_adv(S_HALO_H2)
      call halo_exchange(h)
      call end_adv(S_HALO_H2)
    else
      call halo_exchange_fwd(h)
    end if
    if (act(S_FLUX)) then
      call snp_write(S_FLUX); call push_f(h); call push_f(u); call begin_adv(S_FLUX)
      call flux(h, u, fx)
      call end_adv(S_FLUX)
    else
      call flux_fwd(h, u, fx)
    end if
    if (act(S_UPDH)) then
      call snp_write(S_UPDH); call push_f(h); call push_f(fx); call begin_adv(S_UPDH)
      call update_h(h, fx)
      call end_adv(S_UPDH)
    else
      call update_h_fwd(h, fx)
    end if
  end subroutine advect_fwd

  subroutine advect_bwd(hb, ub)
    real(real64), intent(inout) :: hb(0:nx + 1, 0:nyl + 1), ub(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: fxb, t1, t2, t3
    fxb = 0
    if (act(S_UPDH)) then
      call snp_read(S_UPDH); call pop_f(t2); call pop_f(t1); call begin_rev(S_UPDH)
      call update_h_fwd(t1, t2); call turn(S_UPDH); call update_h_bwd(hb, fxb)
      call end_rev(S_UPDH)
    else
      call update_h_bwd(hb, fxb)
    end if
    if (act(S_FLUX)) then
      call snp_read(S_FLUX); call pop_f(t2); call pop_f(t1); call begin_rev(S_FLUX)
      call flux_fwd(t1, t2, t3); call turn(S_FLUX); call flux_bwd(hb, ub, fxb)
      call end_rev(S_FLUX)
    else
      call flux_bwd(hb, ub, fxb)
    end if
    if (act(S_HALO_H2)) then
      call snp_read(S_HALO_H2); call pop_f(t1); call begin_rev(S_HALO_H2)
      call halo_exchange_fwd(t1); call turn(S_HALO_H2); call halo_exchange_bwd(hb)
      call end_rev(S_HALO_H2)
    else
      call halo_exchange_bwd(hb)
    end if
  end subroutine advect_bwd

end module streamice_adv
