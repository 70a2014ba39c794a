!> \brief The kernels' domain decomposition: rows split over the ranks in
!! contiguous bands (uneven splits allowed), with the neighbours above and below.
module ph_decomp
  use mpi, only: MPI_PROC_NULL
  implicit none
  private
  public :: ph_split_rows

contains

  !> rank's band of ny rows: nyl rows, global index j0 of its row 0 (the halo row
  !! below), and the neighbour ranks up and down (MPI_PROC_NULL at the edges)
  subroutine ph_split_rows(ny, rank, nranks, nyl, j0, up, down)
    integer, intent(in) :: ny, rank, nranks
    integer, intent(out) :: nyl, j0, up, down
    integer :: base, extra
    base = ny / nranks
    extra = mod(ny, nranks)
    nyl = base + merge(1, 0, rank < extra)
    j0 = rank * base + min(rank, extra)
    up = merge(rank + 1, MPI_PROC_NULL, rank + 1 < nranks)
    down = merge(rank - 1, MPI_PROC_NULL, rank > 0)
  end subroutine ph_split_rows

end module ph_decomp
