"""The requirement catalogue: what a dpif backend must do to be certified.

Every requirement has a stable ID (never renumber; retire an ID instead of
reusing it), a level, the capability it needs, the provider semantics it
applies to, a one-line statement and the source of the rule. The suite's
tests name the IDs they check with ``@pytest.mark.requirement("UFID-...")``;
``ufidcert requirements --markdown > docs/requirements.md`` renders it, so
the catalogue and the docs never drift. The requirements themselves are data:
``conformance/requirements.toml``, read once at import.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from conformance.errors import UsageError

__all__ = [
    "CATALOGUE",
    "area_title",
    "Capability",
    "Level",
    "Requirement",
    "Semantics",
    "by_id",
    "not_applicable_reason",
    "parse_catalogue",
    "render_markdown",
]


class Level(enum.Enum):
    """RFC 2119 strength: only MUST requirements decide the verdict."""

    MUST = "MUST"
    SHOULD = "SHOULD"


class Capability(enum.Enum):
    """What a backend must declare (features) or show (probe) for a requirement to apply."""

    NONE = "none"  # every backend
    UFID = "ufid"  # features.ufid and probe_ufid() both say yes
    LEGACY = "legacy"  # the datapath does NOT support UFIDs (kernel before the UFID series)
    TERSE = "terse"  # UFIDs supported and terse replies declared
    TERSE_GET = "terse_get"  # terse, and flow_get honours terse (features.terse_get)
    INJECT = "inject"  # inject() moves frames through the flow table
    UPCALLS = "upcalls"  # a miss queues an upcall that recv_upcalls() returns
    EXECUTE = "execute"  # execute() runs actions on a packet
    HASH = "hash"  # the backend exposes hash_bytes128(data, basis)
    CLOCK = "clock"  # the backend exposes clock_ms(), the clock its ``used`` values are on


class Semantics(enum.Enum):
    """Which provider model a requirement belongs to (features.semantics selects)."""

    COMMON = "common"  # every provider: the lib/dpif.h contract
    KERNEL = "kernel"  # the Linux datapath through dpif-netlink
    NETDEV = "netdev"  # OVS's userspace datapath (dpif-netdev)


_ID_RE = re.compile(r"^UFID-[A-Z]+-\d{3}$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One checkable rule; ``title`` is the one-line statement shown in reports."""

    id: str
    level: Level
    capability: Capability
    semantics: Semantics
    title: str
    source: str

    def applies_to(self, semantics: str) -> bool:
        """Whether the rule belongs to a backend declaring ``semantics`` (kernel/netdev/generic)."""
        return self.semantics is Semantics.COMMON or self.semantics.value == semantics


_FIELDS = ("id", "level", "capability", "semantics", "title", "source")


