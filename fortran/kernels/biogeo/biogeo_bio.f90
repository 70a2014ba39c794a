!> \brief biogeo: biology. Light with self-shading, nutrient- and light-limited
!! uptake of phosphate in the euphotic layer, a fraction to dissolved organic
!! phosphorus and the rest exported as sinking particles, remineralised level by
!! level (oxygen-limited), DOP decay, and the tendencies of the five tracers in
!! Redfield ratios. Leaves as Tapenade gives them (foo, foo_fwd, foo_bwd), then
!! the routines calling them with a checkpoint at every call.
module biogeo_bio
  use ph_kinds, only: real64
  use biogeo_grid, only: act, begin_adv, begin_rev, dt, dz, end_adv, end_rev, i0, idop, io2, ipo4, &
                         katt, klight, ko2, kpo4, kself, mu, ntr, nx, nyl, nz, nzeu, pop_2, pop_3, &
                         push_2, push_3, rdop, rr, S_BIOTEND, S_DOPDECAY, S_EXPORT, S_GROWTH, &
                         S_LIGHT, S_LIGHTLIM, S_NUTLIM, S_O2LIM, S_REMFLUX, S_REMIN, S_UPTAKE, &
                         sigma, snp_read, snp_write, turn, w_dop, w_remin, zc
  implicit none
  private
  public :: biology, biology_fwd, biology_bwd

