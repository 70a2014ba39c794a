!> \brief The profiler's own cost, measured in the run: pyharness.model takes it
!! out of predictions (a configuration that emits fewer events does not pay it).
!! Kept apart from the event recorder so that the recorder can change freely.
module ph_calibrate
  use ph_kinds, only: int64, real64
  use ph_profile, only: ph_prof_record, ph_prof_enable, ph_prof_enabled, ph_prof_clear, &
                        ph_clock_ns, ph_ev_snpwrite, ph_ev_beginadvance
  use ph_sitecalls, only: snp_write, begin_adv
  implicit none
  private
  public :: ph_calibrate_events

contains

  !> \brief Time npairs SNPWRITE/BEGINADVANCE pairs through a kernel's recording
  !! path, with recording on and off; the median of reps repetitions of each.
  !! The recorded events are dropped (the event buffer is cleared).
  !! \param[in] npairs event pairs per repetition
  !! \param[in] reps repetitions
  !! \param[in] path 0: by location id (ph_prof_record), 1: by site number
  !!            through Tapenade's named callbacks (ph_sitecalls)
  !! \param[in] id location id (1-based, path 0) or site number (path 1)
  !! \param[out] on_ns ns per event with recording on (callback included)
  !! \param[out] off_ns ns per callback with recording off
  subroutine ph_calibrate_events(npairs, reps, path, id, on_ns, off_ns)
    integer, intent(in) :: npairs, reps, path, id
    real(real64), intent(out) :: on_ns, off_ns
    real(real64) :: t_on(max(1, reps)), t_off(max(1, reps))
    logical :: was
    integer :: r
    was = ph_prof_enabled()
    do r = 1, max(1, reps)
      call ph_prof_enable(.true.)
      t_on(r) = timed()
      call ph_prof_clear()
      call ph_prof_enable(.false.)
      t_off(r) = timed()
    end do
    call ph_prof_clear()
    call ph_prof_enable(was)
    on_ns = median(t_on)
    off_ns = median(t_off)

  contains

    real(real64) function timed()
      integer :: i
      integer(int64) :: t0
      t0 = ph_clock_ns()
      if (path == 1) then
        do i = 1, npairs
          call snp_write(id)
          call begin_adv(id)
        end do
      else
        do i = 1, npairs
          call ph_prof_record(ph_ev_snpwrite, id)
          call ph_prof_record(ph_ev_beginadvance, id)
        end do
      end if
      timed = real(ph_clock_ns() - t0, real64) / real(2 * max(1, npairs), real64)
    end function timed

  end subroutine ph_calibrate_events

  real(real64) function median(a)
    real(real64), intent(in) :: a(:)
    real(real64) :: b(size(a)), t
    integer :: i, j
    b = a
    do i = 2, size(b)
      t = b(i)
      j = i - 1
      do while (j >= 1)
        if (b(j) <= t) exit
        b(j + 1) = b(j)
        j = j - 1
      end do
      b(j + 1) = t
    end do
    median = b((size(b) + 1) / 2)
  end function median

end module ph_calibrate
