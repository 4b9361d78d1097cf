"""What exactly ran: each component behind a backend, the version it reports and where it came from.

A backend may carry a ``provenance`` attribute: a sequence of
:class:`Provenance` records (or mappings with the same three string
fields). The report copies it verbatim, so a verdict always names the
binary or kernel that earned it: the kernel's ``uname -r`` as the guest
saw it, the ``--version`` of the daemon actually executed, and the
Debian release and package version, path or build tree it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conformance.errors import UsageError

__all__ = ["FIELDS", "Provenance", "provenance_records"]

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
