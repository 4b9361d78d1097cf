"""Offline replay of ovs-vswitchd 3.1.0's dpctl text (fixtures/ovs-3.1.0-dpctl-text.json).

The corpus holds only what the daemon printed or refused (regenerate it with
fixtures/make_ovs_text_corpus.py); these tests hold ``reference.odp`` to it
without a daemon, so every run checks the text codec against real OVS.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conformance import ovs_text
from reference.odp import OdpSyntaxError, format_key, parse_flow

CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "ovs-3.1.0-dpctl-text.json"


@cache
def _corpus() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CORPUS.read_text(encoding="ascii"))
    return data


def _stored() -> list[ovs_text.Entry]:
    return [ovs_text.Entry(f["put"], f["compact"], f["verbose"]) for f in _corpus()["flows"] if f["verbose"]]


def _diffs(entry: ovs_text.Entry) -> list[str]:
    flow = parse_flow(entry.put)
    assert flow.mask is not None
    return ovs_text.compare_entry(flow.key, flow.mask, entry)


def test_corpus_is_from_ovs_3_1_and_large() -> None:
    corpus = _corpus()
    assert "3.1.0" in corpus["meta"]["ovs"]
    assert len(_stored()) >= 1500
    assert len(corpus["rejects"]) >= 300


def test_put_text_is_what_format_key_prints() -> None:
    # The corpus's put text must be our verbose form, else the
    # comparisons below would not compare what was sent.
    for f in _corpus()["flows"]:
        flow = parse_flow(f["put"])
        assert format_key(flow.key, flow.mask, verbose=True) == f["put"]


def test_every_dumped_line_reprints_and_agrees_with_what_was_put() -> None:
    failures = [d for entry in _stored() for d in _diffs(entry)]
    assert failures == []


@pytest.mark.parametrize("where", ["compact", "verbose"])
def test_a_changed_dump_line_is_caught(where: str) -> None:
    entry = next(e for e in _stored() if "ipv4(src=" in e.put and "ipv4(src=" in (e.compact or ""))
    line = getattr(entry, where)
    changed = re.sub(r"ipv4\(src=(\d+)", lambda m: f"ipv4(src={(int(m.group(1)) + 1) % 256}", line, count=1)
    assert changed != line
    diffs = _diffs(ovs_text.Entry(entry.put, **{"compact": entry.compact, "verbose": entry.verbose, where: changed}))
    assert diffs, changed


def test_flows_the_datapath_refused_are_nd_matches_without_an_exact_icmpv6_code() -> None:
    # dpif-netdev refuses a mask that matches ND fields unless it matches
    # the ICMPv6 type and code exactly (lib/odp-util.c parse_l2_5_onward,
    # is_mask branch). The text is valid: parse_flow accepts it.
    refused = [f for f in _corpus()["flows"] if f["verbose"] is None]
    assert refused
    for f in refused:
        assert "updating flow table" in f["error"]
        parse_flow(f["put"])
        assert re.search(
            r"icmpv6\(type=13[56],code=0/0x(?!ff\))[0-9a-f]+\),nd\(|icmpv6\(type=13[56],code=0/0\),nd\(", f["put"]
        )


# OVS's integer scanner (lib/util.c ovs_scan) truncates a number to the
# field's width and takes "-N" modulo 2**width; parse_flow refuses both with
# OdpSyntaxError (docs/keys.md, "ovs-vswitchd text differential").
_WRAPPED = re.compile(r"(does not fit in \d+ bits|negative value out of range)")


def test_rejects_agree_with_the_daemon() -> None:
    counts = {"both refuse": 0, "both accept": 0, "ovs wraps, we refuse": 0}
    for r in _corpus()["rejects"]:
        ovs_refuses_text = r["error"] is not None and "parsing flow key" in r["error"]
        try:
            flow = parse_flow(r["put"])
        except OdpSyntaxError as exc:
            if ovs_refuses_text:
                counts["both refuse"] += 1
            else:
                assert _WRAPPED.search(str(exc)), (r, exc)
                counts["ovs wraps, we refuse"] += 1
            continue
        assert not ovs_refuses_text, r
        counts["both accept"] += 1
        if r["compact"] is not None:
            theirs = parse_flow(r["compact"])
            assert format_key(theirs.key, theirs.mask) == r["compact"]
        del flow
    assert counts["both refuse"] >= 300
