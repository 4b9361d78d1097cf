"""The conformance package's error hierarchy.

:class:`ConformanceError` derives from the reference package's root
(:class:`reference.errors.UfidcertError`), so ``except UfidcertError``
catches everything ufidcert raises on purpose.
"""

from __future__ import annotations

import errno as _errno

from reference.errors import UfidcertError

__all__ = ["BackendUnavailable", "ConformanceError", "UsageError"]


class ConformanceError(UfidcertError):
    """Root of the conformance suite's own errors."""


class UsageError(ConformanceError, ValueError):
    """A command-line argument or option that cannot be used; exit status 2."""


class BackendUnavailable(ConformanceError, OSError):
    """A backend cannot run on this machine; the message says why in one line."""

    def __init__(self, reason: str, *, errno: int = _errno.ENODEV) -> None:
        super().__init__(errno, reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self) -> tuple[object, ...]:
        # Crosses the supervised backend's process boundary intact (type, reason and errno).
        return (_rebuild_unavailable, (self.reason, self.errno))


def _rebuild_unavailable(reason: str, code: int) -> BackendUnavailable:
    return BackendUnavailable(reason, errno=code)
