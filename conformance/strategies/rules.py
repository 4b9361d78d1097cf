"""Rule tables for the translation stand-in (reference.udpif.xlate)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from conformance.strategies.keys import flow_keys
from reference._netlink import iter_attrs
from reference.uapi import KeyAttr
from reference.udpif.xlate import FieldMatch

__all__ = ["keys_with_rules"]


@st.composite
def _key_with_rules(draw: st.DrawFn, max_rules: int) -> tuple[bytes, list[tuple[int, list[Any]]]]:
    nested = {int(KeyAttr.ENCAP), int(KeyAttr.TUNNEL), int(KeyAttr.NSH)}
    key = draw(flow_keys())
    flat = [(t, p) for t, p, _ in iter_attrs(key) if t not in nested and p]
    if not flat:
        return key, []
    rules: list[tuple[int, list[Any]]] = []
    for _ in range(draw(st.integers(1, max_rules))):
        fields = []
        for t, p in draw(st.lists(st.sampled_from(flat), min_size=1, max_size=3)):
            n = len(p)
            mask = draw(st.binary(min_size=n, max_size=n))
            value = p if draw(st.booleans()) else draw(st.binary(min_size=n, max_size=n))
            fields.append(FieldMatch(t, value, mask))
        rules.append((draw(st.integers(0, 3)), fields))
    return key, rules


def keys_with_rules(max_rules: int = 6) -> st.SearchStrategy[tuple[bytes, list[tuple[int, list[Any]]]]]:
    """A flow key and rule specs ``(priority, [FieldMatch, ...])`` for :class:`reference.udpif.RuleTable`.

    Rules look at the key's top-level attributes, with values copied from the
    key (likely to match) or random, under random masks; the list is empty
    when the key has no flat attribute to match on.
    """
    return _key_with_rules(max_rules)
