"""What is not a mutant and why, and the review of every requirement's level against what ovs-vswitchd relies on."""

from __future__ import annotations

from conformance.mutants._mutant import IDLE, PUSH, REVAL, UKEY

__all__ = ["LEVELS", "NOT_MUTANTS"]

NOT_MUTANTS: tuple[tuple[str, str], ...] = (
    (
        "a flow delivered twice in one dump",
        "harmless to ovs-vswitchd: ofproto/ofproto-dpif-upcall.c revalidate() skips a flow whose ukey->dump_seq "
        "already equals the current dump_seq (coverage counter dumped_duplicate_flow), because the kernel itself "
        "may repeat flows when its table is rehashed during a dump. UFID-DUMP-009 still reports it (SHOULD).",
    ),
    (
        "a flow added during a dump is (or is not) returned by that dump",
        "both are correct: flows installed after dpif_flow_dump_create may or may not be seen "
        "(net/openvswitch/flow_table.c ovs_flow_tbl_dump_next walks live buckets); revalidate() handles new "
        "ukeys in the next round.",
    ),
    (
        "a flow deleted during a dump is still returned by it",
        "harmless: revalidate() then fails to delete it with ENOENT, which push_dp_ops ignores; the kernel's "
        "multipart dump (one skb filled per recv) does the same.",
    ),
    (
        "32-bit n_bytes or n_packets counters that wrap",
        "harmful (revalidate_ukey pushes negative deltas clamped to 0), but only observable after 2^32 bytes "
        "of injected traffic, out of reach of an in-process certification; listed so it is not forgotten.",
    ),
    (
        "execute drops the packet instead of applying the actions",
        "harmful, but the Dpif contract has no way to observe a port's transmit queue; backends are "
        "cross-checked on packet output by their own test suites (tests/reference/test_datapath.py).",
    ),
)


