!> \brief The AD stack seen from Fortran: a thin interface to the C stack
!! (ph_adstack.c), one LIFO byte stack per process (per MPI rank), with exact
!! byte accounting (current size, peak, bytes pushed and popped) and a limit.
!!
!! Past the limit the stack keeps storing, so the adjoint stays right and its
!! MPI calls keep matching the other ranks'; the status reports the error when
!! the run ends (ph_stack_status), where every rank can agree on it. After an
!! underflow (more popped than pushed) pops return zeros.
!! Tapenade's entry points (PUSHREAL8, POPCONTROL1B, ...) are in the C file.
module ph_stack
  use, intrinsic :: iso_c_binding, only: c_ptr, c_int, c_int64_t, c_char
  implicit none
  private
  public :: ph_stack_push, ph_stack_pop, ph_stack_reset, ph_stack_set_limit, &
            ph_stack_limit, ph_stack_current, ph_stack_peak, ph_stack_pushed, &
            ph_stack_popped, ph_stack_status, ph_stack_failed, &
            ph_stack_start_repeat, ph_stack_reset_repeat, ph_stack_end_repeat, &
            ph_stack_release, ph_stack_external

  interface
    !> \brief Push nbytes bytes starting at src.
    subroutine ph_stack_push(src, nbytes) bind(c, name='ph_stack_push')
      import :: c_ptr, c_int64_t
      type(c_ptr), value :: src
      integer(c_int64_t), value :: nbytes
    end subroutine ph_stack_push
    !> \brief Pop nbytes bytes into dest.
    subroutine ph_stack_pop(dest, nbytes) bind(c, name='ph_stack_pop')
      import :: c_ptr, c_int64_t
      type(c_ptr), value :: dest
      integer(c_int64_t), value :: nbytes
    end subroutine ph_stack_pop
    !> \brief Empty the stack and clear peak, traffic counters, repeat sections and error.
    subroutine ph_stack_reset() bind(c, name='ph_stack_reset')
    end subroutine ph_stack_reset
    !> \brief Free the stack's memory (it grows again on the next push).
    subroutine ph_stack_release() bind(c, name='ph_stack_release')
    end subroutine ph_stack_release
    !> \brief Set the limit in bytes (0 means none).
    subroutine ph_stack_set_limit(nbytes) bind(c, name='ph_stack_set_limit')
      import :: c_int64_t
      integer(c_int64_t), value :: nbytes
    end subroutine ph_stack_set_limit
    integer(c_int64_t) function ph_stack_limit() bind(c, name='ph_stack_limit')
      import :: c_int64_t
    end function ph_stack_limit
    !> \brief Bytes held now: the stack plus snapshots held outside it.
    integer(c_int64_t) function ph_stack_current() bind(c, name='ph_stack_current')
      import :: c_int64_t
    end function ph_stack_current
    integer(c_int64_t) function ph_stack_peak() bind(c, name='ph_stack_peak')
      import :: c_int64_t
    end function ph_stack_peak
    integer(c_int64_t) function ph_stack_pushed() bind(c, name='ph_stack_pushed')
      import :: c_int64_t
    end function ph_stack_pushed
    integer(c_int64_t) function ph_stack_popped() bind(c, name='ph_stack_popped')
      import :: c_int64_t
    end function ph_stack_popped
    !> \brief Account for memory held outside the stack (e.g. the snapshots of a
    !! binomial time-loop schedule): it counts in the current size and the peak.
    subroutine ph_stack_external(delta) bind(c, name='ph_stack_external')
      import :: c_int64_t
      integer(c_int64_t), value :: delta
    end subroutine ph_stack_external
    !> \brief Freeze the stack below the top: it can be popped again (fixed points).
    subroutine ph_stack_start_repeat() bind(c, name='ph_stack_start_repeat')
    end subroutine ph_stack_start_repeat
    !> \brief Return to the top of the innermost repeat section's start.
    subroutine ph_stack_reset_repeat() bind(c, name='ph_stack_reset_repeat')
    end subroutine ph_stack_reset_repeat
    !> \brief Close the innermost repeat section.
    subroutine ph_stack_end_repeat() bind(c, name='ph_stack_end_repeat')
    end subroutine ph_stack_end_repeat
    integer(c_int) function c_failed() bind(c, name='ph_stack_failed')
      import :: c_int
    end function c_failed
    subroutine c_status(ierr, msg, len) bind(c, name='ph_stack_status_c')
      import :: c_int, c_char
      integer(c_int), intent(out) :: ierr
      character(kind=c_char), intent(out) :: msg(*)
      integer(c_int), value :: len
    end subroutine c_status
  end interface

contains

  logical function ph_stack_failed()
    ph_stack_failed = c_failed() /= 0
  end function ph_stack_failed

  !> \brief The stack's error status: 0, or a code with a message
  !! (1 limit exceeded, 2 underflow, 3 out of memory, 5 repeat mismatch,
  !! 6 malformed PYHARNESS_FAULT).
  subroutine ph_stack_status(ierr, errmsg)
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    integer(c_int) :: code
    call c_status(code, errmsg, int(len(errmsg), c_int))
    ierr = int(code)
  end subroutine ph_stack_status

end module ph_stack
