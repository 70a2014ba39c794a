!> \brief biogeo: air-sea gas exchange. Salinity from alkalinity, the carbonate
!! constants, surface [H+] from carbonate + borate alkalinity by a fixed number
!! of Newton iterations (cold start), pCO2, the CO2 and O2 fluxes, their effect on
!! the surface level, and the integrated CO2 uptake (the cost). Leaves as
!! Tapenade gives them (foo, foo_fwd, foo_bwd), then the routines calling them
!! with a checkpoint at every call. All on the surface level (2-D fields).
module biogeo_carb
  use ph_kinds, only: real64
  use biogeo_grid, only: act, alk0, begin_adv, begin_rev, bt0, dt, dx, dy, dz, end_adv, end_rev, &
                         hguess, ialk, idic, io2, k0sol, k10, k20, kb, kpist, nnewton, ntr, nx, &
                         nyl, nz, o2s0, pco2atm, pop_2, pop_s, push_2, push_s, S_ACCUM, S_CARB, &
                         S_CARBCONST, S_CDERIV, S_CGUESS, S_CRES, S_GASEX, S_HUPD, S_NEWTON, &
                         S_O2FLUX, S_O2SAT, S_PCO2, S_SALIN, S_SURFAPPLY, snp_read, snp_write, &
                         turn
  implicit none
  private
  public :: airsea, airsea_fwd, airsea_bwd

  integer, parameter :: gas(2) = [idic, io2]      ! the tracers exchanged with the air

