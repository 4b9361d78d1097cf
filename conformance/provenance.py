"""What exactly ran: each component behind a backend, the version it reports and where it came from.

A backend may carry a ``provenance`` attribute: a sequence of
:class:`Provenance` records (or mappings with the same three string
fields). The report copies it verbatim, so a verdict always names the
binary or kernel that earned it: the kernel's ``uname -r`` as the guest
saw it, the ``--version`` of the daemon actually executed, and the
Debian release and package version, path or build tree it came from.

A backend may also carry a ``description`` (one line; its class docstring
otherwise) and a ``version`` string. :class:`DescribedBackend` names the
three; :func:`describe_backend` is the one place that reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from conformance.errors import UsageError

__all__ = ["FIELDS", "BackendDescription", "DescribedBackend", "Provenance", "describe_backend", "provenance_records"]

FIELDS = ("component", "version", "source")


@dataclass(frozen=True, slots=True)
class Provenance:
    """One component: ``component`` (e.g. "Linux kernel"), ``version`` as it reports itself, ``source``."""

    component: str
    version: str
    source: str

    def as_dict(self) -> dict[str, str]:
        """The report.json form: ``{"component", "version", "source"}``."""
        return {"component": self.component, "version": self.version, "source": self.source}


def _record(item: object, where: str) -> Provenance:
    if isinstance(item, Provenance):
        return item
    if isinstance(item, Mapping):
        missing = [f for f in FIELDS if not isinstance(item.get(f), str)]
        extra = sorted(str(k) for k in item if k not in FIELDS)
        if not missing and not extra:
            return Provenance(item["component"], item["version"], item["source"])
        what = f"missing or not a string: {', '.join(missing)}" if missing else f"unknown fields {', '.join(extra)}"
        raise UsageError(f"{where}: {what} (expected {', '.join(FIELDS)})")
    raise UsageError(f"{where}: expected a Provenance or a mapping of {', '.join(FIELDS)}, got {type(item).__name__}")


def provenance_records(value: object, *, where: str) -> tuple[Provenance, ...]:
    """``value`` (a backend's ``provenance`` attribute, or report.json's list) as records.

    :class:`UsageError` names ``where`` and the malformed entry; nothing
    is guessed, so a report never shows a component it was not told of.
    """
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise UsageError(f"{where}: expected a sequence of provenance records, got {type(value).__name__}")
    return tuple(_record(item, f"{where}[{i}]") for i, item in enumerate(value))


class DescribedBackend(Protocol):
    """What a backend may say about itself; each attribute is optional."""

    description: str
    version: str
    provenance: Sequence[object]


@dataclass(frozen=True, slots=True)
class BackendDescription:
    """A backend's one-line description, its version and its provenance (or why that was malformed)."""

    description: str
    version: str
    provenance: tuple[Provenance, ...]
    provenance_error: str = ""  # a malformed provenance attribute, reported instead of guessed


def describe_backend(dpif: object, *, where: str) -> BackendDescription:
    """What ``dpif`` says about itself (:class:`DescribedBackend`); absent attributes are empty."""
    text = str(getattr(dpif, "description", "") or type(dpif).__doc__ or "").strip()
    provenance: tuple[Provenance, ...] = ()
    error = ""
    try:
        provenance = provenance_records(getattr(dpif, "provenance", ()), where=f"{where}: provenance")
    except Exception as exc:  # e.g. a property that raises: the caller reports it
        error = str(exc)
    return BackendDescription(text.split("\n")[0], str(getattr(dpif, "version", "") or ""), provenance, error)
