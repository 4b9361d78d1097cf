"""The translation stand-in: winner = brute-force oracle, megaflow masks are sound, reval_seq moves."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies import keys_with_rules
from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError, UfidcertInputError
from reference.uapi import KeyAttr
from reference.udpif._megaflow import mask_has_extra
from reference.udpif.xlate import TABLE_MISS, FieldMatch, RuleTable

_NESTED = {int(KeyAttr.ENCAP), int(KeyAttr.TUNNEL), int(KeyAttr.NSH)}


def top_attrs(key: bytes) -> list[tuple[int, bytes]]:
    return [(t, p) for t, p, _ in iter_attrs(key)]


def oracle_winner(rules: list[tuple[int, int, list[FieldMatch]]], key: bytes) -> int:
    """Highest priority, then oldest, rule whose every field matches bytewise; TABLE_MISS if none."""
    fields = dict(top_attrs(key))
    for rule_id, _prio, fms in sorted(rules, key=lambda r: (-r[1], r[0])):
        ok = True
        for fm in fms:
            payload = fields.get(fm.attr)
            if payload is None or len(payload) != len(fm.mask):
                ok = ok and not any(fm.mask)
                continue
            ok = ok and all((a & m) == (b & m) for a, b, m in zip(payload, fm.value, fm.mask, strict=True))
        if ok:
            return rule_id
    return TABLE_MISS


def key_and_rules() -> st.SearchStrategy[tuple[bytes, list[tuple[int, list[FieldMatch]]]]]:
    return keys_with_rules().filter(lambda kr: bool(kr[1]))


@given(key_and_rules())
def test_winner_is_the_oracles(case: tuple[bytes, list[tuple[int, list[FieldMatch]]]]) -> None:
    key, specs = case
    table = RuleTable()
    rules = []
    for prio, fms in specs:
        r = table.add(prio, fms, pack_attr(1, bytes(4)))
        rules.append((r.rule_id, prio, fms))
    assert table.translate(key).rule_id == oracle_winner(rules, key)


@given(key_and_rules(), st.randoms(use_true_random=False))
def test_megaflow_mask_is_sound(case: tuple[bytes, list[tuple[int, list[FieldMatch]]]], rnd: object) -> None:
    """Any key that agrees with the original on the masked bits reaches the same rule."""
    import random

    assert isinstance(rnd, random.Random)
    key, specs = case
    table = RuleTable()
    for prio, fms in specs:
        table.add(prio, fms, b"")
    xl = table.translate(key)
    mask = dict(top_attrs(xl.mask))
    assert [t for t, _ in top_attrs(xl.mask)] == [t for t, _ in top_attrs(key)]
    perturbed = []
    for t, p in top_attrs(key):
        m = mask[t]
        if t in _NESTED:
            perturbed.append((t, p))
            continue
        noise = bytes(rnd.getrandbits(8) for _ in p)
        perturbed.append((t, bytes(a ^ (n & ~mm & 0xFF) for a, n, mm in zip(p, noise, m, strict=True))))
    other = b"".join(pack_attr(t, p) for t, p in perturbed)
    assert table.translate(other).rule_id == xl.rule_id
    # The mask never has extra wildcards against itself, and an all-wildcard mask has some unless nothing is needed.
    assert not mask_has_extra(xl.mask, xl.mask)


def test_exact_when_megaflows_disabled() -> None:
    key = pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0") + pack_attr(KeyAttr.ETHERNET, bytes(range(12)))
    table = RuleTable()
    mask = table.translate(key, megaflows=False).mask
    assert all(all(b == 0xFF for b in p) for _t, p in top_attrs(mask))
    wild = table.translate(key).mask
    assert dict(top_attrs(wild))[KeyAttr.ETHERNET] == bytes(12)
    assert dict(top_attrs(wild))[KeyAttr.IN_PORT] == b"\xff" * 4


def test_mask_has_extra() -> None:
    wide = pack_attr(KeyAttr.ETHERNET, bytes(12))
    narrow = pack_attr(KeyAttr.ETHERNET, b"\xff" * 6 + bytes(6))
    assert mask_has_extra(wide, narrow)
    assert not mask_has_extra(narrow, wide)
    assert mask_has_extra(pack_attr(KeyAttr.IN_PORT, b"\xff" * 4), narrow)  # attribute absent = wildcarded
    assert not mask_has_extra(b"", narrow)  # no mask = exact match


def test_reval_seq_moves_on_every_change_and_wakes_watchers() -> None:
    table = RuleTable()
    event = threading.Event()
    table.watch(event)
    seqs = [table.reval_seq]
    r = table.add(1, [], b"")
    seqs.append(table.reval_seq)
    assert event.is_set()
    table.set_actions(r.rule_id, b"x")
    seqs.append(table.reval_seq)
    table.remove(r.rule_id)
    seqs.append(table.reval_seq)
    assert seqs == sorted(set(seqs))
    assert table.translate(b"").rule_id == TABLE_MISS


def test_stats_and_errors() -> None:
    table = RuleTable()
    r = table.add(1, [], b"")
    table.credit(r.rule_id, 3, 300, used=7)
    table.credit(TABLE_MISS, 1, 60)
    table.remove(r.rule_id)
    stats = table.stats()
    assert (stats[r.rule_id].n_packets, stats[r.rule_id].n_bytes, stats[r.rule_id].used) == (3, 300, 7)
    assert table.total_packets() == 4
    with pytest.raises(UfidcertInputError):
        table.remove(r.rule_id)
    with pytest.raises(UfidcertInputError):
        table.credit(999, 1, 1)
    with pytest.raises(UfidcertInputError):
        FieldMatch(KeyAttr.ETHERNET, bytes(12), bytes(6))
    with pytest.raises(OdpDecodeError):
        table.translate(b"\x08\x00")


def test_masks_of_one_shape_are_shared() -> None:
    def key(src: int) -> bytes:
        return pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0") + pack_attr(KeyAttr.ETHERNET, bytes([src]) + bytes(11))

    table = RuleTable()
    table.add(1, [FieldMatch(KeyAttr.ETHERNET, bytes(12), b"\xff" + bytes(11))], b"")
    a, b = table.translate(key(1)), table.translate(key(2))
    assert a.mask == b.mask and a.mask is b.mask  # one object per shape, not per flow
    exact = table.translate(key(1), megaflows=False).mask
    assert exact != a.mask
