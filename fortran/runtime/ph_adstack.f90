!> \brief Tapenade's push/pop entry points (ADFirstAidKit names) on the pyharness
!! AD stack. They are external procedures, as Tapenade-generated code calls them
!! without an interface: PUSHREAL8(x), PUSHREAL8ARRAY(x, n), PUSHINTEGER4(i),
!! PUSHBOOLEAN(l), PUSHCONTROLnB(c), their POP counterparts, and the repeat
!! primitives ADSTACK_STARTREPEAT/RESETREPEAT/ENDREPEAT.
!! Byte costs: real8 8, real4 4, integer4 4, integer8 8, boolean 1, control 1.
!! All routines follow one template: keep them uniform when adding a type.

subroutine pushreal8(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  real(real64), intent(in), target :: x
  call ph_stack_push(c_loc(x), 8_int64)
end subroutine pushreal8

subroutine popreal8(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  real(real64), intent(out), target :: x
  call ph_stack_pop(c_loc(x), 8_int64)
end subroutine popreal8

subroutine pushreal8array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: n
  real(real64), intent(in), target :: x(*)
  if (n > 0) call ph_stack_push(c_loc(x(1)), 8_int64 * int(n, int64))
end subroutine pushreal8array

subroutine popreal8array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(in) :: n
  real(real64), intent(out), target :: x(*)
  if (n > 0) call ph_stack_pop(c_loc(x(1)), 8_int64 * int(n, int64))
end subroutine popreal8array

subroutine pushreal4(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  real(real32), intent(in), target :: x
  call ph_stack_push(c_loc(x), 4_int64)
end subroutine pushreal4

subroutine popreal4(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  real(real32), intent(out), target :: x
  call ph_stack_pop(c_loc(x), 4_int64)
end subroutine popreal4

subroutine pushreal4array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: n
  real(real32), intent(in), target :: x(*)
  if (n > 0) call ph_stack_push(c_loc(x(1)), 4_int64 * int(n, int64))
end subroutine pushreal4array

subroutine popreal4array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(in) :: n
  real(real32), intent(out), target :: x(*)
  if (n > 0) call ph_stack_pop(c_loc(x(1)), 4_int64 * int(n, int64))
end subroutine popreal4array

subroutine pushinteger4(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  integer(int32), intent(in), target :: x
  call ph_stack_push(c_loc(x), 4_int64)
end subroutine pushinteger4

subroutine popinteger4(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer(int32), intent(out), target :: x
  call ph_stack_pop(c_loc(x), 4_int64)
end subroutine popinteger4

subroutine pushinteger4array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: n
  integer(int32), intent(in), target :: x(*)
  if (n > 0) call ph_stack_push(c_loc(x(1)), 4_int64 * int(n, int64))
end subroutine pushinteger4array

subroutine popinteger4array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(in) :: n
  integer(int32), intent(out), target :: x(*)
  if (n > 0) call ph_stack_pop(c_loc(x(1)), 4_int64 * int(n, int64))
end subroutine popinteger4array

subroutine pushinteger8(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  integer(int64), intent(in), target :: x
  call ph_stack_push(c_loc(x), 8_int64)
end subroutine pushinteger8

subroutine popinteger8(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer(int64), intent(out), target :: x
  call ph_stack_pop(c_loc(x), 8_int64)
end subroutine popinteger8

subroutine pushinteger8array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: n
  integer(int64), intent(in), target :: x(*)
  if (n > 0) call ph_stack_push(c_loc(x(1)), 8_int64 * int(n, int64))
end subroutine pushinteger8array

subroutine popinteger8array(x, n)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int32, int64, real32, real64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(in) :: n
  integer(int64), intent(out), target :: x(*)
  if (n > 0) call ph_stack_pop(c_loc(x(1)), 8_int64 * int(n, int64))
end subroutine popinteger8array

subroutine pushboolean(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_push
  implicit none
  logical, intent(in) :: x
  integer(int8), target :: b
  b = 0_int8
  if (x) b = 1_int8
  call ph_stack_push(c_loc(b), 1_int64)
end subroutine pushboolean

subroutine popboolean(x)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_pop
  implicit none
  logical, intent(out) :: x
  integer(int8), target :: b
  call ph_stack_pop(c_loc(b), 1_int64)
  x = b /= 0_int8
end subroutine popboolean

subroutine pushcontrol1b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: cc
  integer(int8), target :: b
  b = int(cc, int8)
  call ph_stack_push(c_loc(b), 1_int64)
end subroutine pushcontrol1b

subroutine popcontrol1b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(out) :: cc
  integer(int8), target :: b
  call ph_stack_pop(c_loc(b), 1_int64)
  cc = int(b)
end subroutine popcontrol1b

subroutine pushcontrol2b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: cc
  integer(int8), target :: b
  b = int(cc, int8)
  call ph_stack_push(c_loc(b), 1_int64)
end subroutine pushcontrol2b

subroutine popcontrol2b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(out) :: cc
  integer(int8), target :: b
  call ph_stack_pop(c_loc(b), 1_int64)
  cc = int(b)
end subroutine popcontrol2b

subroutine pushcontrol3b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: cc
  integer(int8), target :: b
  b = int(cc, int8)
  call ph_stack_push(c_loc(b), 1_int64)
end subroutine pushcontrol3b

subroutine popcontrol3b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(out) :: cc
  integer(int8), target :: b
  call ph_stack_pop(c_loc(b), 1_int64)
  cc = int(b)
end subroutine popcontrol3b

subroutine pushcontrol4b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: cc
  integer(int8), target :: b
  b = int(cc, int8)
  call ph_stack_push(c_loc(b), 1_int64)
end subroutine pushcontrol4b

subroutine popcontrol4b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(out) :: cc
  integer(int8), target :: b
  call ph_stack_pop(c_loc(b), 1_int64)
  cc = int(b)
end subroutine popcontrol4b

subroutine pushcontrol5b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_push
  implicit none
  integer, intent(in) :: cc
  integer(int8), target :: b
  b = int(cc, int8)
  call ph_stack_push(c_loc(b), 1_int64)
end subroutine pushcontrol5b

subroutine popcontrol5b(cc)
  use, intrinsic :: iso_c_binding, only: c_loc
  use, intrinsic :: iso_fortran_env, only: int8, int64
  use ph_stack, only: ph_stack_pop
  implicit none
  integer, intent(out) :: cc
  integer(int8), target :: b
  call ph_stack_pop(c_loc(b), 1_int64)
  cc = int(b)
end subroutine popcontrol5b

subroutine adstack_startrepeat()
  use ph_stack, only: ph_stack_start_repeat
  implicit none
  call ph_stack_start_repeat()
end subroutine adstack_startrepeat

subroutine adstack_resetrepeat()
  use ph_stack, only: ph_stack_reset_repeat
  implicit none
  call ph_stack_reset_repeat()
end subroutine adstack_resetrepeat

subroutine adstack_endrepeat()
  use ph_stack, only: ph_stack_end_repeat
  implicit none
  call ph_stack_end_repeat()
end subroutine adstack_endrepeat
