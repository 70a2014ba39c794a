!> \brief The kernels compiled into this library, each under an id (1, 2, ...)
!! and a name. ph_api looks a kernel up here and calls its hooks.
!!
!! Adding a kernel: its type (extends ph_kernel_t) in its own folder, its
!! sources in fortran/kernels/meson.build, and one line in register_all below
!! (plus the `use` of its type); every step, Python side included, in
!! docs/KERNELS.md ("A Fortran kernel inside pyharness").
module ph_kernel_registry
  use ph_kernel, only: ph_kernel_t
  use calltree_kernel, only: calltree_t
  use streamice_driver, only: streamice_t
  use biogeo_driver, only: biogeo_t
  implicit none
  private
  public :: ph_kernel_count, ph_kernel_name, ph_kernel_id, ph_kernel_get

  type :: slot_t
    character(len=:), allocatable :: name
    class(ph_kernel_t), allocatable :: kernel
  end type slot_t

  type(slot_t), allocatable, target, save :: slots(:)

contains

  subroutine register_all()
    if (allocated(slots)) return
    allocate(slots(0))
    call register('calltree', calltree_t())
    call register('streamice', streamice_t())
    call register('biogeo', biogeo_t())
  end subroutine register_all

  subroutine register(name, kernel)
    character(len=*), intent(in) :: name
    class(ph_kernel_t), intent(in) :: kernel
    type(slot_t), allocatable :: grown(:)
    integer :: i
    allocate(grown(size(slots) + 1))
    do i = 1, size(slots)
      call move_alloc(slots(i)%name, grown(i)%name)
      call move_alloc(slots(i)%kernel, grown(i)%kernel)
    end do
    grown(size(grown))%name = name
    allocate(grown(size(grown))%kernel, source=kernel)
    call move_alloc(grown, slots)
  end subroutine register

  !> Number of registered kernels.
  integer function ph_kernel_count()
    call register_all()
    ph_kernel_count = size(slots)
  end function ph_kernel_count

  !> Name of kernel kid ('' if there is none).
  function ph_kernel_name(kid) result(name)
    integer, intent(in) :: kid
    character(len=:), allocatable :: name
    call register_all()
    name = ''
    if (kid >= 1 .and. kid <= size(slots)) name = slots(kid)%name
  end function ph_kernel_name

  !> Id of the kernel called name, or 0 (with an error listing the kernels).
  subroutine ph_kernel_id(name, kid, ierr, errmsg)
    character(len=*), intent(in) :: name
    integer, intent(out) :: kid, ierr
    character(len=*), intent(out) :: errmsg
    character(len=:), allocatable :: known
    integer :: i
    call register_all()
    ierr = 0
    errmsg = ''
    known = ''
    do i = 1, size(slots)
      if (slots(i)%name == trim(name)) then
        kid = i
        return
      end if
      if (i > 1) known = known // ', '
      known = known // slots(i)%name
    end do
    kid = 0
    ierr = 2
    errmsg = 'no Fortran kernel called ''' // trim(name) // ''' in this build; built-in: ' &
             // known
  end subroutine ph_kernel_id

  !> Kernel kid, or a null pointer (with an error) if kid is not registered.
  subroutine ph_kernel_get(kid, kernel, ierr, errmsg)
    integer, intent(in) :: kid
    class(ph_kernel_t), pointer, intent(out) :: kernel
    integer, intent(out) :: ierr
    character(len=*), intent(out) :: errmsg
    call register_all()
    ierr = 0
    errmsg = ''
    kernel => null()
    if (kid < 1 .or. kid > size(slots)) then
      ierr = 2
      write (errmsg, '(a,i0,a,i0,a)') 'no kernel with id ', kid, ' (ids 1..', size(slots), &
        '); look the id up by name first (api_kernel_id)'
      return
    end if
    kernel => slots(kid)%kernel
  end subroutine ph_kernel_get

end module ph_kernel_registry
