!> \brief Kinds used throughout pyharness (one place, from iso_fortran_env).
module ph_kinds
  use, intrinsic :: iso_fortran_env, only: int8, int32, int64, real64
  implicit none
  private
  public :: int8, int32, int64, real64
  !> Length of error messages returned to Python.
  integer, parameter, public :: ph_msglen = 256
  !> Length of callee, routine and file names in the location registry.
  integer, parameter, public :: ph_namelen = 64
end module ph_kinds