# Every requirement's level, and why (what ovs-vswitchd does with the behaviour).
LEVELS: dict[str, str] = {
    "UFID-SMOKE-001": "MUST: nothing else can be checked without put/get/del.",
    "UFID-ID-001": f"MUST: {UKEY}; a get reply with another UFID finds no ukey.",
    "UFID-ID-002": f"MUST: {REVAL} looks every dumped flow up by its UFID.",
    "UFID-ID-003": f"MUST: {UKEY} hashes and compares all 128 bits.",
    "UFID-ID-004": "MUST: one ukey per UFID (ukey_install fails on a duplicate); a second flow is never revalidated.",
    "UFID-LEN-001": "MUST: the kernel's contract (flow_netlink.c ovs_nla_get_identifier), used by other callers.",
    "UFID-LEN-002": "MUST: kernel flow_policy rejects 0-byte UFIDs; accepting them hides caller bugs.",
    "UFID-LEN-003": "MUST: kernel ovs_nla_get_ufid ignores over-long UFIDs; key lookups must still find the flow.",
    "UFID-LEN-004": "MUST: lib/dpif-netlink.c sends ovs_u128 in host order; both forms must address one flow.",
    "UFID-GET-001": "MUST: ENOENT is how ukey_install and push_dp_ops learn a flow is gone.",
    "UFID-GET-002": "MUST: lib/dpif.h; revalidator deletes pass both UFID and key.",
    "UFID-GET-003": "MUST: kernel ovs_flow_cmd_get/del; a key delete must not remove a flow OVS tracks by UFID.",
    "UFID-GET-004": "MUST: legacy datapaths and dpctl address flows by key.",
    "UFID-GET-005": "MUST: ENOENT means 'no flow' to every caller.",
    "UFID-GET-006": "MUST: kernel ovs_flow_cmd_get returns EINVAL; anything else is a different API.",
    "UFID-GET-007": "MUST: dpif-netdev hashes the key into the UFID (dpctl by key relies on it).",
    "UFID-PUT-001": "MUST: handle_upcalls installs flows with CREATE and credits the returned stats.",
    "UFID-PUT-002": "MUST: revalidate modifies flows it believes installed; ENOENT reports the race.",
    "UFID-PUT-003": "MUST: EEXIST tells a handler another thread installed the flow.",
    "UFID-PUT-004": "MUST: modify_op_init changes actions; revalidate_ukey relies on cumulative stats.",
    "UFID-PUT-005": "MUST: the kernel's OVS_FLOW_ATTR_CLEAR contract (dpctl/mod-flow --clear).",
    "UFID-PUT-006": "MUST: dpif-netdev's documented behaviour (flow_put_on_pmd).",
    "UFID-PUT-007": "MUST: dpif_probe_feature puts with CREATE|MODIFY.",
    "UFID-PUT-008": "MUST: a rejected put must leave the table unchanged (handle_upcalls retries).",
    "UFID-DUP-001": "MUST: kernel ovs_flow_cmd_new; overlapping flows make the hit flow unspecified.",
    "UFID-DUP-002": "MUST: kernel ovs_flow_cmd_new; ukey_install relies on EEXIST.",
    "UFID-DUP-003": "MUST: kernel ovs_flow_cmd_new ('UFID matches but key is different').",
    "UFID-TERSE-001": "MUST: udpif_revalidator dumps tersely; leaked fields cost, missing UFIDs are fatal.",
    "UFID-TERSE-002": f"MUST: {REVAL} replaces full dumps with terse ones.",
    "UFID-TERSE-003": "MUST: dpif_flow_get with terse flags (ukey_revalidate paths).",
    "UFID-TERSE-004": "MUST: push_dp_ops credits terse deletes' final stats.",
    "UFID-TERSE-005": "MUST: a key-identified flow has nothing but its key to be found by.",
    "UFID-DUMP-001": f"MUST: {REVAL} needs every flow; a missed flow never idles out.",
    "UFID-DUMP-002": "MUST: kernel ovs_flow_cmd_fill_match; dpctl and datapath-flow parsing read it.",
    "UFID-DUMP-003": "MUST: dpif-netlink hashes the unmasked key into the UFID of key-identified flows.",
    "UFID-DUMP-004": "MUST: dpif-netdev dp_netdev_flow_to_dpif_flow.",
    "UFID-DUMP-005": "MUST: tables larger than one batch are normal (flow-limit defaults to 200000).",
    "UFID-DUMP-006": "MUST: ofproto-dpif-upcall.c revalidate() reads dumps through dpif_flow_dump_next in batches "
    "of up to REVALIDATE_MAX_BATCH into a fixed array; a batch of 0 ends the dump.",
    "UFID-DUMP-008": f"MUST: {REVAL} deletes flows between dump batches while handlers install new ones.",
    "UFID-DUMP-009": "SHOULD: revalidate() skips a flow seen twice in one dump (dumped_duplicate_flow).",
    "UFID-DEL-001": "MUST: deleting idle and stale flows is the revalidator's job.",
    "UFID-DEL-002": "MUST: push_dp_ops credits the final stats to OpenFlow rules.",
    "UFID-FLUSH-001": "MUST: dpif_flow_flush at startup and dpctl/del-flows.",
    "UFID-FLUSH-002": "MUST: dpif_netlink_flow_flush sends a DEL with neither key nor UFID.",
    "UFID-STATS-001": "MUST: OpenFlow packet and byte counters come from these.",
    "UFID-STATS-002": "MUST: the idle test uses ukey->created while used is 0.",
    "UFID-STATS-003": "MUST (was SHOULD): xlate_fin_timeout and NetFlow read tcp_flags; the Linux datapath "
    "reports them (kernel 6.1 passes).",
    "UFID-STATS-004": f"MUST: {PUSH} mixes get, dump and delete stats.",
    "UFID-STATS-005": f"MUST: {IDLE} compares used with time_msec() in milliseconds.",
    "UFID-STATS-006": f"MUST: {IDLE}: used must be on the datapath host's CLOCK_MONOTONIC, like time_msec().",
    "UFID-STATS-007": f"MUST: {REVAL}, push_dp_ops and dpif_flow_get each read stats from a different reply kind.",
    "UFID-MASK-001": "MUST: megaflows are the datapath's reason to exist.",
    "UFID-UPCALL-001": "MUST: handlers install flows from upcalls (packet, key, in_port).",
    "UFID-UPCALL-002": "MUST: odp_flow_key_to_flow of the upcall key must give the packet's flow.",
    "UFID-OP-001": "MUST: push_dp_ops reads each op's own result.",
    "UFID-OP-002": "MUST: handle_upcalls relies on put-then-execute order within a batch.",
    "UFID-EXEC-001": "MUST (was SHOULD): handle_upcalls executes every missed packet, and ofproto-dpif.c "
    "check_trunc_action and its siblings take EINVAL from an execute as 'feature unsupported' (kernel semantics); "
    "the Linux datapath 6.1 passes.",
    "UFID-PROBE-001": "MUST: check_ufid's answer decides whether OVS sends UFIDs at all.",
    "UFID-PROBE-002": "MUST: a probe flow left behind would match real traffic.",
    "UFID-LEGACY-001": "MUST: OVS sends UFIDs to old kernels too; they must be ignored harmlessly.",
    "UFID-LEGACY-002": "MUST: check_ufid must say no so that OVS uses keys.",
    "UFID-KEY-001": "MUST: dumps are parsed back into flows (odp_flow_key_to_flow) by dpctl and revalidate_ukey.",
    "UFID-KEY-002": "MUST: a fitness other than ODP_FIT_PERFECT makes revalidate_ukey delete the flow.",
    "UFID-STATE-001": "MUST: the reference encodes the kernel and dpif-netdev contracts as sequences.",
    "UFID-HASH-001": "MUST: UFIDs are hash_bytes128 of the key; another hash gives other UFIDs.",
    "UFID-GEN-001": "MUST: dpif-netdev generates version-4 UFIDs (odp_flow_key_hash).",
}