contains

  ! ================================================================ leaves
  !> salinity from the surface alkalinity (a linear alkalinity-salinity relation)
  subroutine salinity(alk, sal)
    real(real64), intent(in) :: alk(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: sal(0:nx + 1, 0:nyl + 1)
    sal = 0
    sal(1:nx, 1:nyl) = 35 * alk(1:nx, 1:nyl) / alk0
  end subroutine salinity

  subroutine salinity_fwd(alk, sal)
    real(real64), intent(in) :: alk(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: sal(0:nx + 1, 0:nyl + 1)
    call salinity(alk, sal)         ! linear: nothing to tape
  end subroutine salinity_fwd

  subroutine salinity_bwd(alkb, salb)
    real(real64), intent(inout) :: alkb(0:nx + 1, 0:nyl + 1), salb(0:nx + 1, 0:nyl + 1)
    alkb(1:nx, 1:nyl) = alkb(1:nx, 1:nyl) + 35 / alk0 * salb(1:nx, 1:nyl)
    salb = 0
  end subroutine salinity_bwd

  !> K1, K2 and total boron at the surface salinity
  subroutine carb_constants(sal, k1, k2, bt)
    real(real64), intent(in) :: sal(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out), dimension(0:nx + 1, 0:nyl + 1) :: k1, k2, bt
    k1 = 0; k2 = 0; bt = 0
    k1(1:nx, 1:nyl) = k10 * exp(0.02_real64 * (sal(1:nx, 1:nyl) - 35))
    k2(1:nx, 1:nyl) = k20 * exp(0.03_real64 * (sal(1:nx, 1:nyl) - 35))
    bt(1:nx, 1:nyl) = bt0 * sal(1:nx, 1:nyl) / 35
  end subroutine carb_constants

  subroutine carb_constants_fwd(sal, k1, k2, bt)
    real(real64), intent(in) :: sal(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out), dimension(0:nx + 1, 0:nyl + 1) :: k1, k2, bt
    call push_2(sal)
    call carb_constants(sal, k1, k2, bt)
  end subroutine carb_constants_fwd

  subroutine carb_constants_bwd(salb, k1b, k2b, btb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: salb, k1b, k2b, btb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: sal, k1, k2, bt
    call pop_2(sal)
    call carb_constants(sal, k1, k2, bt)
    salb(1:nx, 1:nyl) = salb(1:nx, 1:nyl) + 0.02_real64 * k1(1:nx, 1:nyl) * k1b(1:nx, 1:nyl) &
                        + 0.03_real64 * k2(1:nx, 1:nyl) * k2b(1:nx, 1:nyl) + bt0 / 35 * btb(1:nx, 1:nyl)
    k1b = 0; k2b = 0; btb = 0
  end subroutine carb_constants_bwd

  !> the first guess of [H+], from alkalinity
  subroutine carb_guess(alk, h)
    real(real64), intent(in) :: alk(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: h(0:nx + 1, 0:nyl + 1)
    h = 0
    h(1:nx, 1:nyl) = hguess * (2 - alk(1:nx, 1:nyl) / alk0)
  end subroutine carb_guess

  subroutine carb_guess_fwd(alk, h)
    real(real64), intent(in) :: alk(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: h(0:nx + 1, 0:nyl + 1)
    call carb_guess(alk, h)         ! linear: nothing to tape
  end subroutine carb_guess_fwd

  subroutine carb_guess_bwd(alkb, hb)
    real(real64), intent(inout) :: alkb(0:nx + 1, 0:nyl + 1), hb(0:nx + 1, 0:nyl + 1)
    alkb(1:nx, 1:nyl) = alkb(1:nx, 1:nyl) - hguess / alk0 * hb(1:nx, 1:nyl)
    hb = 0
  end subroutine carb_guess_bwd

  !> f(h) = carbonate alkalinity + borate alkalinity - total alkalinity
  subroutine carb_residual(dic, alk, k1, k2, bt, h, f)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, alk, k1, k2, bt, h
    real(real64), intent(out) :: f(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    real(real64) :: dn, nm
    f = 0
    do j = 1, nyl
      do i = 1, nx
        nm = k1(i, j) * h(i, j) + 2 * k1(i, j) * k2(i, j)
        dn = h(i, j)**2 + k1(i, j) * h(i, j) + k1(i, j) * k2(i, j)
        f(i, j) = dic(i, j) * nm / dn + bt(i, j) * kb / (kb + h(i, j)) - alk(i, j)
      end do
    end do
  end subroutine carb_residual

  subroutine carb_residual_fwd(dic, alk, k1, k2, bt, h, f)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, alk, k1, k2, bt, h
    real(real64), intent(out) :: f(0:nx + 1, 0:nyl + 1)
    call push_2(dic); call push_2(k1); call push_2(k2); call push_2(bt); call push_2(h)
    call carb_residual(dic, alk, k1, k2, bt, h, f)
  end subroutine carb_residual_fwd

  subroutine carb_residual_bwd(dicb, alkb, k1b, k2b, btb, hb, fb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: dicb, alkb, k1b, k2b, btb, hb, fb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, bt, h
    integer :: i, j
    real(real64) :: dn, nm, nmb, dnb
    call pop_2(h); call pop_2(bt); call pop_2(k2); call pop_2(k1); call pop_2(dic)
    do j = 1, nyl
      do i = 1, nx
        nm = k1(i, j) * h(i, j) + 2 * k1(i, j) * k2(i, j)
        dn = h(i, j)**2 + k1(i, j) * h(i, j) + k1(i, j) * k2(i, j)
        dicb(i, j) = dicb(i, j) + nm / dn * fb(i, j)
        nmb = dic(i, j) / dn * fb(i, j)
        dnb = -dic(i, j) * nm / dn**2 * fb(i, j)
        btb(i, j) = btb(i, j) + kb / (kb + h(i, j)) * fb(i, j)
        hb(i, j) = hb(i, j) - bt(i, j) * kb / (kb + h(i, j))**2 * fb(i, j)
        alkb(i, j) = alkb(i, j) - fb(i, j)
        k1b(i, j) = k1b(i, j) + (h(i, j) + 2 * k2(i, j)) * nmb + (h(i, j) + k2(i, j)) * dnb
        k2b(i, j) = k2b(i, j) + 2 * k1(i, j) * nmb + k1(i, j) * dnb
        hb(i, j) = hb(i, j) + k1(i, j) * nmb + (2 * h(i, j) + k1(i, j)) * dnb
      end do
    end do
    fb = 0
  end subroutine carb_residual_bwd

  !> df/dh
  subroutine carb_deriv(dic, k1, k2, bt, h, df)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, bt, h
    real(real64), intent(out) :: df(0:nx + 1, 0:nyl + 1)
    integer :: i, j
    real(real64) :: dn, nm, p
    df = 0
    do j = 1, nyl
      do i = 1, nx
        nm = k1(i, j) * h(i, j) + 2 * k1(i, j) * k2(i, j)
        dn = h(i, j)**2 + k1(i, j) * h(i, j) + k1(i, j) * k2(i, j)
        p = k1(i, j) * dn - nm * (2 * h(i, j) + k1(i, j))
        df(i, j) = dic(i, j) * p / dn**2 - bt(i, j) * kb / (kb + h(i, j))**2
      end do
    end do
  end subroutine carb_deriv

  subroutine carb_deriv_fwd(dic, k1, k2, bt, h, df)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, bt, h
    real(real64), intent(out) :: df(0:nx + 1, 0:nyl + 1)
    call push_2(dic); call push_2(k1); call push_2(k2); call push_2(bt); call push_2(h)
    call carb_deriv(dic, k1, k2, bt, h, df)
  end subroutine carb_deriv_fwd

  subroutine carb_deriv_bwd(dicb, k1b, k2b, btb, hb, dfb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: dicb, k1b, k2b, btb, hb, dfb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, bt, h
    integer :: i, j
    real(real64) :: dn, nm, p, pb, dnb, nmb
    call pop_2(h); call pop_2(bt); call pop_2(k2); call pop_2(k1); call pop_2(dic)
    do j = 1, nyl
      do i = 1, nx
        nm = k1(i, j) * h(i, j) + 2 * k1(i, j) * k2(i, j)
        dn = h(i, j)**2 + k1(i, j) * h(i, j) + k1(i, j) * k2(i, j)
        p = k1(i, j) * dn - nm * (2 * h(i, j) + k1(i, j))
        dicb(i, j) = dicb(i, j) + p / dn**2 * dfb(i, j)
        pb = dic(i, j) / dn**2 * dfb(i, j)
        dnb = -2 * dic(i, j) * p / dn**3 * dfb(i, j)
        btb(i, j) = btb(i, j) - kb / (kb + h(i, j))**2 * dfb(i, j)
        hb(i, j) = hb(i, j) + 2 * bt(i, j) * kb / (kb + h(i, j))**3 * dfb(i, j)
        ! p = k1 dn - nm (2 h + k1)
        k1b(i, j) = k1b(i, j) + (dn - nm) * pb
        dnb = dnb + k1(i, j) * pb
        nmb = -(2 * h(i, j) + k1(i, j)) * pb
        hb(i, j) = hb(i, j) - 2 * nm * pb
        ! nm and dn
        k1b(i, j) = k1b(i, j) + (h(i, j) + 2 * k2(i, j)) * nmb + (h(i, j) + k2(i, j)) * dnb
        k2b(i, j) = k2b(i, j) + 2 * k1(i, j) * nmb + k1(i, j) * dnb
        hb(i, j) = hb(i, j) + k1(i, j) * nmb + (2 * h(i, j) + k1(i, j)) * dnb
      end do
    end do
    dfb = 0
  end subroutine carb_deriv_bwd

  !> the Newton update h <- h - f / f'
  subroutine h_update(f, df, h)
    real(real64), intent(in) :: f(0:nx + 1, 0:nyl + 1), df(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    h(1:nx, 1:nyl) = h(1:nx, 1:nyl) - f(1:nx, 1:nyl) / df(1:nx, 1:nyl)
  end subroutine h_update

  subroutine h_update_fwd(f, df, h)
    real(real64), intent(in) :: f(0:nx + 1, 0:nyl + 1), df(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    call push_2(f)
    call push_2(df)
    call h_update(f, df, h)
  end subroutine h_update_fwd

  subroutine h_update_bwd(fb, dfb, hb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: fb, dfb, hb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: f, df
    call pop_2(df)
    call pop_2(f)
    fb(1:nx, 1:nyl) = fb(1:nx, 1:nyl) - hb(1:nx, 1:nyl) / df(1:nx, 1:nyl)
    dfb(1:nx, 1:nyl) = dfb(1:nx, 1:nyl) + f(1:nx, 1:nyl) / df(1:nx, 1:nyl)**2 * hb(1:nx, 1:nyl)
  end subroutine h_update_bwd

  !> pCO2 = [CO2*] / K0, [CO2*] = DIC h^2 / (h^2 + K1 h + K1 K2)
  subroutine pco2_calc(dic, k1, k2, h, pco2)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, h
    real(real64), intent(out) :: pco2(0:nx + 1, 0:nyl + 1)
    pco2 = 0
    pco2(1:nx, 1:nyl) = dic(1:nx, 1:nyl) * h(1:nx, 1:nyl)**2 / (k0sol * (h(1:nx, 1:nyl)**2 &
                        + k1(1:nx, 1:nyl) * h(1:nx, 1:nyl) + k1(1:nx, 1:nyl) * k2(1:nx, 1:nyl)))
  end subroutine pco2_calc

  subroutine pco2_calc_fwd(dic, k1, k2, h, pco2)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, h
    real(real64), intent(out) :: pco2(0:nx + 1, 0:nyl + 1)
    call push_2(dic); call push_2(k1); call push_2(k2); call push_2(h)
    call pco2_calc(dic, k1, k2, h, pco2)
  end subroutine pco2_calc_fwd

  subroutine pco2_calc_bwd(dicb, k1b, k2b, hb, pco2b)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: dicb, k1b, k2b, hb, pco2b
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: dic, k1, k2, h
    integer :: i, j
    real(real64) :: dn, dnb
    call pop_2(h); call pop_2(k2); call pop_2(k1); call pop_2(dic)
    do j = 1, nyl
      do i = 1, nx
        dn = h(i, j)**2 + k1(i, j) * h(i, j) + k1(i, j) * k2(i, j)
        dicb(i, j) = dicb(i, j) + h(i, j)**2 / (k0sol * dn) * pco2b(i, j)
        hb(i, j) = hb(i, j) + 2 * dic(i, j) * h(i, j) / (k0sol * dn) * pco2b(i, j)
        dnb = -dic(i, j) * h(i, j)**2 / (k0sol * dn**2) * pco2b(i, j)
        hb(i, j) = hb(i, j) + (2 * h(i, j) + k1(i, j)) * dnb
        k1b(i, j) = k1b(i, j) + (h(i, j) + k2(i, j)) * dnb
        k2b(i, j) = k2b(i, j) + k1(i, j) * dnb
      end do
    end do
    pco2b = 0
  end subroutine pco2_calc_bwd

  !> CO2 flux into the ocean
  subroutine gas_exchange(pco2, fco2)
    real(real64), intent(in) :: pco2(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fco2(0:nx + 1, 0:nyl + 1)
    fco2 = 0
    fco2(1:nx, 1:nyl) = kpist * k0sol * (pco2atm - pco2(1:nx, 1:nyl))
  end subroutine gas_exchange

  subroutine gas_exchange_fwd(pco2, fco2)
    real(real64), intent(in) :: pco2(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fco2(0:nx + 1, 0:nyl + 1)
    call gas_exchange(pco2, fco2)   ! linear: nothing to tape
  end subroutine gas_exchange_fwd

  subroutine gas_exchange_bwd(pco2b, fco2b)
    real(real64), intent(inout) :: pco2b(0:nx + 1, 0:nyl + 1), fco2b(0:nx + 1, 0:nyl + 1)
    pco2b(1:nx, 1:nyl) = pco2b(1:nx, 1:nyl) - kpist * k0sol * fco2b(1:nx, 1:nyl)
    fco2b = 0
  end subroutine gas_exchange_bwd

  !> oxygen saturation (salinity effect only: the temperature is fixed)
  subroutine o2_saturation(sal, o2s)
    real(real64), intent(in) :: sal(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: o2s(0:nx + 1, 0:nyl + 1)
    o2s = 0
    o2s(1:nx, 1:nyl) = o2s0 * (1 - 0.01_real64 * (sal(1:nx, 1:nyl) - 35))
  end subroutine o2_saturation

  subroutine o2_saturation_fwd(sal, o2s)
    real(real64), intent(in) :: sal(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: o2s(0:nx + 1, 0:nyl + 1)
    call o2_saturation(sal, o2s)    ! linear: nothing to tape
  end subroutine o2_saturation_fwd

  subroutine o2_saturation_bwd(salb, o2sb)
    real(real64), intent(inout) :: salb(0:nx + 1, 0:nyl + 1), o2sb(0:nx + 1, 0:nyl + 1)
    salb(1:nx, 1:nyl) = salb(1:nx, 1:nyl) - 0.01_real64 * o2s0 * o2sb(1:nx, 1:nyl)
    o2sb = 0
  end subroutine o2_saturation_bwd

  !> O2 flux into the ocean
  subroutine o2_flux(o2, o2s, fo2)
    real(real64), intent(in) :: o2(0:nx + 1, 0:nyl + 1), o2s(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fo2(0:nx + 1, 0:nyl + 1)
    fo2 = 0
    fo2(1:nx, 1:nyl) = kpist * (o2s(1:nx, 1:nyl) - o2(1:nx, 1:nyl))
  end subroutine o2_flux

  subroutine o2_flux_fwd(o2, o2s, fo2)
    real(real64), intent(in) :: o2(0:nx + 1, 0:nyl + 1), o2s(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: fo2(0:nx + 1, 0:nyl + 1)
    call o2_flux(o2, o2s, fo2)      ! linear: nothing to tape
  end subroutine o2_flux_fwd

  subroutine o2_flux_bwd(o2b, o2sb, fo2b)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: o2b, o2sb, fo2b
    o2sb(1:nx, 1:nyl) = o2sb(1:nx, 1:nyl) + kpist * fo2b(1:nx, 1:nyl)
    o2b(1:nx, 1:nyl) = o2b(1:nx, 1:nyl) - kpist * fo2b(1:nx, 1:nyl)
    fo2b = 0
  end subroutine o2_flux_bwd

  !> acc += dt x (this rank's area integral of the CO2 flux)
  subroutine accumulate(f, acc)
    real(real64), intent(in) :: f(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: acc
    acc = acc + dt * dx * dy * sum(f(1:nx, 1:nyl))
  end subroutine accumulate

  subroutine accumulate_fwd(f, acc)
    real(real64), intent(in) :: f(0:nx + 1, 0:nyl + 1)
    real(real64), intent(inout) :: acc
    call accumulate(f, acc)         ! linear: nothing to tape
  end subroutine accumulate_fwd

  subroutine accumulate_bwd(fb, accb)
    real(real64), intent(inout) :: fb(0:nx + 1, 0:nyl + 1), accb
    fb(1:nx, 1:nyl) = fb(1:nx, 1:nyl) + dt * dx * dy * accb
  end subroutine accumulate_bwd

  !> a gas flux into the surface level
  subroutine surface_apply(c1, f)
    real(real64), intent(inout) :: c1(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: f(0:nx + 1, 0:nyl + 1)
    c1(1:nx, 1:nyl) = c1(1:nx, 1:nyl) + dt / dz * f(1:nx, 1:nyl)
  end subroutine surface_apply

  subroutine surface_apply_fwd(c1, f)
    real(real64), intent(inout) :: c1(0:nx + 1, 0:nyl + 1)
    real(real64), intent(in) :: f(0:nx + 1, 0:nyl + 1)
    call surface_apply(c1, f)       ! linear: nothing to tape
  end subroutine surface_apply_fwd

  subroutine surface_apply_bwd(c1b, fb)
    real(real64), intent(inout) :: c1b(0:nx + 1, 0:nyl + 1), fb(0:nx + 1, 0:nyl + 1)
    fb(1:nx, 1:nyl) = fb(1:nx, 1:nyl) + dt / dz * c1b(1:nx, 1:nyl)
  end subroutine surface_apply_bwd

  ! ================================================================ one Newton iteration
  subroutine newton_iter(dic, alk, k1, k2, bt, h)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, alk, k1, k2, bt
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: f, df
    call carb_residual(dic, alk, k1, k2, bt, h, f)                             ! site S_CRES
    call carb_deriv(dic, k1, k2, bt, h, df)                                    ! site S_CDERIV
    call h_update(f, df, h)                                                    ! site S_HUPD
  end subroutine newton_iter

  subroutine newton_iter_fwd(dic, alk, k1, k2, bt, h)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, alk, k1, k2, bt
    real(real64), intent(inout) :: h(0:nx + 1, 0:nyl + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: f, df
    if (act(S_CRES)) then
      call snp_write(S_CRES); call push_2(dic); call push_2(alk); call push_2(k1); call push_2(k2)
      call push_2(bt); call push_2(h); call begin_adv(S_CRES)
      call carb_residual(dic, alk, k1, k2, bt, h, f)
      call end_adv(S_CRES)
    else
      call carb_residual_fwd(dic, alk, k1, k2, bt, h, f)
    end if
    if (act(S_CDERIV)) then
      call snp_write(S_CDERIV); call push_2(dic); call push_2(k1); call push_2(k2); call push_2(bt)
      call push_2(h); call begin_adv(S_CDERIV)
      call carb_deriv(dic, k1, k2, bt, h, df)
      call end_adv(S_CDERIV)
    else
      call carb_deriv_fwd(dic, k1, k2, bt, h, df)
    end if
    if (act(S_HUPD)) then
      call snp_write(S_HUPD); call push_2(f); call push_2(df); call push_2(h); call begin_adv(S_HUPD)
      call h_update(f, df, h)
      call end_adv(S_HUPD)
    else
      call h_update_fwd(f, df, h)
    end if
  end subroutine newton_iter_fwd

  subroutine newton_iter_bwd(dicb, alkb, k1b, k2b, btb, hb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: dicb, alkb, k1b, k2b, btb, hb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: fb, dfb, t1, t2, t3, t4, t5, t6, t7
    fb = 0; dfb = 0
    if (act(S_HUPD)) then
      call snp_read(S_HUPD); call pop_2(t3); call pop_2(t2); call pop_2(t1); call begin_rev(S_HUPD)
      call h_update_fwd(t1, t2, t3); call turn(S_HUPD); call h_update_bwd(fb, dfb, hb)
      call end_rev(S_HUPD)
    else
      call h_update_bwd(fb, dfb, hb)
    end if
    if (act(S_CDERIV)) then
      call snp_read(S_CDERIV); call pop_2(t5); call pop_2(t4); call pop_2(t3); call pop_2(t2); call pop_2(t1)
      call begin_rev(S_CDERIV)
      call carb_deriv_fwd(t1, t2, t3, t4, t5, t6); call turn(S_CDERIV)
      call carb_deriv_bwd(dicb, k1b, k2b, btb, hb, dfb)
      call end_rev(S_CDERIV)
    else
      call carb_deriv_bwd(dicb, k1b, k2b, btb, hb, dfb)
    end if
    if (act(S_CRES)) then
      call snp_read(S_CRES); call pop_2(t6); call pop_2(t5); call pop_2(t4); call pop_2(t3); call pop_2(t2)
      call pop_2(t1); call begin_rev(S_CRES)
      call carb_residual_fwd(t1, t2, t3, t4, t5, t6, t7); call turn(S_CRES)
      call carb_residual_bwd(dicb, alkb, k1b, k2b, btb, hb, fb)
      call end_rev(S_CRES)
    else
      call carb_residual_bwd(dicb, alkb, k1b, k2b, btb, hb, fb)
    end if
  end subroutine newton_iter_bwd

  ! ================================================================ the carbonate solve
  subroutine carbonate_solve(dic, alk, k1, k2, bt, h)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, alk, k1, k2, bt
    real(real64), intent(out) :: h(0:nx + 1, 0:nyl + 1)
    integer :: it
    call carb_guess(alk, h)                                                    ! site S_CGUESS
    do it = 1, nnewton
      call newton_iter(dic, alk, k1, k2, bt, h)                                ! site S_NEWTON
    end do
  end subroutine carbonate_solve

  subroutine carbonate_solve_fwd(dic, alk, k1, k2, bt, h)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1) :: dic, alk, k1, k2, bt
    real(real64), intent(out) :: h(0:nx + 1, 0:nyl + 1)
    integer :: it
    if (act(S_CGUESS)) then
      call snp_write(S_CGUESS); call push_2(alk); call begin_adv(S_CGUESS)
      call carb_guess(alk, h)
      call end_adv(S_CGUESS)
    else
      call carb_guess_fwd(alk, h)
    end if
    do it = 1, nnewton
      if (act(S_NEWTON)) then
        call snp_write(S_NEWTON); call push_2(dic); call push_2(alk); call push_2(k1); call push_2(k2)
        call push_2(bt); call push_2(h); call begin_adv(S_NEWTON)
        call newton_iter(dic, alk, k1, k2, bt, h)
        call end_adv(S_NEWTON)
      else
        call newton_iter_fwd(dic, alk, k1, k2, bt, h)
      end if
    end do
  end subroutine carbonate_solve_fwd

  subroutine carbonate_solve_bwd(dicb, alkb, k1b, k2b, btb, hb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: dicb, alkb, k1b, k2b, btb, hb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: t1, t2, t3, t4, t5, t6
    integer :: it
    do it = nnewton, 1, -1
      if (act(S_NEWTON)) then
        call snp_read(S_NEWTON); call pop_2(t6); call pop_2(t5); call pop_2(t4); call pop_2(t3); call pop_2(t2)
        call pop_2(t1); call begin_rev(S_NEWTON)
        call newton_iter_fwd(t1, t2, t3, t4, t5, t6); call turn(S_NEWTON)
        call newton_iter_bwd(dicb, alkb, k1b, k2b, btb, hb)
        call end_rev(S_NEWTON)
      else
        call newton_iter_bwd(dicb, alkb, k1b, k2b, btb, hb)
      end if
    end do
    if (act(S_CGUESS)) then
      call snp_read(S_CGUESS); call pop_2(t1); call begin_rev(S_CGUESS)
      call carb_guess_fwd(t1, t2); call turn(S_CGUESS); call carb_guess_bwd(alkb, hb)
      call end_rev(S_CGUESS)
    else
      call carb_guess_bwd(alkb, hb)
    end if
  end subroutine carbonate_solve_bwd

  ! ================================================================ air-sea exchange
  subroutine airsea(tr, acc)
    real(real64), intent(inout) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr), acc
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: sal, k1, k2, bt, h, pco2, o2s
    real(real64) :: gflux(0:nx + 1, 0:nyl + 1, 2)
    integer :: g
    call salinity(tr(:, :, 1, ialk), sal)                                      ! site S_SALIN
    call carb_constants(sal, k1, k2, bt)                                       ! site S_CARBCONST
    call carbonate_solve(tr(:, :, 1, idic), tr(:, :, 1, ialk), k1, k2, bt, h)  ! site S_CARB
    call pco2_calc(tr(:, :, 1, idic), k1, k2, h, pco2)                         ! site S_PCO2
    call gas_exchange(pco2, gflux(:, :, 1))                                    ! site S_GASEX
    call o2_saturation(sal, o2s)                                               ! site S_O2SAT
    call o2_flux(tr(:, :, 1, io2), o2s, gflux(:, :, 2))                        ! site S_O2FLUX
    call accumulate(gflux(:, :, 1), acc)                                       ! site S_ACCUM
    do g = 1, 2
      call surface_apply(tr(:, :, 1, gas(g)), gflux(:, :, g))                  ! site S_SURFAPPLY
    end do
  end subroutine airsea

  subroutine airsea_fwd(tr, acc)
    real(real64), intent(inout) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr), acc
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: sal, k1, k2, bt, h, pco2, o2s
    real(real64) :: gflux(0:nx + 1, 0:nyl + 1, 2)
    integer :: g
    if (act(S_SALIN)) then
      call snp_write(S_SALIN); call push_2(tr(:, :, 1, ialk)); call begin_adv(S_SALIN)
      call salinity(tr(:, :, 1, ialk), sal)
      call end_adv(S_SALIN)
    else
      call salinity_fwd(tr(:, :, 1, ialk), sal)
    end if
    if (act(S_CARBCONST)) then
      call snp_write(S_CARBCONST); call push_2(sal); call begin_adv(S_CARBCONST)
      call carb_constants(sal, k1, k2, bt)
      call end_adv(S_CARBCONST)
    else
      call carb_constants_fwd(sal, k1, k2, bt)
    end if
    if (act(S_CARB)) then
      call snp_write(S_CARB); call push_2(tr(:, :, 1, idic)); call push_2(tr(:, :, 1, ialk)); call push_2(k1)
      call push_2(k2); call push_2(bt); call begin_adv(S_CARB)
      call carbonate_solve(tr(:, :, 1, idic), tr(:, :, 1, ialk), k1, k2, bt, h)
      call end_adv(S_CARB)
    else
      call carbonate_solve_fwd(tr(:, :, 1, idic), tr(:, :, 1, ialk), k1, k2, bt, h)
    end if
    if (act(S_PCO2)) then
      call snp_write(S_PCO2); call push_2(tr(:, :, 1, idic)); call push_2(k1); call push_2(k2); call push_2(h)
      call begin_adv(S_PCO2)
      call pco2_calc(tr(:, :, 1, idic), k1, k2, h, pco2)
      call end_adv(S_PCO2)
    else
      call pco2_calc_fwd(tr(:, :, 1, idic), k1, k2, h, pco2)
    end if
    if (act(S_GASEX)) then
      call snp_write(S_GASEX); call push_2(pco2); call begin_adv(S_GASEX)
      call gas_exchange(pco2, gflux(:, :, 1))
      call end_adv(S_GASEX)
    else
      call gas_exchange_fwd(pco2, gflux(:, :, 1))
    end if
    if (act(S_O2SAT)) then
      call snp_write(S_O2SAT); call push_2(sal); call begin_adv(S_O2SAT)
      call o2_saturation(sal, o2s)
      call end_adv(S_O2SAT)
    else
      call o2_saturation_fwd(sal, o2s)
    end if
    if (act(S_O2FLUX)) then
      call snp_write(S_O2FLUX); call push_2(tr(:, :, 1, io2)); call push_2(o2s); call begin_adv(S_O2FLUX)
      call o2_flux(tr(:, :, 1, io2), o2s, gflux(:, :, 2))
      call end_adv(S_O2FLUX)
    else
      call o2_flux_fwd(tr(:, :, 1, io2), o2s, gflux(:, :, 2))
    end if
    if (act(S_ACCUM)) then
      call snp_write(S_ACCUM); call push_2(gflux(:, :, 1)); call push_s(acc); call begin_adv(S_ACCUM)
      call accumulate(gflux(:, :, 1), acc)
      call end_adv(S_ACCUM)
    else
      call accumulate_fwd(gflux(:, :, 1), acc)
    end if
    do g = 1, 2
      if (act(S_SURFAPPLY)) then
        call snp_write(S_SURFAPPLY); call push_2(tr(:, :, 1, gas(g))); call push_2(gflux(:, :, g))
        call begin_adv(S_SURFAPPLY)
        call surface_apply(tr(:, :, 1, gas(g)), gflux(:, :, g))
        call end_adv(S_SURFAPPLY)
      else
        call surface_apply_fwd(tr(:, :, 1, gas(g)), gflux(:, :, g))
      end if
    end do
  end subroutine airsea_fwd

  subroutine airsea_bwd(trb, accb)
    real(real64), intent(inout) :: trb(0:nx + 1, 0:nyl + 1, nz, ntr), accb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: salb, k1b, k2b, btb, hb, pco2b, o2sb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: t1, t2, t3, t4, t5, t6
    real(real64) :: gfluxb(0:nx + 1, 0:nyl + 1, 2), ts
    integer :: g
    salb = 0; k1b = 0; k2b = 0; btb = 0; hb = 0; pco2b = 0; o2sb = 0; gfluxb = 0
    do g = 2, 1, -1
      if (act(S_SURFAPPLY)) then
        call snp_read(S_SURFAPPLY); call pop_2(t2); call pop_2(t1); call begin_rev(S_SURFAPPLY)
        call surface_apply_fwd(t1, t2); call turn(S_SURFAPPLY)
        call surface_apply_bwd(trb(:, :, 1, gas(g)), gfluxb(:, :, g))
        call end_rev(S_SURFAPPLY)
      else
        call surface_apply_bwd(trb(:, :, 1, gas(g)), gfluxb(:, :, g))
      end if
    end do
    if (act(S_ACCUM)) then
      call snp_read(S_ACCUM); call pop_s(ts); call pop_2(t1); call begin_rev(S_ACCUM)
      call accumulate_fwd(t1, ts); call turn(S_ACCUM); call accumulate_bwd(gfluxb(:, :, 1), accb)
      call end_rev(S_ACCUM)
    else
      call accumulate_bwd(gfluxb(:, :, 1), accb)
    end if
    if (act(S_O2FLUX)) then
      call snp_read(S_O2FLUX); call pop_2(t2); call pop_2(t1); call begin_rev(S_O2FLUX)
      call o2_flux_fwd(t1, t2, t3); call turn(S_O2FLUX); call o2_flux_bwd(trb(:, :, 1, io2), o2sb, gfluxb(:, :, 2))
      call end_rev(S_O2FLUX)
    else
      call o2_flux_bwd(trb(:, :, 1, io2), o2sb, gfluxb(:, :, 2))
    end if
    if (act(S_O2SAT)) then
      call snp_read(S_O2SAT); call pop_2(t1); call begin_rev(S_O2SAT)
      call o2_saturation_fwd(t1, t2); call turn(S_O2SAT); call o2_saturation_bwd(salb, o2sb)
      call end_rev(S_O2SAT)
    else
      call o2_saturation_bwd(salb, o2sb)
    end if
    if (act(S_GASEX)) then
      call snp_read(S_GASEX); call pop_2(t1); call begin_rev(S_GASEX)
      call gas_exchange_fwd(t1, t2); call turn(S_GASEX); call gas_exchange_bwd(pco2b, gfluxb(:, :, 1))
      call end_rev(S_GASEX)
    else
      call gas_exchange_bwd(pco2b, gfluxb(:, :, 1))
    end if
    if (act(S_PCO2)) then
      call snp_read(S_PCO2); call pop_2(t4); call pop_2(t3); call pop_2(t2); call pop_2(t1); call begin_rev(S_PCO2)
      call pco2_calc_fwd(t1, t2, t3, t4, t5); call turn(S_PCO2)
      call pco2_calc_bwd(trb(:, :, 1, idic), k1b, k2b, hb, pco2b)
      call end_rev(S_PCO2)
    else
      call pco2_calc_bwd(trb(:, :, 1, idic), k1b, k2b, hb, pco2b)
    end if
    if (act(S_CARB)) then
      call snp_read(S_CARB); call pop_2(t5); call pop_2(t4); call pop_2(t3); call pop_2(t2); call pop_2(t1)
      call begin_rev(S_CARB)
      call carbonate_solve_fwd(t1, t2, t3, t4, t5, t6); call turn(S_CARB)
      call carbonate_solve_bwd(trb(:, :, 1, idic), trb(:, :, 1, ialk), k1b, k2b, btb, hb)
      call end_rev(S_CARB)
    else
      call carbonate_solve_bwd(trb(:, :, 1, idic), trb(:, :, 1, ialk), k1b, k2b, btb, hb)
    end if
    if (act(S_CARBCONST)) then
      call snp_read(S_CARBCONST); call pop_2(t1); call begin_rev(S_CARBCONST)
      call carb_constants_fwd(t1, t2, t3, t4); call turn(S_CARBCONST); call carb_constants_bwd(salb, k1b, k2b, btb)
      call end_rev(S_CARBCONST)
    else
      call carb_constants_bwd(salb, k1b, k2b, btb)
    end if
    if (act(S_SALIN)) then
      call snp_read(S_SALIN); call pop_2(t1); call begin_rev(S_SALIN)
      call salinity_fwd(t1, t2); call turn(S_SALIN); call salinity_bwd(trb(:, :, 1, ialk), salb)
      call end_rev(S_SALIN)
    else
      call salinity_bwd(trb(:, :, 1, ialk), salb)
    end if
  end subroutine airsea_bwd

end module biogeo_carb
