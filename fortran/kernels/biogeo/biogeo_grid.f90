!> \brief biogeo: grid, decomposition, the prescribed circulation and mixing,
!! the biogeochemical constants, the site table (registered with ph_sitecalls,
!! whose act/snp_write/... it passes on to every routine), and the pushes and
!! pops by shape.
!!
!! Fields are a(0:nx+1, 0:nyl+1, nz): owned columns i=1..nx, j=1..nyl, a halo
!! of one column all around (x: closed walls; y: neighbour ranks or closed
!! walls), levels k=1 (surface) .. nz (bottom), uniform thickness dz = 1/nz.
!! The tracer set is tr(0:nx+1, 0:nyl+1, nz, ntr). Ranks own contiguous bands
!! of rows; uneven splits are fine. Every pointwise operation works on owned
!! columns only: the halo is written only by halo3 and read only by the
!! meridional advective flux.
module biogeo_grid
  use mpi, only: MPI_COMM_NULL, MPI_Comm_rank, MPI_Comm_size, MPI_PROC_NULL
  use ph_kinds, only: real64
  use ph_decomp, only: ph_split_rows
  use ph_sitecalls, only: sites_register, act, snp_write, begin_adv, end_adv, snp_read, begin_rev, &
                          end_rev, turn
  implicit none
  private
  public :: nx, ny, nz, nyl, j0, nt, nnewton, n2, n3, nzeu, comm, rank, nranks, up, down
  public :: dx, dy, dz, dt, zc, uf, vf, wf, tri_a, tri_m, tri_cp, clim
  public :: ntr, idic, ialk, ipo4, idop, io2, w_remin, w_dop, rrest
  public :: mu, kpo4, i0, katt, kself, klight, sigma, rr, ko2, rdop
  public :: k10, k20, kb, bt0, alk0, hguess, k0sol, pco2atm, kpist, o2s0
  public :: grid_setup, grid_teardown, tracer_default
  public :: nsites, site_callee, site_file, site_line
  public :: act, snp_write, begin_adv, end_adv, snp_read, begin_rev, end_rev, turn
  public :: push_2, pop_2, push_3, pop_3, push_t, pop_t, push_s, pop_s

  integer, save :: nx = 0, ny = 0, nz = 0, nyl = 0, j0 = 0, nt = 0, nnewton = 0, n2 = 0, n3 = 0
  integer, save :: nzeu = 0
  integer, save :: comm = MPI_COMM_NULL, rank = 0, nranks = 1, up = MPI_PROC_NULL, down = MPI_PROC_NULL
  real(real64), save :: dx = 1, dy = 1, dz = 1, dt = 1

  ! ---- tracers: dissolved inorganic carbon, alkalinity, phosphate, dissolved
  ! organic phosphorus, oxygen (DIC, ALK, O2 in mol m-3; PO4, DOP in mmol m-3)
  integer, parameter :: ntr = 5, idic = 1, ialk = 2, ipo4 = 3, idop = 4, io2 = 5
  !> tendency of each tracer per unit of net remineralisation (Redfield ratios)
  real(real64), parameter :: w_remin(ntr) = [0.106_real64, -0.016_real64, 1.0_real64, 0.0_real64, &
                                             -0.170_real64]
  !> tendency of each tracer per unit of net DOP production
  real(real64), parameter :: w_dop(ntr) = [0.0_real64, 0.0_real64, 0.0_real64, 1.0_real64, 0.0_real64]
  !> surface restoring rates to the climatology
  real(real64), parameter :: rrest(ntr) = [0.0_real64, 0.5_real64, 0.5_real64, 0.0_real64, 0.0_real64]

  ! ---- biology: uptake mu PO4/(PO4+kpo4) I/(I+klight) in the euphotic layer; light
  ! I0 exp(-katt z - kself int PO4); a fraction sigma to DOP, the rest exported and
  ! remineralised by rr per level (limited by O2); DOP decays at rdop
  real(real64), parameter :: mu = 4.0_real64, kpo4 = 0.5_real64, i0 = 1.0_real64, katt = 3.0_real64
  real(real64), parameter :: kself = 0.4_real64, klight = 0.3_real64, sigma = 0.67_real64
  real(real64), parameter :: rr = 0.4_real64, ko2 = 0.02_real64, rdop = 2.0_real64

  ! ---- carbonate chemistry in scaled units (H+ in 1e-8 mol kg-1): K1, K2 and total
  ! boron vary with salinity (from alkalinity); pCO2 = [CO2*]/K0 in 1e-3 atm
  real(real64), parameter :: k10 = 100.0_real64, k20 = 0.1_real64, kb = 0.25_real64
  real(real64), parameter :: bt0 = 0.42_real64, alk0 = 2.3_real64, hguess = 1.0_real64
  real(real64), parameter :: k0sol = 0.05_real64, pco2atm = 0.40_real64, kpist = 2.0_real64
  real(real64), parameter :: o2s0 = 0.30_real64

  real(real64), allocatable, save :: zc(:)               ! depth of level centres
  real(real64), allocatable, save :: uf(:,:,:), vf(:,:,:), wf(:,:,:)   ! face velocities
  real(real64), allocatable, save :: tri_a(:), tri_m(:), tri_cp(:)     ! implicit mixing (Thomas)
  real(real64), allocatable, save :: clim(:,:,:)         ! surface climatology (restoring)

  ! ---- the checkpoint sites: (callee, primal file, line of the call), numbered S_* --
  include 'biogeo_sites.inc'

