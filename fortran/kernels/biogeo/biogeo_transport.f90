!> \brief biogeo: transport of one tracer, advection (per-level upwind fluxes,
!! then the flux divergence) and implicit vertical mixing (Thomas sweeps level
!! by level), with a checkpoint at every call.
module biogeo_transport
  use ph_kinds, only: real64
  use biogeo_grid, only: act, begin_adv, begin_rev, end_adv, end_rev, nx, nyl, nz, pop_2, pop_3, &
                         push_2, push_3, S_ADVUPD, S_THOMAS_BS, S_THOMAS_EL, S_UFLUX, S_VDCOPY, &
                         S_VDRHS, S_VFLUX, S_WFLUX, snp_read, snp_write, turn
  use biogeo_ops, only: adv_update, adv_update_bwd, adv_update_fwd, flux_x, flux_x_bwd, &
                        flux_x_fwd, flux_y, flux_y_bwd, flux_y_fwd, flux_z, flux_z_bwd, &
                        flux_z_fwd, thomas_back, thomas_back_bwd, thomas_back_fwd, thomas_elim, &
                        thomas_elim_bwd, thomas_elim_fwd, vd_copy, vd_copy_bwd, vd_copy_fwd, &
                        vd_rhs, vd_rhs_bwd, vd_rhs_fwd
  implicit none
  private
  public :: advect_tracer, advect_tracer_fwd, advect_tracer_bwd
  public :: vdiff_tracer, vdiff_tracer_fwd, vdiff_tracer_bwd

