"""The requirement catalogue: what a dpif backend must do to be certified.

Every requirement has a stable ID (never renumber; retire an ID instead of
reusing it), a level, the capability it needs, the provider semantics it
applies to, a one-line statement and the source of the rule. The suite's
tests name the IDs they check with ``@pytest.mark.requirement("UFID-...")``;
``ufidcert requirements --markdown > docs/requirements.md`` renders this
module, so the catalogue and the docs never drift.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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


def _r(rid: str, level: str, cap: str, sem: str, title: str, source: str) -> Requirement:  # noqa: PLR0917
    # Positional on purpose: the catalogue below reads as a table.
    return Requirement(rid, Level(level), Capability(cap), Semantics(sem), title, source)


_DPIF_H = "lib/dpif.h (flow_put/flow_get/flow_del contract)"
_KDP = "kernel datapath/datapath.c"
_FILL = "kernel datapath/datapath.c ovs_flow_cmd_fill_info"
_NETDEV = "lib/dpif-netdev.c"

CATALOGUE: tuple[Requirement, ...] = (
    # --- smoke: can the backend be used at all
    _r("UFID-SMOKE-001", "MUST", "none", "common",
       "The backend opens, installs one flow, returns it on get and deletes it.", _DPIF_H),
    # --- UFID echo and identity
    _r("UFID-ID-001", "MUST", "ufid", "common",
       "A flow installed with a UFID is returned by get with exactly that UFID and ufid_present set.",
       f"{_DPIF_H}; {_FILL}"),
    _r("UFID-ID-002", "MUST", "ufid", "common",
       "A dump returns every UFID-identified flow once, with exactly the UFID it was installed with.",
       f"{_FILL}; lib/dpif-netlink.c dpif_netlink_flow_to_dpif_flow"),
    _r("UFID-ID-003", "MUST", "ufid", "common",
       "All 128 bits of a UFID are significant and keep their word order: UFIDs differing in one bit "
       "identify different flows and each is echoed unchanged.",
       "kernel datapath/flow_table.c ufid hash and compare; lib/odp-util.c odp_format_ufid"),
    _r("UFID-ID-004", "MUST", "ufid", "common",
       "No two installed flows share a UFID: a CREATE reusing a live UFID fails with EEXIST and the first "
       "flow is unchanged.", f"{_DPIF_H}; {_KDP} ovs_flow_cmd_new"),
    # --- UFID length rules
    _r("UFID-LEN-001", "MUST", "ufid", "kernel",
       "UFIDs of 1 to 16 bytes identify flows and are echoed with exactly their length and bytes.",
       "kernel datapath/flow_netlink.c ovs_nla_get_identifier; datapath/flow_table.c ufid compare"),
    _r("UFID-LEN-002", "MUST", "ufid", "kernel",
       "A zero-length UFID is rejected with ERANGE and installs nothing.",
       "kernel datapath/datapath.c flow_policy (OVS_FLOW_ATTR_UFID minimum length 1)"),
    _r("UFID-LEN-003", "MUST", "ufid", "kernel",
       "A UFID longer than 16 bytes is ignored: the flow is installed key-identified and found by its key.",
       "kernel datapath/flow_netlink.c ovs_nla_get_ufid ('ufid size ... too large')"),
    _r("UFID-LEN-004", "MUST", "ufid", "common",
       "The 16-byte wire form of a UFID (host-order 32-bit words) and the Ufid value address the same flow.",
       "lib/dpif-netlink.c (OVS_FLOW_ATTR_UFID carries ovs_u128 in host order)"),
    # --- lookups by UFID and by key
    _r("UFID-GET-001", "MUST", "ufid", "common",
       "get by UFID finds the flow; get of a UFID that is not installed fails with ENOENT.", _DPIF_H),
    _r("UFID-GET-002", "MUST", "ufid", "common",
       "When get or del is given both a UFID and a key, the UFID decides and the key is ignored.",
       "lib/dpif.h ('if both are specified, key will be ignored')"),
    _r("UFID-GET-003", "MUST", "ufid", "kernel",
       "A flow installed with a UFID is invisible to key-only get and del (ENOENT).",
       f"{_KDP} ovs_flow_cmd_get/del (exact lookup among key-identified flows only)"),
    _r("UFID-GET-004", "MUST", "none", "common",
       "A flow installed without a UFID is found by its key with get and removed by its key with del.",
       f"{_DPIF_H}; {_KDP} ovs_flow_tbl_lookup_exact"),
    _r("UFID-GET-005", "MUST", "none", "common",
       "get and del of a key that is not installed fail with ENOENT.", _DPIF_H),
    _r("UFID-GET-006", "MUST", "none", "kernel",
       "get with neither UFID nor key fails with EINVAL.", f"{_KDP} ovs_flow_cmd_get"),
    _r("UFID-GET-007", "MUST", "ufid", "netdev",
       "get and del by key work for flows installed without a UFID (the key is hashed to the same UFID).",
       f"{_NETDEV} dpif_netdev_flow_get/del, odp_flow_key_hash"),
    # --- put outcomes
    _r("UFID-PUT-001", "MUST", "none", "common",
       "put with CREATE of an absent flow installs it and returns zeroed statistics.", _DPIF_H),
    _r("UFID-PUT-002", "MUST", "none", "common",
       "put without CREATE (MODIFY only) of an absent flow fails with ENOENT and installs nothing.", _DPIF_H),
    _r("UFID-PUT-003", "MUST", "none", "common",
       "put with CREATE but not MODIFY of an installed flow fails with EEXIST and leaves it unchanged.", _DPIF_H),
    _r("UFID-PUT-004", "MUST", "none", "common",
       "put with MODIFY of an installed flow replaces its actions, keeps its statistics and returns the "
       "statistics from before the update.", _DPIF_H),
    _r("UFID-PUT-005", "MUST", "none", "kernel",
       "put with MODIFY|ZERO_STATS replaces the actions, returns the old statistics and zeroes them.",
       f"{_DPIF_H}; {_KDP} ovs_flow_cmd_set (CLEAR)"),
    _r("UFID-PUT-006", "MUST", "none", "netdev",
       "put with MODIFY|ZERO_STATS of an installed flow replaces the actions but fails with EOPNOTSUPP.",
       f"{_NETDEV} flow_put_on_pmd"),
    _r("UFID-PUT-007", "MUST", "none", "common",
       "put with CREATE|MODIFY installs an absent flow and modifies an installed one (the probe's flags).",
       "lib/dpif.c dpif_probe_feature; lib/dpif.h"),
    _r("UFID-PUT-008", "MUST", "none", "common",
       "A put with a malformed key, a mask that does not fit the key or (kernel semantics) malformed actions "
       "fails with EINVAL and leaves the table exactly as before.",
       "kernel datapath/flow_netlink.c ovs_nla_get_match, ovs_nla_copy_actions"),
    # --- duplicates and overlap
    _r("UFID-DUP-001", "MUST", "none", "kernel",
       "A CREATE whose masked key overlaps an installed flow under any installed mask fails with EEXIST.",
       f"{_KDP} ovs_flow_cmd_new (ovs_flow_tbl_lookup across masks)"),
    _r("UFID-DUP-002", "MUST", "ufid", "kernel",
       "A CREATE with a new UFID but the key of an installed flow fails with EEXIST.",
       f"{_KDP} ovs_flow_cmd_new"),
    _r("UFID-DUP-003", "MUST", "ufid", "kernel",
       "A CREATE|MODIFY put (OVS_FLOW_CMD_NEW without NLM_F_CREATE) naming an installed UFID with a different "
       "key fails with ENOENT and changes nothing.",
       f"{_KDP} ovs_flow_cmd_new ('UFID matches but key is different'); lib/dpif-netlink.c put mapping"),
    # --- terse operations
    _r("UFID-TERSE-001", "MUST", "terse", "common",
       "A terse dump omits key, mask and actions of UFID-identified flows and still carries UFID and statistics.",
       "lib/dpif.h dpif_flow_dump_create(terse); kernel OVS_UFID_F_OMIT_*"),
    _r("UFID-TERSE-002", "MUST", "terse", "common",
       "A terse dump returns the same UFIDs and the same statistics as a full dump of the same table.",
       "ofproto/ofproto-dpif-upcall.c revalidate (terse dumps replace full ones)"),
    _r("UFID-TERSE-003", "MUST", "terse_get", "common",
       "A terse get by UFID returns UFID and statistics with key, mask and actions omitted.", _FILL),
    _r("UFID-TERSE-004", "MUST", "terse", "common",
       "A terse del by UFID removes the flow and returns its final statistics.",
       "lib/dpif-netlink.c (terse delete carries only UFID and flags)"),
    _r("UFID-TERSE-005", "MUST", "terse", "kernel",
       "OMIT_KEY has no effect on key-identified flows: a terse dump still returns their unmasked key.", _FILL),
    # --- full dumps
    _r("UFID-DUMP-001", "MUST", "none", "common",
       "A full dump returns every installed flow with key, mask, actions and statistics.",
       "lib/dpif.h dpif_flow_dump_next; ofproto/ofproto-dpif-upcall.c revalidate (a flow never dumped never "
       "idles out)"),
    _r("UFID-DUMP-002", "MUST", "ufid", "kernel",
       "A full dump or get of a UFID-identified flow returns its key masked with its mask.", _FILL),
    _r("UFID-DUMP-003", "MUST", "none", "kernel",
       "A key-identified flow is returned without a UFID (ufid_present false) and with its unmasked key.", _FILL),
    _r("UFID-DUMP-004", "MUST", "none", "netdev",
       "Every dumped flow carries a UFID and its original unmasked key.", f"{_NETDEV} dp_netdev_flow_to_dpif_flow"),
    _r("UFID-DUMP-005", "MUST", "none", "common",
       "Dumps are complete for tables larger than one reply batch (more than 1000 flows).",
       "lib/dpif-netlink.c dump (multipart, NLM_F_DUMP)"),
    _r("UFID-DUMP-006", "MUST", "none", "common",
       "flow_dump_batches returns batches of 1 to max_flows flows that together equal flow_dump: the same flows "
       "(UFIDs, keys, masks, actions, omissions) and statistics; terse batches carry no key, mask or actions "
       "for flows with a UFID.",
       "lib/dpif.h dpif_flow_dump_next (fills the caller's array of up to max_flows flows)"),
    _r("UFID-DUMP-008", "MUST", "none", "common",
       "A dump during which the caller deletes the flows it was given and installs new ones still returns every "
       "flow that was installed until it was returned.",
       "ofproto/ofproto-dpif-upcall.c revalidate (deletes dumped flows through push_dp_ops between "
       "dpif_flow_dump_next calls while handlers install flows)"),
    _r("UFID-DUMP-009", "SHOULD", "none", "common",
       "A dump of a table that does not change returns no flow twice.",
       "ofproto/ofproto-dpif-upcall.c revalidate (skips a flow seen twice: dumped_duplicate_flow)"),
    # --- delete and flush
    _r("UFID-DEL-001", "MUST", "none", "common",
       "del of an installed flow removes it: a later get fails with ENOENT and dumps no longer show it.", _DPIF_H),
    _r("UFID-DEL-002", "MUST", "inject", "common",
       "del returns the flow's statistics just before deletion (not zeros after traffic).", _DPIF_H),
    _r("UFID-FLUSH-001", "MUST", "none", "common",
       "flow_flush removes every flow, whatever its identifier.", "lib/dpif.h dpif_flow_flush"),
    _r("UFID-FLUSH-002", "MUST", "none", "kernel",
       "del with neither UFID nor key flushes every flow.", f"{_KDP} ovs_flow_cmd_del"),
    # --- statistics from injected traffic
    _r("UFID-STATS-001", "MUST", "inject", "common",
       "Frames injected on a port that match a flow add one packet and the frame length in bytes per frame.",
       "kernel datapath/flow.c ovs_flow_stats_update"),
    _r("UFID-STATS-002", "MUST", "inject", "common",
       "used is 0 until a frame matches the flow and non-zero afterwards.", "kernel datapath/flow.c"),
    _r("UFID-STATS-003", "MUST", "inject", "common",
       "tcp_flags accumulates (ORs) the TCP flags of the matching frames.",
       "kernel datapath/flow.c ovs_flow_stats_update; ofproto/ofproto-dpif-xlate.c xlate_fin_timeout (reads "
       "TCP_FIN/TCP_RST from the pushed stats)"),
    _r("UFID-STATS-004", "MUST", "inject", "common",
       "get, full dump and terse dump report the same statistics as the injected traffic.",
       "ofproto/ofproto-dpif-upcall.c revalidate_ukey"),
    _r("UFID-STATS-005", "MUST", "inject", "common",
       "used is in milliseconds and refreshed by every matching frame: between two frames it advances by the "
       "time that passed between them.",
       "kernel datapath/flow.c ovs_flow_used_time (ms); ofproto/ofproto-dpif-upcall.c revalidate (idle "
       "test used < time_msec() - max_idle)"),
    _r("UFID-STATS-006", "MUST", "clock", "common",
       "used is on the clock the backend exposes as clock_ms (CLOCK_MONOTONIC in ms): a frame's used lies "
       "between clock_ms() before and after it.",
       "kernel datapath/flow.c ovs_flow_used_time (ktime_get_ts, CLOCK_MONOTONIC); lib/timeval.c time_msec "
       "(CLOCK_MONOTONIC); ofproto/ofproto-dpif-upcall.c revalidate"),
    _r("UFID-STATS-007", "MUST", "inject", "common",
       "Every kind of reply (get, terse get, full and terse dump, del, terse del) reports statistics that include "
       "all frames sent before it, also right after another kind of reply was read.",
       "ofproto/ofproto-dpif-upcall.c revalidate (terse dumps), push_dp_ops (deletes), revalidator_sweep; "
       "lib/dpif.h dpif_flow_get"),
    _r("UFID-MASK-001", "MUST", "inject", "common",
       "Masks are honoured: a frame differing only in wildcarded fields hits the flow, one differing in a "
       "matched field does not.", "kernel datapath/flow_table.c masked lookup"),
    _r("UFID-UPCALL-001", "MUST", "upcalls", "common",
       "A frame that matches no flow is queued as an upcall carrying the frame, its key and its in_port.",
       "kernel datapath/datapath.c ovs_dp_upcall"),
    _r("UFID-UPCALL-002", "MUST", "upcalls", "kernel",
       "The key of a miss upcall equals the key the Linux datapath extracts from the frame "
       "(reference.odp.extract_key), attribute for attribute.",
       "kernel datapath/flow.c ovs_flow_key_extract; datapath/flow_netlink.c ovs_nla_put_key"),
    # --- batched operate
    _r("UFID-OP-001", "MUST", "none", "common",
       "operate returns one result per operation, in order, with each operation's own outcome or errno.",
       "lib/dpif.h dpif_operate"),
    _r("UFID-OP-002", "MUST", "none", "common",
       "A batch has the same effect and outcomes as the same operations performed one at a time.",
       "lib/dpif.h dpif_operate"),
    _r("UFID-EXEC-001", "MUST", "execute", "common",
       "execute runs valid actions on a packet; in kernel semantics it rejects malformed actions with EINVAL.",
       "lib/dpif.h dpif_execute; datapath.c ovs_packet_cmd_execute; ofproto/ofproto-dpif.c check_masked_set_action/"
       "check_trunc_action (an action is supported when executing it does not fail with EINVAL)"),
    # --- probing and legacy behaviour
    _r("UFID-PROBE-001", "MUST", "none", "common",
       "probe_ufid agrees with the UFID support the backend declares in features.",
       "ofproto/ofproto-dpif.c check_ufid"),
    _r("UFID-PROBE-002", "MUST", "none", "common",
       "The UFID probe leaves no flow behind.", "lib/dpif.c dpif_probe_feature"),
    _r("UFID-LEGACY-001", "MUST", "legacy", "common",
       "A datapath without UFID support ignores a supplied UFID: the flow is installed, found and deleted by key "
       "and returned without a UFID.", "lib/dpif-netlink.c (old kernels ignore OVS_FLOW_ATTR_UFID)"),
    _r("UFID-LEGACY-002", "MUST", "legacy", "common",
       "A datapath without UFID support is probed as unsupported and works through key serialisation alone "
       "(put, get, dump and del by key).", "ofproto/ofproto-dpif.c check_ufid"),
    # --- serialisation
    _r("UFID-KEY-001", "MUST", "none", "common",
       "Keys, masks and actions returned by get and dump are well-formed netlink attributes that round-trip: "
       "they describe the installed match and actions.", "lib/odp-util.c odp_flow_key_from_flow/to_flow"),
    _r("UFID-KEY-002", "MUST", "none", "common",
       "Returned keys decode with perfect fitness (no attribute missing or left over).",
       "lib/odp-util.c odp_flow_key_to_flow (ODP_FIT_PERFECT)"),
    _r("UFID-STATE-001", "MUST", "none", "common",
       "Random sequences of put, get, del, dump, flush and traffic give the same outcomes as the reference "
       "datapath in the backend's declared semantics.", "ufidcert reference datapath (differential)"),
    # --- hash and UFID generation
    _r("UFID-HASH-001", "MUST", "hash", "common",
       "The backend's hash_bytes128 equals MurmurHash3 (x64_128 byte output) on the shipped vectors and "
       "random inputs.", "lib/hash.c hash_bytes128"),
    _r("UFID-GEN-001", "MUST", "none", "netdev",
       "A flow installed without a UFID is given an RFC 4122 version-4 UFID (generated from its key).",
       "lib/odp-util.c odp_flow_key_hash; lib/uuid.c uuid_set_bits_v4"),
)  # fmt: skip


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
        "Generated from `conformance/requirements.py` by `ufidcert requirements --markdown`; do not edit by hand.",
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
