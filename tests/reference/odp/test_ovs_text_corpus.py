"""Offline replay of ovs-vswitchd 3.1.0's dpctl text (fixtures/ovs-3.1.0-dpctl-text.json).

The corpus holds only what the daemon printed or refused (regenerate it with
fixtures/make_ovs_text_corpus.py); these tests hold ``reference.odp`` to it
without a daemon, so every run checks the text codec against real OVS.
"""

from __future__ import annotations

import dataclasses
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conformance import ovs_text
from reference.odp import OdpSyntaxError, format_actions, format_key, parse_actions, parse_flow
from reference.odp.fitness import KeyFitness, mask_fitness_report

CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "ovs-3.1.0-dpctl-text.json"


@cache
def _corpus() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CORPUS.read_text(encoding="ascii"))
    return data


_GET = ("ufid", "get_compact", "get_verbose", "get_ufid")


def _stored() -> list[ovs_text.Entry]:
    return [
        ovs_text.Entry(f["put"], f["compact"], f["verbose"], None, *(f[k] for k in _GET))
        for f in _corpus()["flows"]
        if f["verbose"]
    ]


def _diffs(entry: ovs_text.Entry) -> list[str]:
    flow = parse_flow(entry.put)
    assert flow.mask is not None
    return ovs_text.compare_entry(flow.key, flow.mask, entry)


def test_corpus_is_from_ovs_3_1_and_large() -> None:
    corpus = _corpus()
    assert "3.1.0" in corpus["meta"]["ovs"]
    assert len(_stored()) >= 1500
    assert len(corpus["rejects"]) >= 300
    # Every stored flow was read back by its UFID with dpctl/get-flow.
    assert all(e.ufid is not None for e in _stored())


def test_put_text_is_what_format_key_prints() -> None:
    # The corpus's put text must be our verbose form, else the
    # comparisons below would not compare what was sent.
    for f in _corpus()["flows"]:
        flow = parse_flow(f["put"])
        assert format_key(flow.key, flow.mask, verbose=True) == f["put"]


def test_every_dumped_line_reprints_and_agrees_with_what_was_put() -> None:
    failures = [d for entry in _stored() for d in _diffs(entry)]
    assert failures == []


@pytest.mark.parametrize("where", ["compact", "verbose", "get_compact", "get_verbose", "get_ufid"])
def test_a_changed_dump_line_is_caught(where: str) -> None:
    entry = next(e for e in _stored() if "ipv4(src=" in e.put and "ipv4(src=" in (e.compact or ""))
    line = getattr(entry, where)
    if where == "get_ufid":
        changed = line[:-1] + ("1" if line.endswith("0") else "0")
    else:
        changed = re.sub(r"ipv4\(src=(\d+)", lambda m: f"ipv4(src={(int(m.group(1)) + 1) % 256}", line, count=1)
    assert changed != line
    assert _diffs(dataclasses.replace(entry, **{where: changed})), changed


def _refusal_predicted(put: str, stored: bool) -> bool:
    flow = parse_flow(put)
    assert flow.mask is not None
    report = mask_fitness_report(flow.key, flow.mask, vlan_limit=ovs_text.DAEMON_VLAN_LIMIT)
    return (report.fitness == KeyFitness.PERFECT) == stored


def test_the_datapath_stores_exactly_the_flows_mask_fitness_calls_perfect() -> None:
    # dpif_netdev_flow_put (lib/dpif-netdev.c) refuses a flow unless
    # odp_flow_key_to_flow and odp_flow_key_to_mask call key and mask
    # PERFECT; mask_fitness_report models the pair. The refused texts are
    # valid: parse_flow accepts them.
    flows = _corpus()["flows"]
    refused = [f for f in flows if f["verbose"] is None]
    assert refused and all("updating flow table" in f["error"] for f in refused)
    assert [f["put"] for f in flows if not _refusal_predicted(f["put"], f["verbose"] is not None)] == []


def _accepted_as(put: str, r: dict[str, Any]) -> list[str]:
    """What is wrong with the daemon's verdict on ``put``, a text its parser took (empty: nothing)."""
    if r["verbose"] is None:
        return [] if _refusal_predicted(put, stored=False) else [f"refused but PERFECT: {put!r} {r['error']!r}"]
    flow = parse_flow(put)
    assert flow.mask is not None and _refusal_predicted(put, stored=True)
    return ovs_text.compare_entry(flow.key, flow.mask, ovs_text.Entry(put, r["compact"], r["verbose"]))