def parse_catalogue(text: str) -> tuple[Requirement, ...]:
    """The requirements of a catalogue in the format of ``requirements.toml``, in order.

    A malformed file or entry is a :class:`ValueError` naming the entry and what is wrong with it.
    """
    try:
        rows = tomllib.loads(text)["requirement"]
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise ValueError(f"requirement catalogue: not a list of [[requirement]] tables ({exc})") from None
    out: list[Requirement] = []
    for n, row in enumerate(rows if isinstance(rows, list) else [rows], 1):
        if not isinstance(row, dict):
            raise ValueError(f"requirement catalogue entry {n}: not a table")
        where = f"requirement catalogue entry {n} ({row.get('id', 'no id')})"
        if sorted(row) != sorted(_FIELDS) or not all(isinstance(row[f], str) for f in _FIELDS):
            raise ValueError(f"{where}: needs exactly the text fields {', '.join(_FIELDS)}")
        try:
            level, cap, sem = Level(row["level"]), Capability(row["capability"]), Semantics(row["semantics"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        out.append(Requirement(row["id"], level, cap, sem, row["title"], row["source"]))
    return tuple(out)


# The catalogue is data (requirements.toml beside this module): one table per requirement.
CATALOGUE: tuple[Requirement, ...] = parse_catalogue(
    resources.files("conformance").joinpath("requirements.toml").read_text(encoding="utf-8")
)


def _index(reqs: Iterable[Requirement]) -> Mapping[str, Requirement]:
    out: dict[str, Requirement] = {}
    for req in reqs:
        if not _ID_RE.match(req.id):
            raise ValueError(f"requirement ID {req.id!r} is not of the form UFID-AREA-NNN")
        if req.id in out:
            raise ValueError(f"duplicate requirement ID {req.id}")
        out[req.id] = req
    return out


_BY_ID = _index(CATALOGUE)


def by_id(rid: str) -> Requirement:
    """The requirement with ID ``rid``; :class:`UsageError` naming it when unknown."""
    try:
        return _BY_ID[rid]
    except KeyError:
        raise UsageError(f"unknown requirement ID {rid!r} (see docs/requirements.md)") from None


def not_applicable_reason(req: Requirement, *, semantics: str, capabilities: Mapping[str, str | None]) -> str | None:
    """Why ``req`` does not apply to a backend, or ``None`` when it does.

    ``capabilities`` maps each :class:`Capability` value to ``None`` when the
    backend has it and to a one-line reason when it does not (a capability
    missing from the map counts as absent).
    """
    if not req.applies_to(semantics):
        return f"applies to {req.semantics.value} semantics; the backend declares {semantics}"
    if req.capability is Capability.NONE:
        return None
    if req.capability.value not in capabilities:
        return f"capability {req.capability.value} not determined for this backend"
    missing = capabilities[req.capability.value]
    return None if missing is None else f"needs capability {req.capability.value}: {missing}"


def _area(rid: str) -> str:
    return rid.split("-")[1]


_AREA_TITLES: dict[str, str] = {
    "SMOKE": "Smoke check",
    "ID": "UFID echo and identity",
    "LEN": "UFID length rules",
    "GET": "Lookups by UFID and by key",
    "PUT": "Put outcomes (CREATE, MODIFY, ZERO_STATS)",
    "DUP": "Duplicates and overlap",
    "TERSE": "Terse operations",
    "DUMP": "Full dumps",
    "DEL": "Delete",
    "FLUSH": "Flush",
    "STATS": "Statistics from injected traffic",
    "MASK": "Masked matching",
    "UPCALL": "Upcalls",
    "OP": "Batched operate",
    "EXEC": "Execute",
    "PROBE": "Probing",
    "LEGACY": "Legacy datapaths (no UFID support)",
    "KEY": "Key, mask and action serialisation",
    "STATE": "Differential state machine",
    "HASH": "Hash",
    "GEN": "UFID generation",
}


def area_title(rid: str) -> str:
    """Human title of the requirement's area (the middle part of its ID)."""
    return _AREA_TITLES.get(_area(rid), _area(rid))


def render_markdown(reqs: Iterable[Requirement] = CATALOGUE) -> str:
    """docs/requirements.md: every requirement, grouped by area, as a table per area."""
    lines = [
        "# Requirements catalogue",
        "",
        "Generated from `conformance/requirements.toml` by `ufidcert requirements --markdown`; do not edit by hand.",
        "",
        "Levels: only **MUST** requirements decide the verdict. Capability `none` applies to every backend;",
        "`ufid` needs UFID support (declared in `features` and confirmed by the probe), `legacy` applies only to",
        "datapaths without it, `terse` needs terse replies (`terse_get` also a terse `flow_get`, which OVS's dpif",
        "API cannot express), `inject`/`upcalls`/`execute` the matching operations,",
        "`hash` a `hash_bytes128` method, `clock` a `clock_ms` method. Semantics `common` applies to every provider;",
        "`kernel` and `netdev` only to backends declaring that model in `features.semantics`.",
        "",
    ]
    current = None
    for req in reqs:
        area = _area(req.id)
        if area != current:
            if current is not None:
                lines.append("")
            current = area
            lines += [f"## {area_title(req.id)}", ""]
            lines += ["| ID | Level | Capability | Semantics | Requirement | Source |", "|---|---|---|---|---|---|"]
        text = req.title.replace("|", "\\|")
        lines.append(
            f"| {req.id} | {req.level.value} | {req.capability.value} | {req.semantics.value} | {text} | {req.source} |"
        )
    return "\n".join(lines).rstrip("\n") + "\n"