contains

  ! ================================================================ advection
  subroutine advect_tracer(c)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: fx(0:nx + 1, 0:nyl + 1, nz), fy(0:nx + 1, 0:nyl + 1, nz), fz(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: k
    do k = 1, nz
      call flux_x(k, c(:, :, k), fx(:, :, k))                                  ! site S_UFLUX
    end do
    do k = 1, nz
      call flux_y(k, c(:, :, k), fy(:, :, k))                                  ! site S_VFLUX
    end do
    call flux_z(c, fz)                                                         ! site S_WFLUX
    do k = 1, nz
      call adv_update(c(:, :, k), fx(:, :, k), fy(:, :, k), fz(:, :, k), fz(:, :, k + 1))   ! site S_ADVUPD
    end do
  end subroutine advect_tracer

  subroutine advect_tracer_fwd(c)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: fx(0:nx + 1, 0:nyl + 1, nz), fy(0:nx + 1, 0:nyl + 1, nz), fz(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: k
    do k = 1, nz
      if (act(S_UFLUX)) then
        call snp_write(S_UFLUX); call push_2(c(:, :, k)); call begin_adv(S_UFLUX)
        call flux_x(k, c(:, :, k), fx(:, :, k))
        call end_adv(S_UFLUX)
      else
        call flux_x_fwd(k, c(:, :, k), fx(:, :, k))
      end if
    end do
    do k = 1, nz
      if (act(S_VFLUX)) then
        call snp_write(S_VFLUX); call push_2(c(:, :, k)); call begin_adv(S_VFLUX)
        call flux_y(k, c(:, :, k), fy(:, :, k))
        call end_adv(S_VFLUX)
      else
        call flux_y_fwd(k, c(:, :, k), fy(:, :, k))
      end if
    end do
    if (act(S_WFLUX)) then
      call snp_write(S_WFLUX); call push_3(c); call begin_adv(S_WFLUX)
      call flux_z(c, fz)
      call end_adv(S_WFLUX)
    else
      call flux_z_fwd(c, fz)
    end if
    do k = 1, nz
      if (act(S_ADVUPD)) then
        call snp_write(S_ADVUPD); call push_2(c(:, :, k)); call push_2(fx(:, :, k)); call push_2(fy(:, :, k))
        call push_2(fz(:, :, k)); call push_2(fz(:, :, k + 1)); call begin_adv(S_ADVUPD)
        call adv_update(c(:, :, k), fx(:, :, k), fy(:, :, k), fz(:, :, k), fz(:, :, k + 1))
        call end_adv(S_ADVUPD)
      else
        call adv_update_fwd(c(:, :, k), fx(:, :, k), fy(:, :, k), fz(:, :, k), fz(:, :, k + 1))
      end if
    end do
  end subroutine advect_tracer_fwd

  subroutine advect_tracer_bwd(cb)
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1, nz)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: fxb, fyb, t3
    real(real64) :: fzb(0:nx + 1, 0:nyl + 1, nz + 1), tz(0:nx + 1, 0:nyl + 1, nz + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: t1, t2, t3b, t4, t5
    integer :: k
    fxb = 0; fyb = 0; fzb = 0
    do k = nz, 1, -1
      if (act(S_ADVUPD)) then
        call snp_read(S_ADVUPD); call pop_2(t5); call pop_2(t4); call pop_2(t3b); call pop_2(t2); call pop_2(t1)
        call begin_rev(S_ADVUPD)
        call adv_update_fwd(t1, t2, t3b, t4, t5); call turn(S_ADVUPD)
        call adv_update_bwd(cb(:, :, k), fxb(:, :, k), fyb(:, :, k), fzb(:, :, k), fzb(:, :, k + 1))
        call end_rev(S_ADVUPD)
      else
        call adv_update_bwd(cb(:, :, k), fxb(:, :, k), fyb(:, :, k), fzb(:, :, k), fzb(:, :, k + 1))
      end if
    end do
    if (act(S_WFLUX)) then
      call snp_read(S_WFLUX); call pop_3(t3); call begin_rev(S_WFLUX)
      call flux_z_fwd(t3, tz); call turn(S_WFLUX); call flux_z_bwd(cb, fzb)
      call end_rev(S_WFLUX)
    else
      call flux_z_bwd(cb, fzb)
    end if
    do k = nz, 1, -1
      if (act(S_VFLUX)) then
        call snp_read(S_VFLUX); call pop_2(t1); call begin_rev(S_VFLUX)
        call flux_y_fwd(k, t1, t2); call turn(S_VFLUX); call flux_y_bwd(k, cb(:, :, k), fyb(:, :, k))
        call end_rev(S_VFLUX)
      else
        call flux_y_bwd(k, cb(:, :, k), fyb(:, :, k))
      end if
    end do
    do k = nz, 1, -1
      if (act(S_UFLUX)) then
        call snp_read(S_UFLUX); call pop_2(t1); call begin_rev(S_UFLUX)
        call flux_x_fwd(k, t1, t2); call turn(S_UFLUX); call flux_x_bwd(k, cb(:, :, k), fxb(:, :, k))
        call end_rev(S_UFLUX)
      else
        call flux_x_bwd(k, cb(:, :, k), fxb(:, :, k))
      end if
    end do
  end subroutine advect_tracer_bwd

  ! ================================================================ vertical mixing
  subroutine vdiff_tracer(c)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: d(0:nx + 1, 0:nyl + 1, nz)
    integer :: k
    call vd_rhs(c, d)                                                          ! site S_VDRHS
    do k = 2, nz
      call thomas_elim(k, d(:, :, k - 1), d(:, :, k))                          ! site S_THOMAS_EL
    end do
    do k = nz - 1, 1, -1
      call thomas_back(k, d(:, :, k), d(:, :, k + 1))                          ! site S_THOMAS_BS
    end do
    call vd_copy(d, c)                                                         ! site S_VDCOPY
  end subroutine vdiff_tracer

  subroutine vdiff_tracer_fwd(c)
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: d(0:nx + 1, 0:nyl + 1, nz)
    integer :: k
    if (act(S_VDRHS)) then
      call snp_write(S_VDRHS); call push_3(c); call begin_adv(S_VDRHS)
      call vd_rhs(c, d)
      call end_adv(S_VDRHS)
    else
      call vd_rhs_fwd(c, d)
    end if
    do k = 2, nz
      if (act(S_THOMAS_EL)) then
        call snp_write(S_THOMAS_EL); call push_2(d(:, :, k - 1)); call push_2(d(:, :, k)); call begin_adv(S_THOMAS_EL)
        call thomas_elim(k, d(:, :, k - 1), d(:, :, k))
        call end_adv(S_THOMAS_EL)
      else
        call thomas_elim_fwd(k, d(:, :, k - 1), d(:, :, k))
      end if
    end do
    do k = nz - 1, 1, -1
      if (act(S_THOMAS_BS)) then
        call snp_write(S_THOMAS_BS); call push_2(d(:, :, k)); call push_2(d(:, :, k + 1)); call begin_adv(S_THOMAS_BS)
        call thomas_back(k, d(:, :, k), d(:, :, k + 1))
        call end_adv(S_THOMAS_BS)
      else
        call thomas_back_fwd(k, d(:, :, k), d(:, :, k + 1))
      end if
    end do
    if (act(S_VDCOPY)) then
      call snp_write(S_VDCOPY); call push_3(d); call push_3(c); call begin_adv(S_VDCOPY)
      call vd_copy(d, c)
      call end_adv(S_VDCOPY)
    else
      call vd_copy_fwd(d, c)
    end if
  end subroutine vdiff_tracer_fwd

  subroutine vdiff_tracer_bwd(cb)
    real(real64), intent(inout) :: cb(0:nx + 1, 0:nyl + 1, nz)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: db, t3a, t3b
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: t1, t2
    integer :: k
    db = 0
    if (act(S_VDCOPY)) then
      call snp_read(S_VDCOPY); call pop_3(t3b); call pop_3(t3a); call begin_rev(S_VDCOPY)
      call vd_copy_fwd(t3a, t3b); call turn(S_VDCOPY); call vd_copy_bwd(db, cb)
      call end_rev(S_VDCOPY)
    else
      call vd_copy_bwd(db, cb)
    end if
    do k = 1, nz - 1
      if (act(S_THOMAS_BS)) then
        call snp_read(S_THOMAS_BS); call pop_2(t2); call pop_2(t1); call begin_rev(S_THOMAS_BS)
        call thomas_back_fwd(k, t1, t2); call turn(S_THOMAS_BS); call thomas_back_bwd(k, db(:, :, k), db(:, :, k + 1))
        call end_rev(S_THOMAS_BS)
      else
        call thomas_back_bwd(k, db(:, :, k), db(:, :, k + 1))
      end if
    end do
    do k = nz, 2, -1
      if (act(S_THOMAS_EL)) then
        call snp_read(S_THOMAS_EL); call pop_2(t2); call pop_2(t1); call begin_rev(S_THOMAS_EL)
        call thomas_elim_fwd(k, t1, t2); call turn(S_THOMAS_EL); call thomas_elim_bwd(k, db(:, :, k - 1), db(:, :, k))
        call end_rev(S_THOMAS_EL)
      else
        call thomas_elim_bwd(k, db(:, :, k - 1), db(:, :, k))
      end if
    end do
    if (act(S_VDRHS)) then
      call snp_read(S_VDRHS); call pop_3(t3a); call begin_rev(S_VDRHS)
      call vd_rhs_fwd(t3a, t3b); call turn(S_VDRHS); call vd_rhs_bwd(cb, db)
      call end_rev(S_VDRHS)
    else
      call vd_rhs_bwd(cb, db)
    end if
  end subroutine vdiff_tracer_bwd

end module biogeo_transport
