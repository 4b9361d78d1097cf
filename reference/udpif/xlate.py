"""A stand-in for OpenFlow translation: a prioritised rule table with a revalidation sequence.

OVS translates an upcall's key through the OpenFlow tables (ofproto/ofproto-dpif-xlate.c)
into datapath actions plus the set of key bits the decision depended on (the
megaflow mask). This module keeps just enough of that to make revalidation
meaningful: rules match bytes of top-level key attributes under a mask, the
highest priority wins, the installed mask covers every bit that any rule of
that priority or higher looked at, and every rule change bumps ``reval_seq``
so revalidators re-check cached flows (KEEP, MODIFY for new actions, DELETE
when the installed mask is now too wide).

Statistics: :meth:`RuleTable.credit` adds packets to a rule (OVS pushes them
to the rule through the xlate cache). A key no rule matches hits the
implicit table-miss rule :data:`TABLE_MISS` (drop).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reference.errors import UfidcertInputError
from reference.udpif._megaflow import build_mask, key_fields

__all__ = [
    "TABLE_MISS",
    "FieldMatch",
    "Rule",
    "RuleStats",
    "RuleTable",
    "Translation",
]

TABLE_MISS = 0  # rule id of the implicit lowest-priority drop rule


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """Bits of one top-level key attribute's payload: matches when ``payload & mask == value & mask``.

    ``value`` and ``mask`` are bytes of the attribute's payload length (e.g.
    ``KeyAttr.IPV4`` is 12 bytes: src, dst, proto, tos, ttl, frag).
    """

    attr: int
    value: bytes
    mask: bytes

    def __post_init__(self) -> None:
        if len(self.value) != len(self.mask):
            raise UfidcertInputError(
                f"FieldMatch for attribute {self.attr}: value has {len(self.value)} bytes, mask {len(self.mask)}"
            )

    @property
    def mask_int(self) -> int:
        return int.from_bytes(self.mask, "big")

    def matches(self, fields: Mapping[int, bytes]) -> bool:
        """True if the key whose top-level attributes are ``fields`` has these bits."""
        m = self.mask_int
        payload = fields.get(self.attr)
        if payload is None or len(payload) != len(self.mask):
            return m == 0
        return (int.from_bytes(payload, "big") & m) == (int.from_bytes(self.value, "big") & m)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: higher ``priority`` wins; ``actions`` are datapath actions (netlink bytes)."""

    rule_id: int
    priority: int
    fields: tuple[FieldMatch, ...]
    actions: bytes

    def matches(self, fields: Mapping[int, bytes]) -> bool:
        return all(f.matches(fields) for f in self.fields)


@dataclass(frozen=True, slots=True)
class Translation:
    """The result of translating a key: the winning rule, the megaflow mask and the actions."""

    rule_id: int
    mask: bytes
    actions: bytes
    reval_seq: int


@dataclass(slots=True)
class RuleStats:
    """Packets and bytes credited to one rule (OpenFlow rule statistics)."""

    n_packets: int = 0
    n_bytes: int = 0
    used: int = 0


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Rules (highest priority first) together with the reval_seq they belong to."""

    reval_seq: int
    rules: tuple[Rule, ...] = field(default_factory=tuple)


class RuleTable:
    """The rule table: thread-safe; readers take a consistent (rules, reval_seq) snapshot without locking.

    Change rules with :meth:`add`, :meth:`remove` and :meth:`set_actions`;
    each bumps :attr:`reval_seq` (``udpif_revalidate`` / ``seq_change``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap = _Snapshot(reval_seq=1)
        self._next_id = 1
        self._stats: dict[int, RuleStats] = {TABLE_MISS: RuleStats()}
        self._listeners: list[threading.Event] = []

    # --- rule changes -----------------------------------------------------------

    @property
    def reval_seq(self) -> int:
        return self._snap.reval_seq

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The current rules, highest priority first (ties: the older rule first)."""
        return self._snap.rules

    def watch(self, event: threading.Event) -> None:
        """Set ``event`` on every rule change (revalidators wake up early on a new reval_seq)."""
        with self._lock:
            self._listeners.append(event)

    def _publish(self, rules: Iterable[Rule]) -> None:
        ordered = tuple(sorted(rules, key=lambda r: (-r.priority, r.rule_id)))
        self._snap = _Snapshot(self._snap.reval_seq + 1, ordered)
        for event in self._listeners:
            event.set()

    def add(self, priority: int, fields: Iterable[FieldMatch], actions: bytes) -> Rule:
        """Add a rule and return it (with its new ``rule_id``)."""
        with self._lock:
            rule = Rule(self._next_id, priority, tuple(fields), bytes(actions))
            self._next_id += 1
            self._stats[rule.rule_id] = RuleStats()
            self._publish((*self._snap.rules, rule))
            return rule

    def remove(self, rule_id: int) -> None:
        """Remove a rule; its statistics stay readable. Unknown ids raise :class:`UfidcertInputError`."""
        with self._lock:
            rules = self._snap.rules
            if not any(r.rule_id == rule_id for r in rules):
                raise UfidcertInputError(f"no rule with id {rule_id}")
            self._publish(r for r in rules if r.rule_id != rule_id)

    def set_actions(self, rule_id: int, actions: bytes) -> None:
        """Give a rule new actions (flows translated to it become MODIFY at the next revalidation)."""
        with self._lock:
            rules = self._snap.rules
            if not any(r.rule_id == rule_id for r in rules):
                raise UfidcertInputError(f"no rule with id {rule_id}")
            self._publish(
                Rule(r.rule_id, r.priority, r.fields, bytes(actions)) if r.rule_id == rule_id else r for r in rules
            )

    # --- translation ------------------------------------------------------------

    def translate(self, key: bytes, *, megaflows: bool = True) -> Translation:
        """Translate a netlink flow key (raises :class:`reference.errors.OdpDecodeError` if it is malformed).

        The mask un-wildcards every bit looked at by the rules tried, i.e.
        all rules down to and including the winner, so any packet agreeing
        with the key on the masked bits reaches the same rule.
        """
        snap = self._snap
        fields = key_fields(key)
        needed: dict[int, int] = {}
        winner: Rule | None = None
        for rule in snap.rules:
            for f in rule.fields:
                needed[f.attr] = needed.get(f.attr, 0) | f.mask_int
            if rule.matches(fields):
                winner = rule
                break
        mask = build_mask(key, needed, exact=not megaflows)
        if winner is None:
            return Translation(TABLE_MISS, mask, b"", snap.reval_seq)
        return Translation(winner.rule_id, mask, winner.actions, snap.reval_seq)

    # --- statistics ---------------------------------------------------------------

    def credit(self, rule_id: int, n_packets: int, n_bytes: int, used: int = 0) -> None:
        """Add packets to a rule's statistics (``xlate_push_stats``); unknown ids raise."""
        with self._lock:
            stats = self._stats.get(rule_id)
            if stats is None:
                raise UfidcertInputError(f"no rule with id {rule_id}")
            stats.n_packets += n_packets
            stats.n_bytes += n_bytes
            stats.used = max(stats.used, used)

    def stats(self) -> dict[int, RuleStats]:
        """A copy of every rule's statistics, removed rules and the table miss included."""
        with self._lock:
            return {k: RuleStats(v.n_packets, v.n_bytes, v.used) for k, v in self._stats.items()}

    def total_packets(self) -> int:
        """Packets credited to all rules together."""
        with self._lock:
            return sum(s.n_packets for s in self._stats.values())
