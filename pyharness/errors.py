"""Exceptions raised by pyharness, and the error convention of the Fortran side."""

__all__ = ["PyharnessError", "UsageError", "FortranError", "StackLimitError"]


class PyharnessError(Exception):
    """Base class of every error pyharness reports to the user."""


class UsageError(PyharnessError, ValueError):
    """Bad input from the user: a message that says what to do."""


class FortranError(PyharnessError, RuntimeError):
    """A Fortran routine returned a nonzero status."""

    def __init__(self, routine: str, code: int, message: str):
        self.routine = routine
        self.code = code
        self.detail = message.strip()       # the message without routine and status
        super().__init__(f"{routine}: {message.strip()} (status {code})")


class StackLimitError(FortranError):
    """The AD stack reached its per-rank hard limit."""