contains

  ! ================================================================ leaves
  !> photosynthetically available light in the euphotic layer (the level's mid-depth)
  subroutine light(po4, lt)
    real(real64), intent(in) :: po4(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: lt(0:nx + 1, 0:nyl + 1, nz)
    integer :: i, j, k
    real(real64) :: cum
    lt = 0
    do j = 1, nyl
      do i = 1, nx
        cum = 0
        do k = 1, nzeu
          lt(i, j, k) = i0 * exp(-katt * zc(k) - kself * dz * (cum + 0.5_real64 * po4(i, j, k)))
          cum = cum + po4(i, j, k)
        end do
      end do
    end do
  end subroutine light

  subroutine light_fwd(po4, lt)
    real(real64), intent(in) :: po4(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: lt(0:nx + 1, 0:nyl + 1, nz)
    call push_3(po4)
    call light(po4, lt)
  end subroutine light_fwd

  subroutine light_bwd(po4b, ltb)
    real(real64), intent(inout) :: po4b(0:nx + 1, 0:nyl + 1, nz), ltb(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: po4(0:nx + 1, 0:nyl + 1, nz), lt(0:nx + 1, 0:nyl + 1, nz), eb, below
    integer :: i, j, k
    call pop_3(po4)
    call light(po4, lt)
    do j = 1, nyl
      do i = 1, nx
        below = 0                   ! adjoint of the exponent, summed over the levels below
        do k = nzeu, 1, -1
          eb = ltb(i, j, k) * lt(i, j, k)
          po4b(i, j, k) = po4b(i, j, k) - kself * dz * (0.5_real64 * eb + below)
          below = below + eb
        end do
      end do
    end do
    ltb = 0
  end subroutine light_bwd

  !> Michaelis-Menten phosphate limitation
  subroutine nutrient_lim(po4, fn)
    real(real64), intent(in) :: po4(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: fn(0:nx + 1, 0:nyl + 1, nz)
    fn = 0
    fn(1:nx, 1:nyl, 1:nzeu) = po4(1:nx, 1:nyl, 1:nzeu) / (po4(1:nx, 1:nyl, 1:nzeu) + kpo4)
  end subroutine nutrient_lim

  subroutine nutrient_lim_fwd(po4, fn)
    real(real64), intent(in) :: po4(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: fn(0:nx + 1, 0:nyl + 1, nz)
    call push_3(po4)
    call nutrient_lim(po4, fn)
  end subroutine nutrient_lim_fwd

  subroutine nutrient_lim_bwd(po4b, fnb)
    real(real64), intent(inout) :: po4b(0:nx + 1, 0:nyl + 1, nz), fnb(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: po4(0:nx + 1, 0:nyl + 1, nz)
    call pop_3(po4)
    po4b(1:nx, 1:nyl, 1:nzeu) = po4b(1:nx, 1:nyl, 1:nzeu) &
      + kpo4 / (po4(1:nx, 1:nyl, 1:nzeu) + kpo4)**2 * fnb(1:nx, 1:nyl, 1:nzeu)
    fnb = 0
  end subroutine nutrient_lim_bwd

  !> light limitation
  subroutine light_lim(lt, fl)
    real(real64), intent(in) :: lt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: fl(0:nx + 1, 0:nyl + 1, nz)
    fl = 0
    fl(1:nx, 1:nyl, 1:nzeu) = lt(1:nx, 1:nyl, 1:nzeu) / (lt(1:nx, 1:nyl, 1:nzeu) + klight)
  end subroutine light_lim

  subroutine light_lim_fwd(lt, fl)
    real(real64), intent(in) :: lt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: fl(0:nx + 1, 0:nyl + 1, nz)
    call push_3(lt)
    call light_lim(lt, fl)
  end subroutine light_lim_fwd

  subroutine light_lim_bwd(ltb, flb)
    real(real64), intent(inout) :: ltb(0:nx + 1, 0:nyl + 1, nz), flb(0:nx + 1, 0:nyl + 1, nz)
    real(real64) :: lt(0:nx + 1, 0:nyl + 1, nz)
    call pop_3(lt)
    ltb(1:nx, 1:nyl, 1:nzeu) = ltb(1:nx, 1:nyl, 1:nzeu) &
      + klight / (lt(1:nx, 1:nyl, 1:nzeu) + klight)**2 * flb(1:nx, 1:nyl, 1:nzeu)
    flb = 0
  end subroutine light_lim_bwd

  !> uptake = mu fn fl
  subroutine growth(fn, fl, upt)
    real(real64), intent(in) :: fn(0:nx + 1, 0:nyl + 1, nz), fl(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: upt(0:nx + 1, 0:nyl + 1, nz)
    upt = 0
    upt(1:nx, 1:nyl, 1:nzeu) = mu * fn(1:nx, 1:nyl, 1:nzeu) * fl(1:nx, 1:nyl, 1:nzeu)
  end subroutine growth

  subroutine growth_fwd(fn, fl, upt)
    real(real64), intent(in) :: fn(0:nx + 1, 0:nyl + 1, nz), fl(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: upt(0:nx + 1, 0:nyl + 1, nz)
    call push_3(fn)
    call push_3(fl)
    call growth(fn, fl, upt)
  end subroutine growth_fwd

  subroutine growth_bwd(fnb, flb, uptb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1, nz) :: fnb, flb, uptb
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: fn, fl
    call pop_3(fl)
    call pop_3(fn)
    fnb(1:nx, 1:nyl, 1:nzeu) = fnb(1:nx, 1:nyl, 1:nzeu) + mu * fl(1:nx, 1:nyl, 1:nzeu) * uptb(1:nx, 1:nyl, 1:nzeu)
    flb(1:nx, 1:nyl, 1:nzeu) = flb(1:nx, 1:nyl, 1:nzeu) + mu * fn(1:nx, 1:nyl, 1:nzeu) * uptb(1:nx, 1:nyl, 1:nzeu)
    uptb = 0
  end subroutine growth_bwd

  !> a fraction sigma of the uptake to DOP; the rest leaves the euphotic layer as
  !! the particle flux through the top of level nzeu+1
  subroutine export(upt, dopsrc, pflux)
    real(real64), intent(in) :: upt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: dopsrc(0:nx + 1, 0:nyl + 1, nz), pflux(0:nx + 1, 0:nyl + 1, nz + 1)
    dopsrc = 0
    pflux = 0
    dopsrc(1:nx, 1:nyl, :) = sigma * upt(1:nx, 1:nyl, :)
    pflux(1:nx, 1:nyl, nzeu + 1) = (1 - sigma) * dz * sum(upt(1:nx, 1:nyl, 1:nzeu), dim=3)
  end subroutine export

  subroutine export_fwd(upt, dopsrc, pflux)
    real(real64), intent(in) :: upt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: dopsrc(0:nx + 1, 0:nyl + 1, nz), pflux(0:nx + 1, 0:nyl + 1, nz + 1)
    call export(upt, dopsrc, pflux)  ! linear: nothing to tape
  end subroutine export_fwd

  subroutine export_bwd(uptb, dopsrcb, pfluxb)
    real(real64), intent(inout) :: uptb(0:nx + 1, 0:nyl + 1, nz), dopsrcb(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(inout) :: pfluxb(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: k
    do k = 1, nzeu
      uptb(1:nx, 1:nyl, k) = uptb(1:nx, 1:nyl, k) + (1 - sigma) * dz * pfluxb(1:nx, 1:nyl, nzeu + 1)
    end do
    uptb(1:nx, 1:nyl, :) = uptb(1:nx, 1:nyl, :) + sigma * dopsrcb(1:nx, 1:nyl, :)
    dopsrcb = 0
    pfluxb = 0
  end subroutine export_bwd

  !> oxygen limitation of remineralisation
  subroutine o2_limit(o2k, lim)
    real(real64), intent(in) :: o2k(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: lim(0:nx + 1, 0:nyl + 1)
    lim = 0
    lim(1:nx, 1:nyl) = o2k(1:nx, 1:nyl) / (o2k(1:nx, 1:nyl) + ko2)
  end subroutine o2_limit

  subroutine o2_limit_fwd(o2k, lim)
    real(real64), intent(in) :: o2k(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: lim(0:nx + 1, 0:nyl + 1)
    call push_2(o2k)
    call o2_limit(o2k, lim)
  end subroutine o2_limit_fwd

  subroutine o2_limit_bwd(o2kb, limb)
    real(real64), intent(inout) :: o2kb(0:nx + 1, 0:nyl + 1), limb(0:nx + 1, 0:nyl + 1)
    real(real64) :: o2k(0:nx + 1, 0:nyl + 1)
    call pop_2(o2k)
    o2kb(1:nx, 1:nyl) = o2kb(1:nx, 1:nyl) + ko2 / (o2k(1:nx, 1:nyl) + ko2)**2 * limb(1:nx, 1:nyl)
    limb = 0
  end subroutine o2_limit_bwd

  !> level k takes a fraction rr_k lim of the particle flux through its top
  subroutine remin_flux(k, lim, pin, pout, remk)
    integer, intent(in) :: k
    real(real64), intent(in) :: lim(0:nx + 1, 0:nyl + 1), pin(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: pout(0:nx + 1, 0:nyl + 1), remk(0:nx + 1, 0:nyl + 1)
    real(real64) :: rk
    rk = rr * (0.5_real64 + zc(k))
    pout = 0
    remk = 0
    remk(1:nx, 1:nyl) = rk * lim(1:nx, 1:nyl) * pin(1:nx, 1:nyl) / dz
    pout(1:nx, 1:nyl) = pin(1:nx, 1:nyl) * (1 - rk * lim(1:nx, 1:nyl))
  end subroutine remin_flux

  subroutine remin_flux_fwd(k, lim, pin, pout, remk)
    integer, intent(in) :: k
    real(real64), intent(in) :: lim(0:nx + 1, 0:nyl + 1), pin(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: pout(0:nx + 1, 0:nyl + 1), remk(0:nx + 1, 0:nyl + 1)
    call push_2(lim)
    call push_2(pin)
    call remin_flux(k, lim, pin, pout, remk)
  end subroutine remin_flux_fwd

  subroutine remin_flux_bwd(k, limb, pinb, poutb, remkb)
    integer, intent(in) :: k
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: limb, pinb, poutb, remkb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: lim, pin
    real(real64) :: rk
    call pop_2(pin)
    call pop_2(lim)
    rk = rr * (0.5_real64 + zc(k))
    limb(1:nx, 1:nyl) = limb(1:nx, 1:nyl) + rk * pin(1:nx, 1:nyl) / dz * remkb(1:nx, 1:nyl) &
                        - rk * pin(1:nx, 1:nyl) * poutb(1:nx, 1:nyl)
    pinb(1:nx, 1:nyl) = pinb(1:nx, 1:nyl) + rk * lim(1:nx, 1:nyl) / dz * remkb(1:nx, 1:nyl) &
                        + (1 - rk * lim(1:nx, 1:nyl)) * poutb(1:nx, 1:nyl)
    remkb = 0
    poutb = 0
  end subroutine remin_flux_bwd

  !> DOP decay to phosphate, oxygen-limited
  subroutine dop_decay(dop, o2, ddec)
    real(real64), intent(in) :: dop(0:nx + 1, 0:nyl + 1, nz), o2(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: ddec(0:nx + 1, 0:nyl + 1, nz)
    ddec = 0
    ddec(1:nx, 1:nyl, :) = rdop * dop(1:nx, 1:nyl, :) * o2(1:nx, 1:nyl, :) / (o2(1:nx, 1:nyl, :) + ko2)
  end subroutine dop_decay

  subroutine dop_decay_fwd(dop, o2, ddec)
    real(real64), intent(in) :: dop(0:nx + 1, 0:nyl + 1, nz), o2(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: ddec(0:nx + 1, 0:nyl + 1, nz)
    call push_3(dop)
    call push_3(o2)
    call dop_decay(dop, o2, ddec)
  end subroutine dop_decay_fwd

  subroutine dop_decay_bwd(dopb, o2b, ddecb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1, nz) :: dopb, o2b, ddecb
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: dop, o2
    call pop_3(o2)
    call pop_3(dop)
    dopb(1:nx, 1:nyl, :) = dopb(1:nx, 1:nyl, :) &
      + rdop * o2(1:nx, 1:nyl, :) / (o2(1:nx, 1:nyl, :) + ko2) * ddecb(1:nx, 1:nyl, :)
    o2b(1:nx, 1:nyl, :) = o2b(1:nx, 1:nyl, :) &
      + rdop * dop(1:nx, 1:nyl, :) * ko2 / (o2(1:nx, 1:nyl, :) + ko2)**2 * ddecb(1:nx, 1:nyl, :)
    ddecb = 0
  end subroutine dop_decay_bwd

  !> tracer n's tendency: net remineralisation and net DOP production in its ratios
  subroutine apply_bio(n, c, upt, dopsrc, rem, ddec)
    integer, intent(in) :: n
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1, nz) :: upt, dopsrc, rem, ddec
    c(1:nx, 1:nyl, :) = c(1:nx, 1:nyl, :) &
      + dt * (w_remin(n) * (rem(1:nx, 1:nyl, :) + ddec(1:nx, 1:nyl, :) - upt(1:nx, 1:nyl, :)) &
              + w_dop(n) * (dopsrc(1:nx, 1:nyl, :) - ddec(1:nx, 1:nyl, :)))
  end subroutine apply_bio

  subroutine apply_bio_fwd(n, c, upt, dopsrc, rem, ddec)
    integer, intent(in) :: n
    real(real64), intent(inout) :: c(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(in), dimension(0:nx + 1, 0:nyl + 1, nz) :: upt, dopsrc, rem, ddec
    call apply_bio(n, c, upt, dopsrc, rem, ddec)   ! linear: nothing to tape
  end subroutine apply_bio_fwd

  subroutine apply_bio_bwd(n, cb, uptb, dopsrcb, remb, ddecb)
    integer, intent(in) :: n
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1, nz) :: cb, uptb, dopsrcb, remb, ddecb
    remb(1:nx, 1:nyl, :) = remb(1:nx, 1:nyl, :) + dt * w_remin(n) * cb(1:nx, 1:nyl, :)
    ddecb(1:nx, 1:nyl, :) = ddecb(1:nx, 1:nyl, :) + dt * (w_remin(n) - w_dop(n)) * cb(1:nx, 1:nyl, :)
    uptb(1:nx, 1:nyl, :) = uptb(1:nx, 1:nyl, :) - dt * w_remin(n) * cb(1:nx, 1:nyl, :)
    dopsrcb(1:nx, 1:nyl, :) = dopsrcb(1:nx, 1:nyl, :) + dt * w_dop(n) * cb(1:nx, 1:nyl, :)
  end subroutine apply_bio_bwd

  ! ================================================================ uptake
  subroutine uptake(po4, lt, upt)
    real(real64), intent(in) :: po4(0:nx + 1, 0:nyl + 1, nz), lt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: upt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: fn, fl
    call nutrient_lim(po4, fn)                                                 ! site S_NUTLIM
    call light_lim(lt, fl)                                                     ! site S_LIGHTLIM
    call growth(fn, fl, upt)                                                   ! site S_GROWTH
  end subroutine uptake

  subroutine uptake_fwd(po4, lt, upt)
    real(real64), intent(in) :: po4(0:nx + 1, 0:nyl + 1, nz), lt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), intent(out) :: upt(0:nx + 1, 0:nyl + 1, nz)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: fn, fl
    if (act(S_NUTLIM)) then
      call snp_write(S_NUTLIM); call push_3(po4); call begin_adv(S_NUTLIM)
      call nutrient_lim(po4, fn)
      call end_adv(S_NUTLIM)
    else
      call nutrient_lim_fwd(po4, fn)
    end if
    if (act(S_LIGHTLIM)) then
      call snp_write(S_LIGHTLIM); call push_3(lt); call begin_adv(S_LIGHTLIM)
      call light_lim(lt, fl)
      call end_adv(S_LIGHTLIM)
    else
      call light_lim_fwd(lt, fl)
    end if
    if (act(S_GROWTH)) then
      call snp_write(S_GROWTH); call push_3(fn); call push_3(fl); call begin_adv(S_GROWTH)
      call growth(fn, fl, upt)
      call end_adv(S_GROWTH)
    else
      call growth_fwd(fn, fl, upt)
    end if
  end subroutine uptake_fwd

  subroutine uptake_bwd(po4b, ltb, uptb)
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1, nz) :: po4b, ltb, uptb
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: fnb, flb, t1, t2, t3
    fnb = 0; flb = 0
    if (act(S_GROWTH)) then
      call snp_read(S_GROWTH); call pop_3(t2); call pop_3(t1); call begin_rev(S_GROWTH)
      call growth_fwd(t1, t2, t3); call turn(S_GROWTH); call growth_bwd(fnb, flb, uptb)
      call end_rev(S_GROWTH)
    else
      call growth_bwd(fnb, flb, uptb)
    end if
    if (act(S_LIGHTLIM)) then
      call snp_read(S_LIGHTLIM); call pop_3(t1); call begin_rev(S_LIGHTLIM)
      call light_lim_fwd(t1, t2); call turn(S_LIGHTLIM); call light_lim_bwd(ltb, flb)
      call end_rev(S_LIGHTLIM)
    else
      call light_lim_bwd(ltb, flb)
    end if
    if (act(S_NUTLIM)) then
      call snp_read(S_NUTLIM); call pop_3(t1); call begin_rev(S_NUTLIM)
      call nutrient_lim_fwd(t1, t2); call turn(S_NUTLIM); call nutrient_lim_bwd(po4b, fnb)
      call end_rev(S_NUTLIM)
    else
      call nutrient_lim_bwd(po4b, fnb)
    end if
  end subroutine uptake_bwd

  ! ================================================================ remineralisation of level k
  subroutine remin_level(k, o2k, pin, pout, remk)
    integer, intent(in) :: k
    real(real64), intent(in) :: o2k(0:nx + 1, 0:nyl + 1), pin(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: pout(0:nx + 1, 0:nyl + 1), remk(0:nx + 1, 0:nyl + 1)
    real(real64) :: lim(0:nx + 1, 0:nyl + 1)
    call o2_limit(o2k, lim)                                                    ! site S_O2LIM
    call remin_flux(k, lim, pin, pout, remk)                                   ! site S_REMFLUX
  end subroutine remin_level

  subroutine remin_level_fwd(k, o2k, pin, pout, remk)
    integer, intent(in) :: k
    real(real64), intent(in) :: o2k(0:nx + 1, 0:nyl + 1), pin(0:nx + 1, 0:nyl + 1)
    real(real64), intent(out) :: pout(0:nx + 1, 0:nyl + 1), remk(0:nx + 1, 0:nyl + 1)
    real(real64) :: lim(0:nx + 1, 0:nyl + 1)
    if (act(S_O2LIM)) then
      call snp_write(S_O2LIM); call push_2(o2k); call begin_adv(S_O2LIM)
      call o2_limit(o2k, lim)
      call end_adv(S_O2LIM)
    else
      call o2_limit_fwd(o2k, lim)
    end if
    if (act(S_REMFLUX)) then
      call snp_write(S_REMFLUX); call push_2(lim); call push_2(pin); call begin_adv(S_REMFLUX)
      call remin_flux(k, lim, pin, pout, remk)
      call end_adv(S_REMFLUX)
    else
      call remin_flux_fwd(k, lim, pin, pout, remk)
    end if
  end subroutine remin_level_fwd

  subroutine remin_level_bwd(k, o2kb, pinb, poutb, remkb)
    integer, intent(in) :: k
    real(real64), intent(inout), dimension(0:nx + 1, 0:nyl + 1) :: o2kb, pinb, poutb, remkb
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: limb, t1, t2, t3, t4
    limb = 0
    if (act(S_REMFLUX)) then
      call snp_read(S_REMFLUX); call pop_2(t2); call pop_2(t1); call begin_rev(S_REMFLUX)
      call remin_flux_fwd(k, t1, t2, t3, t4); call turn(S_REMFLUX); call remin_flux_bwd(k, limb, pinb, poutb, remkb)
      call end_rev(S_REMFLUX)
    else
      call remin_flux_bwd(k, limb, pinb, poutb, remkb)
    end if
    if (act(S_O2LIM)) then
      call snp_read(S_O2LIM); call pop_2(t1); call begin_rev(S_O2LIM)
      call o2_limit_fwd(t1, t2); call turn(S_O2LIM); call o2_limit_bwd(o2kb, limb)
      call end_rev(S_O2LIM)
    else
      call o2_limit_bwd(o2kb, limb)
    end if
  end subroutine remin_level_bwd

  ! ================================================================ biology
  subroutine biology(tr)
    real(real64), intent(inout) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: lt, upt, dopsrc, rem, ddec
    real(real64) :: pflux(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: k, n
    rem = 0
    call light(tr(:, :, :, ipo4), lt)                                          ! site S_LIGHT
    call uptake(tr(:, :, :, ipo4), lt, upt)                                    ! site S_UPTAKE
    call export(upt, dopsrc, pflux)                                            ! site S_EXPORT
    do k = nzeu + 1, nz
      call remin_level(k, tr(:, :, k, io2), pflux(:, :, k), pflux(:, :, k + 1), rem(:, :, k))   ! site S_REMIN
    end do
    call dop_decay(tr(:, :, :, idop), tr(:, :, :, io2), ddec)                  ! site S_DOPDECAY
    do n = 1, ntr
      call apply_bio(n, tr(:, :, :, n), upt, dopsrc, rem, ddec)                ! site S_BIOTEND
    end do
  end subroutine biology

  subroutine biology_fwd(tr)
    real(real64), intent(inout) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: lt, upt, dopsrc, rem, ddec
    real(real64) :: pflux(0:nx + 1, 0:nyl + 1, nz + 1)
    integer :: k, n
    rem = 0
    if (act(S_LIGHT)) then
      call snp_write(S_LIGHT); call push_3(tr(:, :, :, ipo4)); call begin_adv(S_LIGHT)
      call light(tr(:, :, :, ipo4), lt)
      call end_adv(S_LIGHT)
    else
      call light_fwd(tr(:, :, :, ipo4), lt)
    end if
    if (act(S_UPTAKE)) then
      call snp_write(S_UPTAKE); call push_3(tr(:, :, :, ipo4)); call push_3(lt); call begin_adv(S_UPTAKE)
      call uptake(tr(:, :, :, ipo4), lt, upt)
      call end_adv(S_UPTAKE)
    else
      call uptake_fwd(tr(:, :, :, ipo4), lt, upt)
    end if
    if (act(S_EXPORT)) then
      call snp_write(S_EXPORT); call push_3(upt); call begin_adv(S_EXPORT)
      call export(upt, dopsrc, pflux)
      call end_adv(S_EXPORT)
    else
      call export_fwd(upt, dopsrc, pflux)
    end if
    do k = nzeu + 1, nz
      if (act(S_REMIN)) then
        call snp_write(S_REMIN); call push_2(tr(:, :, k, io2)); call push_2(pflux(:, :, k)); call begin_adv(S_REMIN)
        call remin_level(k, tr(:, :, k, io2), pflux(:, :, k), pflux(:, :, k + 1), rem(:, :, k))
        call end_adv(S_REMIN)
      else
        call remin_level_fwd(k, tr(:, :, k, io2), pflux(:, :, k), pflux(:, :, k + 1), rem(:, :, k))
      end if
    end do
    if (act(S_DOPDECAY)) then
      call snp_write(S_DOPDECAY); call push_3(tr(:, :, :, idop)); call push_3(tr(:, :, :, io2))
      call begin_adv(S_DOPDECAY)
      call dop_decay(tr(:, :, :, idop), tr(:, :, :, io2), ddec)
      call end_adv(S_DOPDECAY)
    else
      call dop_decay_fwd(tr(:, :, :, idop), tr(:, :, :, io2), ddec)
    end if
    do n = 1, ntr
      if (act(S_BIOTEND)) then
        call snp_write(S_BIOTEND); call push_3(tr(:, :, :, n)); call push_3(upt); call push_3(dopsrc)
        call push_3(rem); call push_3(ddec); call begin_adv(S_BIOTEND)
        call apply_bio(n, tr(:, :, :, n), upt, dopsrc, rem, ddec)
        call end_adv(S_BIOTEND)
      else
        call apply_bio_fwd(n, tr(:, :, :, n), upt, dopsrc, rem, ddec)
      end if
    end do
  end subroutine biology_fwd

  subroutine biology_bwd(trb)
    real(real64), intent(inout) :: trb(0:nx + 1, 0:nyl + 1, nz, ntr)
    real(real64), dimension(0:nx + 1, 0:nyl + 1, nz) :: ltb, uptb, dopsrcb, remb, ddecb, t1, t2, t3, t4, t5
    real(real64) :: pfluxb(0:nx + 1, 0:nyl + 1, nz + 1), tp(0:nx + 1, 0:nyl + 1, nz + 1)
    real(real64), dimension(0:nx + 1, 0:nyl + 1) :: s1, s2, s3, s4
    integer :: k, n
    ltb = 0; uptb = 0; dopsrcb = 0; remb = 0; ddecb = 0; pfluxb = 0
    do n = ntr, 1, -1
      if (act(S_BIOTEND)) then
        call snp_read(S_BIOTEND); call pop_3(t5); call pop_3(t4); call pop_3(t3); call pop_3(t2); call pop_3(t1)
        call begin_rev(S_BIOTEND)
        call apply_bio_fwd(n, t1, t2, t3, t4, t5); call turn(S_BIOTEND)
        call apply_bio_bwd(n, trb(:, :, :, n), uptb, dopsrcb, remb, ddecb)
        call end_rev(S_BIOTEND)
      else
        call apply_bio_bwd(n, trb(:, :, :, n), uptb, dopsrcb, remb, ddecb)
      end if
    end do
    if (act(S_DOPDECAY)) then
      call snp_read(S_DOPDECAY); call pop_3(t2); call pop_3(t1); call begin_rev(S_DOPDECAY)
      call dop_decay_fwd(t1, t2, t3); call turn(S_DOPDECAY)
      call dop_decay_bwd(trb(:, :, :, idop), trb(:, :, :, io2), ddecb)
      call end_rev(S_DOPDECAY)
    else
      call dop_decay_bwd(trb(:, :, :, idop), trb(:, :, :, io2), ddecb)
    end if
    do k = nz, nzeu + 1, -1
      if (act(S_REMIN)) then
        call snp_read(S_REMIN); call pop_2(s2); call pop_2(s1); call begin_rev(S_REMIN)
        call remin_level_fwd(k, s1, s2, s3, s4); call turn(S_REMIN)
        call remin_level_bwd(k, trb(:, :, k, io2), pfluxb(:, :, k), pfluxb(:, :, k + 1), remb(:, :, k))
        call end_rev(S_REMIN)
      else
        call remin_level_bwd(k, trb(:, :, k, io2), pfluxb(:, :, k), pfluxb(:, :, k + 1), remb(:, :, k))
      end if
    end do
    if (act(S_EXPORT)) then
      call snp_read(S_EXPORT); call pop_3(t1); call begin_rev(S_EXPORT)
      call export_fwd(t1, t2, tp); call turn(S_EXPORT); call export_bwd(uptb, dopsrcb, pfluxb)
      call end_rev(S_EXPORT)
    else
      call export_bwd(uptb, dopsrcb, pfluxb)
    end if
    if (act(S_UPTAKE)) then
      call snp_read(S_UPTAKE); call pop_3(t2); call pop_3(t1); call begin_rev(S_UPTAKE)
      call uptake_fwd(t1, t2, t3); call turn(S_UPTAKE); call uptake_bwd(trb(:, :, :, ipo4), ltb, uptb)
      call end_rev(S_UPTAKE)
    else
      call uptake_bwd(trb(:, :, :, ipo4), ltb, uptb)
    end if
    if (act(S_LIGHT)) then
      call snp_read(S_LIGHT); call pop_3(t1); call begin_rev(S_LIGHT)
      call light_fwd(t1, t2); call turn(S_LIGHT); call light_bwd(trb(:, :, :, ipo4), ltb)
      call end_rev(S_LIGHT)
    else
      call light_bwd(trb(:, :, :, ipo4), ltb)
    end if
  end subroutine biology_bwd

end module biogeo_bio
