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
    """The AD stack reached its per-rank hard limit.

    ``needed`` is the bytes the rank needed when it first passed ``limit`` (both 0 when
    the runtime did not give them)."""

    def __init__(self, routine: str, code: int, message: str, needed: int = 0, limit: int = 0):
        super().__init__(routine, code, message)
        self.needed = int(needed)
        self.limit = int(limit)

    def with_advice(self, advice: str) -> "StackLimitError":
        """The same error with ``advice`` as what to do. The runtime's own message ends with
        "raise the limit", all it can say without knowing the configuration; the figures
        come from the runtime as numbers, so no message text is parsed."""
        if not self.needed:
            return StackLimitError(self.routine, self.code, f"{self.detail}; {advice}")
        return StackLimitError(self.routine, self.code,
                               f"AD stack limit exceeded: {self.needed} bytes needed on this rank, "
                               f"limit {self.limit}: {advice}", self.needed, self.limit)