def test_rejects_agree_with_the_daemon() -> None:
    # What OVS's parser refuses, parse_flow refuses. The one deliberate
    # difference: an integer that does not fit its field, which OVS's
    # scanner wraps (lib/util.c scan_int) and parse_flow refuses
    # (docs/keys.md, "Out-of-range integers"); for those, the text as OVS
    # read it (ovs_text.ovs_scanned) must give exactly what the daemon did.
    counts = {"both refuse": 0, "both accept": 0, "ovs wraps, we refuse": 0}
    for r in _corpus()["rejects"]:
        ovs_refuses_text = r["error"] is not None and "parsing flow key" in r["error"]
        try:
            parse_flow(r["put"])
        except OdpSyntaxError:
            if ovs_refuses_text:
                counts["both refuse"] += 1
                continue
            scanned = ovs_text.ovs_scanned(r["put"])
            assert scanned != r["put"]
            assert _accepted_as(scanned, r) == []
            counts["ovs wraps, we refuse"] += 1
            continue
        assert not ovs_refuses_text, r
        assert _accepted_as(r["put"], r) == []
        counts["both accept"] += 1
    assert counts["both refuse"] >= 300
    assert counts["ovs wraps, we refuse"] >= 20


@pytest.mark.parametrize(
    ("text", "scanned"),
    [
        ("in_port(-1),eth(),eth_type(0x1234)", "in_port(0xffffffff),eth(),eth_type(0x1234)"),
        ("in_port(0x1ffffffff1536),eth(),eth_type(0x1234)", "in_port(0xffff1536),eth(),eth_type(0x1234)"),
        # digits accumulate modulo 2**64 before the store into 16 bits
        ("in_port(1),eth(),eth_type(0x1234/0x1fffffffffffffffffffff)", "in_port(1),eth(),eth_type(0x1234/0xffff)"),
        (
            "in_port(1),eth(),eth_type(0x0800),ipv4(tos=0400,frag=no)",
            "in_port(1),eth(),eth_type(0x0800),ipv4(tos=0x0,frag=no)",
        ),
    ],
)
def test_ovs_scanned_wraps_as_scan_int(text: str, scanned: str) -> None:
    assert ovs_text.ovs_scanned(text) == scanned
    with pytest.raises(OdpSyntaxError):
        parse_flow(text)


def test_ovs_scanned_leaves_other_syntax_errors_alone() -> None:
    with pytest.raises(OdpSyntaxError, match="missing"):
        ovs_text.ovs_scanned("in_port(1),eth(")
    with pytest.raises(OdpSyntaxError, match="128 bits"):
        ovs_text.ovs_scanned("in_port(1),ct_label(0x1" + "0" * 32 + "),eth(),eth_type(0x1234)")


def test_recorded_actions_print_as_ovs_printed_them() -> None:
    # format_odp_actions in ovs-vswitchd 3.1.0 printed the actions it stored
    # from our text; our format_actions of the same bytes must be that text,
    # and it must parse back to the same bytes.
    rows = _corpus()["actions"]
    assert len(rows) >= 500
    stored = [r for r in rows if r["dumped"] is not None]
    assert len(stored) >= len(rows) // 2
    for r in rows:
        assert format_actions(bytes.fromhex(r["netlink"])) == r["put"]
    assert [r["put"] for r in stored if r["dumped"] != r["put"]] == []
    assert [r["put"] for r in stored if parse_actions(r["dumped"]) != bytes.fromhex(r["netlink"])] == []


def test_ovs_refused_exactly_the_action_lists_its_parser_cannot_read() -> None:
    # docs/keys.md, "Action forms OVS cannot read back": each reason names a
    # form format_odp_actions prints that odp_actions_from_string (v3.1.0)
    # does not parse; parse_actions reads all of them.
    rows = _corpus()["actions"]
    reasons = [ovs_text.ovs31_unparsed(bytes.fromhex(r["netlink"])) for r in rows]
    assert [
        (r["put"], why) for r, why in zip(rows, reasons, strict=True) if (why is None) != (r["dumped"] is not None)
    ] == []
    refused = [r for r, why in zip(rows, reasons, strict=True) if why is not None]
    assert refused
    assert all(parse_actions(r["put"]) == bytes.fromhex(r["netlink"]) for r in refused)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2", None),
        ("drop", None),
        ("recirc(0)", None),
        ("recirc(0x1)", "recirc"),
        ("clone(drop)", "drop inside"),
        ("sample(sample=50.0%,actions(drop))", "drop inside"),
        ("check_pkt_len(size=200,gt(drop),le(2))", None),
        ("check_pkt_len(size=200,gt(clone(drop)),le(2))", "drop inside"),
        ("dec_ttl(le_1(2))", "dec_ttl"),
        ("hash(l4(5))", "hash"),
        ("pop_eth", "pop_eth"),
        ("userspace(pid=1,slow_path(cfm,lacp))", "slow_path"),
        ("userspace(pid=1,slow_path(cfm))", None),
    ],
)
def test_ovs31_unparsed_examples(text: str, reason: str | None) -> None:
    why = ovs_text.ovs31_unparsed(parse_actions(text))
    assert (why is None) == (reason is None)
    if reason is not None:
        assert why is not None and reason in why
