!> \brief The AD stack: one LIFO byte stack per process (per MPI rank), with exact
!! byte accounting (current size, peak, bytes pushed and popped) and a hard limit
!! that sets an error status instead of overflowing.
!!
!! After an error (limit exceeded, or a pop below the bottom) the stack is
!! "failed": pushes are dropped and pops return zeros, so the adjoint code runs on
!! to its end without crashing or desynchronising MPI; the caller checks
!! ph_stack_status() afterwards and reports the error.
module ph_stack
  use, intrinsic :: iso_c_binding, only: c_ptr, c_size_t, c_loc, c_f_pointer, c_int64_t
  use ph_kinds, only: int8, int64, ph_msglen
  implicit none
  private
  public :: ph_stack_push, ph_stack_pop, ph_stack_reset, ph_stack_set_limit, &
            ph_stack_limit, ph_stack_current, ph_stack_peak, ph_stack_pushed, &
            ph_stack_popped, ph_stack_status, ph_stack_failed, &
            ph_stack_start_repeat, ph_stack_reset_repeat, ph_stack_end_repeat, &
            ph_stack_release, ph_stack_external

  interface
    function c_memcpy(dest, src, n) bind(c, name='memcpy') result(r)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: dest, src
      integer(c_size_t), value :: n
      type(c_ptr) :: r
    end function c_memcpy
  end interface

  integer(int8), allocatable, target, save :: buf(:)
  integer(int64), save :: top = 0          !< bytes on the stack
  integer(int64), save :: peak = 0
  integer(int64), save :: pushed = 0
  integer(int64), save :: popped = 0
  integer(int64), save :: limit = 0        !< 0: no limit
  integer(int64), save :: ext = 0          !< bytes held outside the stack (time-loop snapshots)
  integer, save :: ierr_saved = 0
  character(len=ph_msglen), save :: errmsg_saved = ''
  integer, parameter :: max_repeat = 64
  integer(int64), save :: repeat_top(max_repeat) = 0
  integer, save :: nrepeat = 0

