"""Differential of ``reference.odp``'s flow text against ovs-vswitchd's ``dpctl`` printer.

Flows are drawn from :func:`conformance.strategies.datapath_keys_with_masks`,
given distinct exact ``in_port`` values (so that no two overlap and each
dumped line can be matched to the flow put), added in bulk with
``dpctl/add-flows`` and read back with ``dpctl/dump-flows`` (compact) and
``dpctl/dump-flows -m --no-names``, and one by one by UFID with
``dpctl/get-flow`` (both forms). Whether the daemon stores a flow at all is
predicted by :func:`reference.odp.fitness.mask_fitness`. Everything here but
:func:`run` and :func:`run_actions` is sans-I/O; they talk to a daemon
through an ``appctl`` callable.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.suite._flows import CT_TUPLES, ct_tuple_written, flow_eth_type
from reference._netlink import iter_attrs, pack_attr
from reference.odp import OdpSyntaxError, format_actions, format_key, format_key_attr, parse_flow
from reference.odp.fitness import KeyFitness, key_fitness, mask_fitness_report
from reference.odp.keys import Attribute, decode_key, encode_key
from reference.uapi import ActionAttr, CheckPktLenAttr, KeyAttr, SampleAttr
from reference.ufid import Ufid

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "Agreement",
    "Entry",
    "add_flows_file",
    "compare_entry",
    "dpif_ready",
    "flow_ufid",
    "generate",
    "generate_actions",
    "key_text",
    "ovs31_unparsed",
    "ovs_scanned",
    "parse_dump",
    "port_names",
    "run",
    "run_actions",
    "stored_form",
    "tally",
]

_IN_PORT = re.compile(r"(?:^|,)in_port\((\d+)\)")
_IN_PORT_NAME = re.compile(r"(?<![a-z_])in_port\(([A-Za-z][^()]*)\)")
_SHOW_PORT = re.compile(r"^\s*port (\d+): (\S+)", re.MULTILINE)
# The daemon's vlan-limit: a private ovs-vswitchd with a database runs
# bridge_reconfigure (vswitchd/bridge.c), which sets other_config:vlan-limit's
# default LEGACY_MAX_VLAN_HEADERS (1) through flow_limit_vlans (lib/flow.c);
# dpif-netdev's odp_flow_key_to_flow/odp_flow_key_to_mask honour it.
DAEMON_VLAN_LIMIT = 1
# Hash basis of the UFIDs given with each flow (any fixed value: the daemon
# stores the UFID it is given, lib/dpctl.c dpctl_put_flow_dpif).
_UFID_SECRET = 0x0F1D0F1D
_WITH_LISTS = (ActionAttr.SAMPLE, ActionAttr.CHECK_PKT_LEN)


@dataclass(frozen=True, slots=True)
class Entry:
    """One flow put and what the daemon printed for it (``None`` lines: it refused the flow).

    ``compact``/``verbose`` are the key text of the ``dpctl/dump-flows``
    lines; ``get_compact``/``get_verbose`` the key text that ``dpctl/get-flow``
    printed for ``ufid``, and ``get_ufid`` the UFID its ``-m`` line starts with.
    """

    put: str
    compact: str | None
    verbose: str | None
    error: str | None = None
    ufid: str | None = None
    get_compact: str | None = None
    get_verbose: str | None = None
    get_ufid: str | None = None


@dataclass(frozen=True, slots=True)
class Agreement:
    """Counts of a differential run; ``mismatches`` holds the first few disagreements as text."""

    flows: int = 0
    stored: int = 0
    reprint: int = 0
    normalised: int = 0
    mismatches: tuple[str, ...] = ()
    predicted: int = 0  # flows whose acceptance mask_fitness predicted
    got: int = 0  # stored flows read back by UFID with dpctl/get-flow, agreeing


def dpif_ready(pair: tuple[bytes, bytes], port: int) -> tuple[bytes, bytes]:
    """``pair`` with its in_port replaced by an exact ``port`` (dpif-netdev needs an exact in_port)."""
    key, mask = pair
    ka = [a for a in decode_key(key).attrs if a.type != KeyAttr.IN_PORT]
    ma = [a for a in decode_key(mask).attrs if a.type != KeyAttr.IN_PORT]
    return (
        encode_key([Attribute(KeyAttr.IN_PORT, struct.pack("=I", port)), *ka]),
        encode_key([Attribute(KeyAttr.IN_PORT, b"\xff" * 4), *ma]),
    )


def _draw(strategy: SearchStrategy[Any], n: int, seed: int, batch: int) -> list[Any]:
    """About ``n`` values of ``strategy``, drawn in lists of ``batch`` (cheaper per value than one example each).

    Hypothesis with a fixed seed and only the generate phase: reproducible per seed.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    drawn: list[Any] = []

    @hseed(seed)
    @settings(
        max_examples=max(1, -(-n // batch)),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(strategy, min_size=batch, max_size=batch))
    def collect(values: list[Any]) -> None:
        drawn.extend(values)

    collect()
    return drawn[:n]


def generate(n: int, *, seed: int = 0) -> list[tuple[bytes, bytes]]:
    """About ``n`` complete ``(key, mask)`` pairs with in_ports 1, 2, ... (reproducible per seed).

    Keys that lib/odp-util.c odp_flow_key_to_flow() would not call
    ODP_FIT_PERFECT are dropped: dpif-netdev's flow put refuses them
    (dpif_netdev_flow_from_nlattrs) before it reads the mask.
    """
    from conformance.strategies import datapath_keys_with_masks

    drawn = _draw(datapath_keys_with_masks(), n, seed, batch=60)
    ready = (dpif_ready(p, i + 1) for i, p in enumerate(drawn))
    return [p for p in ready if key_fitness(p[0], vlan_limit=DAEMON_VLAN_LIMIT) == KeyFitness.PERFECT]


def generate_actions(n: int, *, seed: int = 0) -> list[bytes]:
    """About ``n`` action lists from :func:`conformance.strategies.actions` (reproducible per seed)."""
    from conformance.strategies import actions

    return _draw(actions(), n, seed, batch=12)


def flow_ufid(key: bytes) -> Ufid:
    """The UFID given to the daemon with ``key`` (``odp_flow_key_hash`` of its bytes, fixed basis)."""
    return Ufid.from_key(key, _UFID_SECRET)


def add_flows_file(texts: Iterable[str], action: str = "2") -> str:
    """The ``dpctl/add-flows`` file for ``texts`` (lib/dpctl.c dpctl_process_flows: ``add FLOW ACTIONS``)."""
    return "".join(f"add {t} {action}\n" for t in texts)


def key_text(line: str) -> str:
    """The key text of one ``dpctl/dump-flows`` or ``dpctl/get-flow`` line."""
    # lib/dpctl.c format_dpif_flow: [ufid, ]key, stats[, dp:...], actions:...
    body = line.split(", ", 1)[1] if line.startswith("ufid:") else line
    return body.split(", packets:", 1)[0]


def parse_dump(text: str) -> dict[int, str]:
    """Map in_port to the key text of each ``dpctl/dump-flows`` line (ufid, stats and actions dropped)."""
    rows: dict[int, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("flow-dump"):
            continue
        key = key_text(line)
        found = _IN_PORT.search(key)
        if found is not None:
            rows[int(found.group(1))] = key
    return rows


# Offsets of the fields the normalisation below reads, in the netlink structs
# of include/uapi/linux/openvswitch.h.
_ARP_OP = 8  # struct ovs_key_arp: sip, tip, then the be16 op
_ODPP_NONE = b"\xff" * 4


def _arp_op_through_nw_proto(attr: Attribute) -> Attribute:
    low = attr.payload[_ARP_OP + 1]
    high = 0xFF if low == 0xFF else 0
    return Attribute(attr.type, attr.payload[:_ARP_OP] + bytes([high]) + attr.payload[_ARP_OP + 1 :])


def _stored_attr(a: Attribute, m: Attribute, eth_type: bytes) -> tuple[Attribute, Attribute] | None:
    """One attribute put, as the daemon prints it back (``None``: it drops it); ``eth_type`` is the flow's."""
    if a.type == KeyAttr.IN_PORT and a.payload == _ODPP_NONE:
        # odp_flow_key_from_flow__ writes in_port only when it is not
        # ODPP_NONE (the mask's in_port is written but odp_flow_format prints
        # only the key's attributes): in_port(4294967295) comes back absent.
        return None
    if a.type == KeyAttr.ENCAP and a.children is not None:
        kc, mc = _stored_level(a.children, m.children or (), eth_type)
        return (
            Attribute(a.type, b"".join(c.encode() for c in kc), tuple(kc)),
            Attribute(m.type, b"".join(c.encode() for c in mc), tuple(mc)),
        )
    if a.type == KeyAttr.ARP and len(a.payload) > _ARP_OP + 1 and len(m.payload) > _ARP_OP + 1:
        # struct flow keeps the ARP opcode in the 8-bit nw_proto
        # (lib/odp-util.c parse_l2_5_onward: flow->nw_proto =
        # ntohs(arp_op)), so the upper byte of the op's key and mask is
        # lost. Observed with 3.1.0: an nw_proto of 0xff, in the key or in
        # the mask, comes back as op 0xffff, not 0x00ff.
        return _arp_op_through_nw_proto(a), _arp_op_through_nw_proto(m)
    if a.type == KeyAttr.TCP_FLAGS and not any(a.payload) and not any(m.payload):
        # odp_flow_key_from_flow__ writes TCP_FLAGS only when the flow's or
        # the mask's flags are not zero.
        return None
    if a.type in CT_TUPLES and not ct_tuple_written(a.type, a.payload, eth_type):
        # odp_flow_key_from_flow__ writes the original-direction tuple only
        # when the flow's ct_nw_proto is not zero and its dl_type is the
        # tuple's family, so any other tuple is dropped (key and mask) by the daemon.
        return None
    return a, m


def _stored_level(
    keys: tuple[Attribute, ...], masks: tuple[Attribute, ...], eth_type: bytes
) -> tuple[list[Attribute], list[Attribute]]:
    by_type = {m.type: m for m in masks}
    ko: list[Attribute] = []
    mo: list[Attribute] = []
    for a in keys:
        kept = _stored_attr(a, by_type.get(a.type, Attribute(a.type, bytes(len(a.payload)))), eth_type)
        if kept is not None:
            ko.append(kept[0])
            mo.append(kept[1])
    return ko, mo


def stored_form(key: bytes, mask: bytes) -> tuple[bytes, bytes]:
    """``(key, mask)`` as ovs-vswitchd stores it: what it loses through ``struct flow`` removed (see the comments)."""
    ko, mo = _stored_level(
        decode_key(key).attrs,
        decode_key(mask, is_mask=True).attrs,
        flow_eth_type({t: p for t, p, _ in iter_attrs(key, where="flow key")}),
    )
    return encode_key(ko), encode_key(mo)


def _attrs(key: bytes, mask: bytes) -> dict[int, str]:
    masks = {a.type: a.payload for a in decode_key(mask, is_mask=True).attrs}
    return {
        a.type: format_key_attr(a.type, a.payload, masks.get(a.type, bytes(len(a.payload))), verbose=True)
        for a in decode_key(key).attrs
    }


def compare_entry(key: bytes, mask: bytes, entry: Entry) -> list[str]:
    """Disagreements between our formatting and the daemon's lines for one stored flow (empty: agreement).

    Reprint: ``format_key(parse_flow(line))`` must give ``line`` back, in
    both forms. Normalised: the daemon re-serialises the flow from its
    ``struct flow`` and mask (lib/odp-util.c odp_flow_key_from_flow and
    odp_flow_key_from_mask), so the flow put is first brought to that form
    (:func:`stored_form`), attributes come in the daemon's order and
    metadata attributes we did not write appear: fully wildcarded ones in
    ``-m`` (skb_priority(0/0), ...) and recirc_id(0), which dpif-netdev
    always matches exactly (dpif_netdev_flow_put -> dpif_netdev_mask_from_nlattrs).
    So the ``-m`` line is compared per attribute: every attribute we put
    prints identically, and every other attribute is recirc_id(0) or
    wildcarded; the compact line must be our compact form of the ``-m`` one.
    """
    out: list[str] = []
    assert entry.compact is not None and entry.verbose is not None
    for verbose, line in ((False, entry.compact), (True, entry.verbose)):
        flow = parse_flow(line)
        assert flow.mask is not None
        mine = format_key(flow.key, flow.mask, verbose=verbose)
        if mine != line:
            out.append(f"reprint{' -m' if verbose else ''}: ovs {line!r} ours {mine!r}")
    theirs_flow = parse_flow(entry.verbose)
    assert theirs_flow.mask is not None
    # The compact line is the same stored flow printed without verbosity
    # (lib/odp-util.c odp_flow_format drops wildcarded fields): our compact
    # printer given the -m line's key and mask must print it.
    compact = format_key(theirs_flow.key, theirs_flow.mask)
    if compact != entry.compact:
        out.append(f"compact of -m: ovs {entry.compact!r} ours {compact!r}")
    theirs = _attrs(theirs_flow.key, theirs_flow.mask)
    ours = _attrs(*stored_form(key, mask))
    wild = {a.type for a in decode_key(theirs_flow.mask, is_mask=True).attrs if not any(a.payload)}
    for t, text in ours.items():
        if theirs.get(t) != text:
            out.append(f"put: ours {text!r} ovs {theirs.get(t)!r} in {entry.verbose!r}")
    for t, text in theirs.items():
        if t not in ours and t not in wild and text != "recirc_id(0)":
            out.append(f"added: ovs {text!r} in {entry.verbose!r}")
    return out + _compare_get(entry)


def _compare_get(entry: Entry) -> list[str]:
    """``dpctl/get-flow`` by UFID prints the flow the dump printed (format_dpif_flow), as we print it."""
    if entry.ufid is None:
        return []
    out = []
    if entry.get_ufid != entry.ufid:
        out.append(f"get-flow ufid: ours {entry.ufid!r} ovs {entry.get_ufid!r}")
    for verbose, got, dumped in ((False, entry.get_compact, entry.compact), (True, entry.get_verbose, entry.verbose)):
        flag = " -m" if verbose else ""
        if got is None:
            out.append(f"get-flow{flag}: no flow for {entry.ufid}")
            continue
        if got == dumped:
            continue  # compare_entry checks that the dumped line is what we print
        flow = parse_flow(got)
        assert flow.mask is not None
        mine = format_key(flow.key, flow.mask, verbose=verbose)
        out.append(f"get-flow{flag}: ovs {got!r} ours {mine!r} dump {dumped!r}")
    return out


def tally(pairs: list[tuple[bytes, bytes]], entries: list[Entry], samples: int = 5) -> Agreement:
    """Agreement counts of ``entries`` (as returned by :func:`run`) for the ``pairs`` put.

    A flow the daemon stored must be one ``mask_fitness_report`` calls
    PERFECT, and a refused one one it does not (dpif-netdev's flow put
    refuses a key or mask that odp_flow_key_to_flow/odp_flow_key_to_mask
    do not call PERFECT: lib/dpif-netdev.c dpif_netdev_flow_put).
    """
    stored = reprint = normalised = predicted = got = 0
    mismatches: list[str] = []
    for (key, mask), entry in zip(pairs, entries, strict=True):
        report = mask_fitness_report(key, mask, vlan_limit=DAEMON_VLAN_LIMIT)
        diffs = []
        if (report.fitness == KeyFitness.PERFECT) != (entry.verbose is not None):
            diffs.append(f"refusal: ovs {entry.error or 'stored'!r} ours {report} for {entry.put!r}")
        else:
            predicted += 1
        if entry.verbose is not None:
            stored += 1
            diffs += compare_entry(key, mask, entry)
            reprint += not any(d.startswith("reprint") for d in diffs)
            normalised += not any(d.startswith(("put", "added", "compact")) for d in diffs)
            got += entry.ufid is not None and not any(d.startswith("get-flow") for d in diffs)
        mismatches.extend(diffs[: max(0, samples - len(mismatches))])
    return Agreement(len(pairs), stored, reprint, normalised, tuple(mismatches), predicted, got)


def run(appctl: Callable[..., str], dp: str, pairs: list[tuple[bytes, bytes]], path: str) -> list[Entry]:
    """Put ``pairs`` through ``dpctl/add-flows`` (file written at ``path``) and read both dump forms back.

    The daemon's datapath must be empty. A flow it refuses has no lines;
    add-flows reports refusals without saying which line, so their
    ``error`` is the daemon's first message for the batch.
    """
    texts = [format_key(k, m, verbose=True) for k, m in pairs]
    ufids = [str(flow_ufid(k)) for k, _ in pairs]
    with open(path, "w", encoding="ascii") as fh:
        fh.write(add_flows_file(f"{u},{t}" for u, t in zip(ufids, texts, strict=True)))
    # lib/dpctl.c dpctl_process_flows keeps going after a refused flow; the
    # reply (an error reply or not, depending on the last line) lists the errors.
    try:
        reply = appctl("dpctl/add-flows", dp, path)
    except OSError as exc:
        reply = getattr(exc, "reply", None) or str(exc)
    error = reply.splitlines()[0] if reply.strip() else "refused"
    compact = parse_dump(appctl("dpctl/dump-flows", dp))
    names = port_names(appctl("dpctl/show", dp))
    verbose = parse_dump(appctl("dpctl/dump-flows", "-m", "--no-names", dp))
    entries = []
    for (key, _), text, ufid in zip(pairs, texts, ufids, strict=True):
        port_attr = decode_key(key).get(KeyAttr.IN_PORT)
        assert port_attr is not None
        (port,) = struct.unpack("=I", port_attr.payload)
        c, v = compact.get(port), verbose.get(port)
        if v is None:
            entries.append(Entry(text, c, v, error, ufid))
            continue
        # lib/dpctl.c dpctl_get_flow: format_dpif_flow of dpif_flow_get by
        # UFID. Its table entry allows at most 2 arguments, so "-m" leaves no
        # room for "--no-names" and the datapath (the only one is taken):
        # verbosity turns port names on, which are put back to numbers.
        got_c = _get_flow(appctl, dp, ufid)
        got_v = _get_flow(appctl, "-m", ufid)
        if got_v is not None:
            got_v = _IN_PORT_NAME.sub(lambda m: f"in_port({names.get(m.group(1), m.group(1))})", got_v)
        got_ufid = got_v.split(", ", 1)[0] if got_v is not None and got_v.startswith("ufid:") else None
        entries.append(
            Entry(
                text,
                c,
                v,
                None,
                ufid,
                None if got_c is None else key_text(got_c),
                None if got_v is None else key_text(got_v),
                got_ufid,
            )
        )
    return entries


def port_names(show: str) -> dict[str, int]:
    """Port name to number, from a ``dpctl/show`` reply (``  port 1: p1 (dummy)``)."""
    return {m.group(2): int(m.group(1)) for m in _SHOW_PORT.finditer(show)}


def _get_flow(appctl: Callable[..., str], *args: str) -> str | None:
    # dpctl_get_flow answers an error ("getting flow (No such file or directory)") for an unknown UFID.
    try:
        return appctl("dpctl/get-flow", *args).strip()
    except OSError:
        return None


_DUMP_ACTIONS = re.compile(r"(?:^|,)in_port\((\d+)\).*, actions:(.*)$")


def run_actions(appctl: Callable[..., str], dp: str, texts: list[str], path: str) -> list[str | None]:
    """Add one flow per action list ``texts[i]`` (in_port i + 1) and return the actions the daemon dumps.

    ``None``: the daemon refused the flow (its action parser,
    lib/odp-util.c odp_actions_from_string, cannot read every form its
    printer format_odp_actions writes). The daemon's datapath must be empty.
    """
    key = "in_port({}),eth(),eth_type(0x1234)"
    with open(path, "w", encoding="ascii") as fh:
        fh.write("".join(f"add {key.format(i + 1)} {t}\n" for i, t in enumerate(texts)))
    with contextlib.suppress(OSError):  # refused lines are reported at the end; the dump tells which
        appctl("dpctl/add-flows", dp, path)
    dumped: dict[int, str] = {}
    for line in appctl("dpctl/dump-flows", dp).splitlines():
        found = _DUMP_ACTIONS.search(line)
        if found is not None:
            dumped[int(found.group(1))] = found.group(2)
    return [dumped.get(i + 1) for i in range(len(texts))]


# parse_flow's messages for an integer that does not fit its field (reference/odp/flowtext.py).
_OUT_OF_RANGE = re.compile(r"value \S+ does not fit in (\d+) bits|negative value out of range for a (\d+)-bit field")
_C_INTEGER = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def ovs_scanned(text: str) -> str:
    """``text`` with each integer that does not fit its field written as the value OVS stores.

    ovs-vswitchd's flow parser reads integers with ``ovs_scan`` ``%i``
    (lib/util.c scan_int): digits accumulate in a ``uintmax_t`` (modulo
    2**64), a ``-`` negates modulo 2**64, and the result is stored into the
    field's narrower C type, i.e. taken modulo 2**width. ``parse_flow``
    refuses such numbers instead (docs/keys.md, "Out-of-range integers");
    this is what OVS made of them, for the differential. Raises the first
    :class:`OdpSyntaxError` that is not such a number.
    """
    while True:  # each round replaces one out-of-range number by an in-range one
        try:
            parse_flow(text)
        except OdpSyntaxError as exc:
            found = _OUT_OF_RANGE.search(str(exc))
            number = _C_INTEGER.match(text, exc.column) if exc.column is not None else None
            if found is None or number is None:
                raise
            bits = int(found.group(1) or found.group(2))
            sign, digits = number.groups()
            value = int(digits, 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") else 10)
            wrapped = (-value if sign == "-" else value) % (1 << bits)
            text = f"{text[: number.start()]}{wrapped:#x}{text[number.end() :]}"
            continue
        return text


def ovs31_unparsed(actions: bytes) -> str | None:
    """Why OVS 3.1's ``dpctl/add-flow`` cannot read ``format_actions(actions)``, or ``None`` if it can.

    Each reason is a form ``format_actions`` prints (as ``format_odp_actions``
    of OVS 3.1.0 or later does) that ``odp_actions_from_string`` of v3.1.0
    (lib/odp-util.c) does not read back; docs/keys.md, "Action forms OVS
    cannot read back", gives the upstream functions for each.
    """
    return _unparsed(actions, drop_ok=True)


# Actions parse_odp_action__ (v3.1.0) has no branch for: the printer's form is never read.
_NO_PARSER: dict[int, str] = {
    ActionAttr.HASH: "hash(...) (no parser)",
    ActionAttr.PUSH_MPLS: "push_mpls(...) (no parser)",
    ActionAttr.POP_MPLS: "pop_mpls(...) (no parser)",
    # Scanned only inside parse_odp_userspace_action, after "userspace(": unreachable.
    ActionAttr.PUSH_ETH: "push_eth(...) (unreachable parser)",
    ActionAttr.POP_ETH: "pop_eth (unreachable parser)",
    # Printed from v3.4.0 (commit 8bb065961), parsed in no release.
    ActionAttr.DEC_TTL: "dec_ttl (OVS 3.1 has no OVS_ACTION_ATTR_DEC_TTL)",
    ActionAttr.PSAMPLE: "psample (OVS 3.1 has no OVS_ACTION_ATTR_PSAMPLE)",
}
# ovs_parse_tnl_push: the erspan() patterns lack a '%' ("sid="SCNx16), and
# gtpu() is tried only where no udp() was read, but it is printed after one.
# OVS_VPORT_TYPE_ERSPAN, IP6ERSPAN, GTPU: the u32 tnl_type after tnl_port, out_port, header_len.
_TNL_PUSH_UNPARSED = {107: "erspan", 108: "erspan", 110: "gtpu"}
# format_flags(..., ',') prints several slow-path reasons; parse_flags (lib/flow.c) splits at '|'.
_SLOW_PATH_LIST = re.compile(r"slow_path\([^)|]*,")


def _nested_list(t: int, payload: bytes) -> list[tuple[bytes, bool]]:
    """The action lists inside one action and whether a list printed as ``drop`` parses there."""
    if t == ActionAttr.CLONE:
        return [(payload, False)]
    inner = {st: p for st, p, _ in iter_attrs(payload)} if t in _WITH_LISTS else {}
    if t == ActionAttr.SAMPLE:
        return [(inner.get(SampleAttr.ACTIONS, b""), False)]
    if t == ActionAttr.CHECK_PKT_LEN:
        # parse_odp_action__'s check_pkt_len branch reads "drop" as a whole list.
        lists = (CheckPktLenAttr.ACTIONS_IF_GREATER, CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL)
        return [(inner.get(a, b""), True) for a in lists]
    return []


def _unparsed(actions: bytes, *, drop_ok: bool) -> str | None:
    """``drop_ok``: a list printed as just ``drop`` parses here (the whole text, check_pkt_len's lists)."""
    attrs = list(iter_attrs(actions))
    types = [t for t, _, _ in attrs]
    if types in ([], [ActionAttr.DROP]) and not drop_ok:
        # format_odp_actions prints "drop"; parse_action_list (clone, sample) has no drop.
        return "drop inside clone()/sample()"
    if ActionAttr.DROP in types and len(types) > 1:
        return "drop next to other actions"
    for t, payload, _ in attrs:
        reason = _NO_PARSER.get(t)
        if reason is not None:
            return reason
        if t == ActionAttr.RECIRC and len(payload) == 4 and struct.unpack("=I", payload)[0]:
            # format_odp_action prints recirc(%#x); parse_odp_action__ scans recirc(%u).
            return "recirc(0x...)"
        if t == ActionAttr.TUNNEL_PUSH and len(payload) >= 16:
            header = _TNL_PUSH_UNPARSED.get(struct.unpack_from("=I", payload, 12)[0])
            if header is not None:
                return f"tnl_push(...{header}(...)) (ovs_parse_tnl_push cannot read it)"
        if t == ActionAttr.USERSPACE and _SLOW_PATH_LIST.search(format_actions(pack_attr(t, payload))):
            return "slow_path(a,b)"
        for inner, inner_drop_ok in _nested_list(t, payload):
            reason = _unparsed(inner, drop_ok=inner_drop_ok)
            if reason is not None:
                return reason
    return None
