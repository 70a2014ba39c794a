!> \brief streamice: grid, decomposition, constant fields, the site table
!! (registered with ph_sitecalls, whose act/snp_write/... it passes on to every
!! routine), and the pushes and pops of a field.
!!
!! Fields are 2-D arrays a(0:nx+1, 0:nyl+1): owned cells i=1..nx, j=1..nyl, a
!! halo of one cell all around (x: the zero boundary; y: neighbour ranks or the
!! zero boundary). Ranks own contiguous bands of rows; uneven splits are fine.
module streamice_grid
  use mpi, only: MPI_COMM_NULL, MPI_Comm_rank, MPI_Comm_size, MPI_PROC_NULL
  use ph_kinds, only: int64, real64
  use ph_decomp, only: ph_split_rows
  use ph_sitecalls, only: sites_register, act, snp_write, begin_adv, end_adv, snp_read, begin_rev, &
                          end_rev, turn
  implicit none
  private
  public :: nx, ny, nyl, j0, nt, npicard, ncg, nf, comm, rank, nranks, up, down
  public :: dx, dy, dt, rhog, bglen, eps0, beta0, kappa, smb, gamma_h, lstrain
  public :: bed, hobs, uobs, h_init
  public :: grid_setup, grid_teardown, field_owned_sum
  public :: nsites, site_callee, site_file, site_line
  public :: act, snp_write, begin_adv, end_adv, snp_read, begin_rev, end_rev, turn
  public :: push_f, pop_f, push_s, pop_s

  integer, save :: nx = 0, ny = 0, nyl = 0, j0 = 0, nt = 0, npicard = 0, ncg = 0, nf = 0
  integer, save :: comm = MPI_COMM_NULL, rank = 0, nranks = 1, up = MPI_PROC_NULL, down = MPI_PROC_NULL
  real(real64), save :: dx = 1, dy = 1, dt = 1
  real(real64), parameter :: rhog = 1.0_real64, bglen = 2.0e-2_real64, eps0 = 1.0_real64
  real(real64), parameter :: beta0 = 1.0_real64, smb = 0.1_real64, gamma_h = 1.0_real64
  real(real64), parameter :: lstrain = 0.05_real64
  real(real64), save :: kappa = 0
  real(real64), allocatable, save :: bed(:,:), hobs(:,:), uobs(:,:), h_init(:,:)

  ! ---- the checkpoint sites: (callee, primal file, line of the call), numbered S_* --
  include 'streamice_sites.inc'

contains

  subroutine grid_setup(comm_, nx_, ny_, nt_, npicard_, ncg_, ierr, errmsg)
    integer, intent(in) :: comm_, nx_, ny_, nt_, npicard_, ncg_
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer :: i, j, astat
    real(real64) :: x, y, pi
    ierr = 0
    errmsg = ''
    call MPI_Comm_rank(comm_, rank, ierr)
    call MPI_Comm_size(comm_, nranks, ierr)
    ierr = 0
    if (nx_ < 4 .or. ny_ < 2) then
      ierr = 1; errmsg = 'streamice: the grid needs nx >= 4 and ny >= 2 (--param nx=48 --param ny=32)'
      return
    end if
    if (ny_ < nranks) then
      ierr = 2; write (errmsg, '(a,i0,a,i0,a)') 'streamice: ny = ', ny_, ' rows cannot be split over ', &
        nranks, ' ranks: use ny >= ranks'
      return
    end if
    if (nt_ < 1 .or. npicard_ < 1 .or. ncg_ < 1) then
      ierr = 3; errmsg = 'streamice: nt, npicard and ncg must be >= 1'
      return
    end if
    call grid_teardown()
    comm = comm_
    nx = nx_; ny = ny_; nt = nt_; npicard = npicard_; ncg = ncg_
    call ph_split_rows(ny, rank, nranks, nyl, j0, up, down)
    nf = (nx + 2) * (nyl + 2)
    dx = 1.0_real64 / nx
    dy = 1.0_real64 / ny
    dt = 0.2_real64 * dx
    kappa = 0.5_real64 * dx
    allocate(bed(0:nx + 1, 0:nyl + 1), hobs(0:nx + 1, 0:nyl + 1), uobs(0:nx + 1, 0:nyl + 1), &
             h_init(0:nx + 1, 0:nyl + 1), stat=astat)
    if (astat /= 0) then
      ! without stat= the Fortran runtime stopped the process ("Error allocating")
      if (allocated(bed)) deallocate(bed)
      if (allocated(hobs)) deallocate(hobs)
      if (allocated(uobs)) deallocate(uobs)
      if (allocated(h_init)) deallocate(h_init)
      ierr = 4
      write (errmsg, '(a,i0,a,i0,a)') 'streamice: cannot allocate the grid of ', nx + 2, ' x ', nyl + 2, &
        ' cells on this rank: use a smaller --param nx or ny, or more ranks'
      return
    end if
    pi = acos(-1.0_real64)
    do j = 0, nyl + 1
      do i = 0, nx + 1
        x = (i - 0.5_real64) * dx
        y = (j0 + j - 0.5_real64) * dy
        bed(i, j) = -0.5_real64 * x
        h_init(i, j) = 1.0_real64 + 0.3_real64 * sin(pi * y) * (1.0_real64 - 0.5_real64 * x)
        hobs(i, j) = h_init(i, j) + 0.05_real64 * cos(pi * x)
        uobs(i, j) = 0.5_real64 * sin(pi * x) * sin(pi * y)
      end do
    end do
    h_init(0, :) = 0; h_init(nx + 1, :) = 0
    call sites_register(nsites, site_callee, site_file, site_line, astat)
    if (astat /= 0) then
      deallocate(bed, hobs, uobs, h_init)
      ierr = 4
      write (errmsg, '(a,i0,a)') 'streamice: cannot allocate the table of its ', nsites, &
        ' checkpoint sites: this process is out of memory (use a smaller --param nx or ny, or more ranks)'
      return
    end if
  end subroutine grid_setup

  subroutine grid_teardown()
    if (allocated(bed)) deallocate(bed, hobs, uobs, h_init)
  end subroutine grid_teardown

  !> sum over the owned cells of a field
  pure real(real64) function field_owned_sum(a)
    real(real64), intent(in) :: a(0:, 0:)
    field_owned_sum = sum(a(1:nx, 1:nyl))
  end function field_owned_sum

  subroutine push_f(a)
    real(real64), intent(in) :: a(0:nx + 1, 0:nyl + 1)
    call pushreal8array(a, nf)
  end subroutine push_f
  subroutine pop_f(a)
    real(real64), intent(out) :: a(0:nx + 1, 0:nyl + 1)
    call popreal8array(a, nf)
  end subroutine pop_f
  subroutine push_s(v)
    real(real64), intent(in) :: v
    call pushreal8(v)
  end subroutine push_s
  subroutine pop_s(v)
    real(real64), intent(out) :: v
    call popreal8(v)
  end subroutine pop_s

end module streamice_grid