contains

  !> \brief Bytes on the stack now, for the event recorder (ph_trace.c).
  integer(c_int64_t) function ph_stack_bytes() bind(c, name='ph_stack_bytes')
    ph_stack_bytes = top + ext
  end function ph_stack_bytes

  !> \brief Byte counts for the event recorder's trace files (ph_trace.c).
  subroutine ph_stack_counts(current, peak_, pushed_, popped_) bind(c, name='ph_stack_counts')
    integer(c_int64_t), intent(out) :: current, peak_, pushed_, popped_
    current = top + ext; peak_ = peak; pushed_ = pushed; popped_ = popped
  end subroutine ph_stack_counts

  !> \brief Empty the stack and clear peak, traffic counters and error status.
  subroutine ph_stack_reset()
    top = 0; peak = 0; pushed = 0; popped = 0; ext = 0
    ierr_saved = 0; errmsg_saved = ''; nrepeat = 0
  end subroutine ph_stack_reset

  !> \brief Free the stack's memory (it grows again on the next push).
  subroutine ph_stack_release()
    if (allocated(buf)) deallocate(buf)
    call ph_stack_reset()
  end subroutine ph_stack_release

  !> \brief Set the hard limit in bytes (0 means none).
  subroutine ph_stack_set_limit(nbytes)
    integer(int64), intent(in) :: nbytes
    limit = max(0_int64, nbytes)
  end subroutine ph_stack_set_limit

  integer(int64) function ph_stack_limit()
    ph_stack_limit = limit
  end function ph_stack_limit
  !> \brief Bytes held now: the stack plus snapshots held outside it.
  integer(int64) function ph_stack_current()
    ph_stack_current = top + ext
  end function ph_stack_current

  !> \brief Account for memory held outside the stack (e.g. the snapshots of a
  !! binomial time-loop schedule): it counts in the current size and the peak.
  !! \param[in] delta bytes added (positive) or released (negative)
  subroutine ph_stack_external(delta)
    integer(int64), intent(in) :: delta
    ext = max(0_int64, ext + delta)
    if (top + ext > peak) peak = top + ext
  end subroutine ph_stack_external
  integer(int64) function ph_stack_peak()
    ph_stack_peak = peak
  end function ph_stack_peak
  integer(int64) function ph_stack_pushed()
    ph_stack_pushed = pushed
  end function ph_stack_pushed
  integer(int64) function ph_stack_popped()
    ph_stack_popped = popped
  end function ph_stack_popped
  logical function ph_stack_failed()
    ph_stack_failed = ierr_saved /= 0
  end function ph_stack_failed

  !> \brief The stack's error status: 0, or a code with a message.
  subroutine ph_stack_status(ierr, errmsg)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    ierr = ierr_saved
    errmsg = errmsg_saved
  end subroutine ph_stack_status

  subroutine set_error(code, msg)
    integer, intent(in) :: code
    character(len=*), intent(in) :: msg
    if (ierr_saved == 0) then
      ierr_saved = code
      errmsg_saved = msg
    end if
  end subroutine set_error

  subroutine grow(need)
    integer(int64), intent(in) :: need
    integer(int8), allocatable :: tmp(:)
    integer(int64) :: newcap
    integer :: stat
    newcap = max(need, 2_int64 * int(size(buf, kind=int64), int64), 1048576_int64)
    if (limit > 0) newcap = max(need, min(newcap, limit))
    allocate(tmp(newcap), stat=stat)
    if (stat /= 0) then
      call set_error(3, 'AD stack: cannot allocate memory to grow the stack')
      return
    end if
    if (top > 0) tmp(1:top) = buf(1:top)
    call move_alloc(tmp, buf)
  end subroutine grow

  !> \brief Push nbytes bytes starting at src.
  subroutine ph_stack_push(src, nbytes)
    type(c_ptr), intent(in) :: src
    integer(int64), intent(in) :: nbytes
    type(c_ptr) :: r
    if (nbytes <= 0) return
    if (ierr_saved /= 0) return
    if (limit > 0 .and. top + ext + nbytes > limit) then
      call set_error(1, 'AD stack limit exceeded: raise the limit or activate more checkpoints')
      return
    end if
    if (.not. allocated(buf)) allocate(buf(0))
    if (top + nbytes > size(buf, kind=int64)) then
      call grow(top + nbytes)
      if (ierr_saved /= 0) return
    end if
    r = c_memcpy(c_loc(buf(top + 1)), src, int(nbytes, c_size_t))
    top = top + nbytes
    pushed = pushed + nbytes
    if (top + ext > peak) peak = top + ext
  end subroutine ph_stack_push

  !> \brief Pop nbytes bytes into dest (zeros after an error).
  subroutine ph_stack_pop(dest, nbytes)
    type(c_ptr), intent(in) :: dest
    integer(int64), intent(in) :: nbytes
    type(c_ptr) :: r
    integer(int8), pointer :: d(:)
    if (nbytes <= 0) return
    if (ierr_saved == 0 .and. nbytes > top) &
      call set_error(2, 'AD stack underflow: more bytes popped than pushed')
    if (ierr_saved /= 0) then
      call c_f_pointer(dest, d, [nbytes])
      d = 0_int8
      return
    end if
    r = c_memcpy(dest, c_loc(buf(top - nbytes + 1)), int(nbytes, c_size_t))
    top = top - nbytes
    popped = popped + nbytes
  end subroutine ph_stack_pop

  !> \brief Remember the current top: the section above it can be popped again.
  subroutine ph_stack_start_repeat()
    if (nrepeat >= max_repeat) then
      call set_error(4, 'AD stack: repeat sections nested too deeply')
      return
    end if
    nrepeat = nrepeat + 1
    repeat_top(nrepeat) = top
  end subroutine ph_stack_start_repeat

  !> \brief Restore the top remembered by the innermost start_repeat.
  subroutine ph_stack_reset_repeat()
    if (nrepeat <= 0) then
      call set_error(5, 'AD stack: reset_repeat without start_repeat')
      return
    end if
    top = repeat_top(nrepeat)
  end subroutine ph_stack_reset_repeat

  !> \brief Close the innermost repeat section.
  subroutine ph_stack_end_repeat()
    if (nrepeat <= 0) then
      call set_error(5, 'AD stack: end_repeat without start_repeat')
      return
    end if
    nrepeat = nrepeat - 1
  end subroutine ph_stack_end_repeat

end module ph_stack