contains

  subroutine grid_setup(comm_, nx_, ny_, nz_, nt_, nnewton_, ierr, errmsg)
    integer, intent(in) :: comm_, nx_, ny_, nz_, nt_, nnewton_
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer :: i, j, k, jg, astat
    real(real64) :: pi, u0, w0, kap(nz_ + 1), rt, rb, b, cc
    real(real64), allocatable :: tr0(:,:,:,:)
    ierr = 0
    errmsg = ''
    call MPI_Comm_rank(comm_, rank, ierr)
    call MPI_Comm_size(comm_, nranks, ierr)
    ierr = 0
    if (nx_ < 4 .or. ny_ < 2) then
      ierr = 1; errmsg = 'biogeo: the grid needs nx >= 4 and ny >= 2 (--param nx=24 --param ny=16)'
      return
    end if
    if (nz_ < 3) then
      ierr = 1; errmsg = 'biogeo: the water column needs nz >= 3 levels (--param nz=8)'
      return
    end if
    if (ny_ < nranks) then
      ierr = 2; write (errmsg, '(a,i0,a,i0,a)') 'biogeo: ny = ', ny_, ' rows cannot be split over ', &
        nranks, ' ranks: use ny >= ranks'
      return
    end if
    if (nt_ < 1 .or. nnewton_ < 1) then
      ierr = 3; errmsg = 'biogeo: nt and nnewton must be >= 1'
      return
    end if
    call grid_teardown()
    comm = comm_
    nx = nx_; ny = ny_; nz = nz_; nt = nt_; nnewton = nnewton_
    call ph_split_rows(ny, rank, nranks, nyl, j0, up, down)
    n2 = (nx + 2) * (nyl + 2)
    n3 = n2 * nz
    nzeu = max(1, nz / 3)
    dx = 1.0_real64 / nx
    dy = 1.0_real64 / ny
    dz = 1.0_real64 / nz
    dt = 0.2_real64 * min(dx, dy, dz)
    pi = acos(-1.0_real64)
    allocate(zc(nz), stat=astat)
    if (astat /= 0) then
      call cannot_allocate('levels')
      return
    end if
    zc = [((k - 0.5_real64) * dz, k = 1, nz)]

    ! circulation: a gyre reversing with depth (horizontal streamfunction psi at
    ! cell corners) plus a zonal overturning (streamfunction phi at x-faces and
    ! level interfaces); both discretely divergence-free, no flow through walls.
    ! |u| <= pi (u0 + w0) = 0.6, so dt |u| / dx <= 0.12
    u0 = 0.3_real64 / pi
    w0 = 0.3_real64 / pi
    allocate(uf(0:nx + 1, 0:nyl + 1, nz), vf(0:nx + 1, 0:nyl + 1, nz), wf(0:nx + 1, 0:nyl + 1, nz + 1), &
             stat=astat)
    if (astat /= 0) then
      ! without stat= the Fortran runtime stopped the process ("Error allocating")
      call cannot_allocate('grid')
      return
    end if
    uf = 0; vf = 0; wf = 0
    do k = 1, nz
      do j = 1, nyl
        jg = j0 + j
        do i = 1, nx - 1
          uf(i, j, k) = (psi(i, jg, k) - psi(i, jg - 1, k)) / dy + (phi(i, k + 1) - phi(i, k)) / dz
        end do
      end do
      do j = 0, nyl
        jg = j0 + j
        if (jg == 0 .or. jg == ny) cycle
        do i = 1, nx
          vf(i, j, k) = -(psi(i, jg, k) - psi(i - 1, jg, k)) / dx
        end do
      end do
    end do
    do k = 2, nz
      do i = 1, nx
        wf(i, 1:nyl, k) = -(phi(i, k) - phi(i - 1, k)) / dx
      end do
    end do

    ! implicit vertical mixing: strong in the top two levels' interfaces, weak below;
    ! no flux through the surface and the bottom. Thomas coefficients once here.
    kap = 0.02_real64
    kap(2:min(3, nz)) = 1.0_real64
    allocate(tri_a(nz), tri_m(nz), tri_cp(nz), stat=astat)
    if (astat /= 0) then
      call cannot_allocate('mixing coefficients')
      return
    end if
    do k = 1, nz
      rt = merge(0.0_real64, dt * kap(k) / dz**2, k == 1)
      rb = merge(0.0_real64, dt * kap(k + 1) / dz**2, k == nz)
      tri_a(k) = -rt
      b = 1 + rt + rb
      cc = -rb
      if (k == 1) then
        tri_m(k) = b
      else
        tri_m(k) = b - tri_a(k) * tri_cp(k - 1)
      end if
      tri_cp(k) = cc / tri_m(k)
    end do

    allocate(tr0(0:nx + 1, 0:nyl + 1, nz, ntr), clim(0:nx + 1, 0:nyl + 1, ntr), stat=astat)
    if (astat /= 0) then
      if (allocated(tr0)) deallocate(tr0)
      call cannot_allocate('tracers')
      return
    end if
    call tracer_default(tr0)
    clim = tr0(:, :, 1, :)
    call sites_register(nsites, site_callee, site_file, site_line, astat)
    if (astat /= 0) then
      call release()
      ierr = 4
      write (errmsg, '(a,i0,a)') 'biogeo: cannot allocate the table of its ', nsites, &
        ' checkpoint sites: this process is out of memory (use a smaller --param nx, ny or nz, or more ranks)'
      return
    end if

  contains

    subroutine cannot_allocate(what)
      ! the status and message of an allocation that failed, what was allocated released
      character(len=*), intent(in) :: what
      call release()
      ierr = 4
      write (errmsg, '(3a,i0,a,i0,a,i0,a)') 'biogeo: cannot allocate the ', what, ' of ', nx + 2, ' x ', &
        nyl + 2, ' x ', nz, ' cells on this rank: use a smaller --param nx, ny or nz, or more ranks'
    end subroutine cannot_allocate

    subroutine release()
      ! what grid_setup allocated so far (grid_teardown expects all of it)
      if (allocated(zc)) deallocate(zc)
      if (allocated(uf)) deallocate(uf)
      if (allocated(vf)) deallocate(vf)
      if (allocated(wf)) deallocate(wf)
      if (allocated(tri_a)) deallocate(tri_a)
      if (allocated(tri_m)) deallocate(tri_m)
      if (allocated(tri_cp)) deallocate(tri_cp)
      if (allocated(clim)) deallocate(clim)
    end subroutine release

    pure real(real64) function psi(i, jg, k)
      integer, intent(in) :: i, jg, k
      if (i <= 0 .or. i >= nx .or. jg <= 0 .or. jg >= ny) then
        psi = 0
      else
        psi = u0 * sin(pi * i / nx) * sin(pi * jg / ny) * cos(pi * (k - 0.5_real64) / nz)
      end if
    end function psi

    pure real(real64) function phi(i, k)
      integer, intent(in) :: i, k
      if (i <= 0 .or. i >= nx .or. k <= 1 .or. k >= nz + 1) then
        phi = 0
      else
        phi = w0 * sin(pi * i / nx) * sin(pi * (k - 1.0_real64) / nz)
      end if
    end function phi

  end subroutine grid_setup

  subroutine grid_teardown()
    if (allocated(zc)) deallocate(zc, uf, vf, wf, tri_a, tri_m, tri_cp, clim)
  end subroutine grid_teardown

  !> the initial tracers: smooth profiles from global coordinates (the same field
  !! for every decomposition), zero halos
  subroutine tracer_default(tr)
    real(real64), intent(out) :: tr(0:nx + 1, 0:nyl + 1, nz, ntr)
    integer :: i, j, k
    real(real64) :: x, y, z, pi, hz
    pi = acos(-1.0_real64)
    tr = 0
    do k = 1, nz
      z = (k - 0.5_real64) / nz
      do j = 1, nyl
        y = (j0 + j - 0.5_real64) / ny
        do i = 1, nx
          x = (i - 0.5_real64) / nx
          hz = cos(pi * x) * sin(pi * y)
          tr(i, j, k, idic) = 2.00_real64 + 0.20_real64 * z + 0.03_real64 * hz
          tr(i, j, k, ialk) = 2.30_real64 + 0.05_real64 * z - 0.02_real64 * sin(2 * pi * y)
          tr(i, j, k, ipo4) = 0.40_real64 + 1.60_real64 * z + 0.20_real64 * hz * (1 - z)
          tr(i, j, k, idop) = 0.05_real64 * (1 - z) + 0.01_real64 * sin(pi * x)
          tr(i, j, k, io2) = 0.25_real64 - 0.10_real64 * z * (1 + 0.3_real64 * sin(pi * x))
        end do
      end do
    end do
  end subroutine tracer_default

  ! ---- the AD stack by shape: a level (2-D), a tracer (3-D), the tracer set, a scalar
  subroutine push_2(a)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1)
    call pushreal8array(a, n2)
  end subroutine push_2
  subroutine pop_2(a)
    real(real64), intent(out) :: a(0:nx + 1, 0:nyl + 1)
    call popreal8array(a, n2)
  end subroutine pop_2
  subroutine push_3(a)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1, nz)
    call pushreal8array(a, n3)
  end subroutine push_3
  subroutine pop_3(a)
    real(real64), intent(out) :: a(0:nx + 1, 0:nyl + 1, nz)
    call popreal8array(a, n3)
  end subroutine pop_3
  subroutine push_t(a)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1, nz, ntr)
    call pushreal8array(a, n3 * ntr)
  end subroutine push_t
  subroutine pop_t(a)
    real(real64), intent(out) :: a(0:nx + 1, 0:nyl + 1, nz, ntr)
    call popreal8array(a, n3 * ntr)
  end subroutine pop_t
  subroutine push_s(v)
    real(real64), intent(in) :: v
    call pushreal8(v)
  end subroutine push_s
  subroutine pop_s(v)
    real(real64), intent(out) :: v
    call popreal8(v)
  end subroutine pop_s

end module biogeo_grid
