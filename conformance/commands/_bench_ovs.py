"""``ufidcert bench --backend netdev``: the REAL ovs-vswitchd revalidator's rounds, terse vs full."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from conformance.commands._bench_common import Progress, frame_for, per_flow, rss_bytes
from conformance.errors import ConformanceError, UsageError

__all__ = ["OVS_CHURN_NOTE", "OVS_SAMPLES_PER_BLOCK", "measure_ovs_revalidation"]

OVS_SAMPLES_PER_BLOCK = 5
OVS_CHURN_NOTE = (
    "not measured with --backend netdev: the churn figure simulates our own udpif, which needs upcalls and "
    "terse dumps that dpctl cannot give; run without --backend for it"
)


def measure_ovs_revalidation(
    flows: int = 40_000,
    *,
    blocks: int = 3,
    samples: int = OVS_SAMPLES_PER_BLOCK,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Time the REAL ovs-vswitchd's revalidation rounds over ``flows`` idle flows, terse vs full.

    The by-hand set-up of docs/performance.md, automated: a private netdev bridge
    (one revalidator, megaflows off, flows made by upcalls one packet at a
    time), then ``blocks`` alternating blocks per mode; each block switches
    the mode (``upcall/enable-ufid`` / ``upcall/disable-ufid``), lets the
    round in flight finish, then reads ``upcall/show``'s dump duration after
    each of ``samples`` rounds. Figures are medians over all samples of a
    mode. Needs root and Open vSwitch (see ``ufidcert backends``).
    """
    from conformance.backends._ovs_bridge import RevalidatorBridge

    if flows < 1 or blocks < 1 or samples < 1:
        raise UsageError(f"flows, blocks and samples must be >= 1, got {flows}, {blocks}, {samples}")
    prog = progress if progress is not None else Progress(enabled=False)
    prog.update("starting a private ovs-vswitchd with a netdev bridge", force=True)
    with RevalidatorBridge() as br:
        vswitchd = br.ovs.pids.get("ovs-vswitchd")
        rss_before = rss_bytes(vswitchd) if vswitchd else None
        started = time.perf_counter()
        for i in range(flows):
            br.receive(frame_for(i))
            if i % 1024 == 0:
                prog.update("installing flows through ovs-vswitchd's handlers", i, flows)
        inject_s = time.perf_counter() - started
        # Handlers install asynchronously; wait until the flow count stops growing.
        status = br.show()
        for _ in range(20):
            br.wait_round()
            now = br.show()
            if now.current == status.current and now.current >= flows:
                break
            status = now
        status = br.show()
        installed = status.current
        rss_after = rss_bytes(vswitchd) if vswitchd else None
        # Where missing flows went: the datapath's own counters (dpctl/show "lookups: hit:N missed:N lost:N").
        lookups = _lookups(br.ovs.appctl("dpctl/show", "netdev@ovs-netdev"))
        if installed < 1:
            raise ConformanceError(f"ovs-vswitchd installed no flow for {flows} packets (upcalls lost?)")
        times: dict[bool, list[int]] = {True: [], False: []}
        block_medians: list[dict[str, Any]] = []
        for b in range(blocks):
            for terse in (True, False) if b % 2 == 0 else (False, True):
                br.set_terse(terse)
                # The round in flight may have started in the other mode: let it finish unsampled.
                br.wait_round()
                got: list[int] = []
                for _ in range(samples):
                    br.wait_round()
                    st = br.show()
                    if st.ufid_enabled != terse:
                        raise ConformanceError(
                            f"upcall/show says 'ufid enabled : {str(st.ufid_enabled).lower()}' after switching "
                            f"dumps to {'terse' if terse else 'full'}: the datapath lacks UFID support?"
                        )
                    got.append(st.dump_duration_ms)
                times[terse].extend(got)
                block_medians.append({"mode": "terse" if terse else "full", "median_ms": statistics.median(got)})
            prog.update(f"timing ovs-vswitchd rounds at {installed} flows", b + 1, blocks, force=not prog.tty)
        br.set_terse(True)
        final = br.show()
        version = br.version.rsplit(" ", 1)[-1] if br.version else "unknown"
    terse_ms, full_ms = statistics.median(times[True]), statistics.median(times[False])
    prog.done(f"ovs-vswitchd revalidation measured at {installed} flows")
    return {
        "flows": installed,
        "terse_ms": terse_ms,
        "full_ms": full_ms,
        "ratio": round(terse_ms / full_ms, 3),
        "source": f"ovs-vswitchd {version} revalidator (upcall/show dump duration)",
        "datapath": f"ovs-vswitchd {version}, netdev bridge, dummy ports, megaflows off, 1 revalidator",
        "requested_flows": flows,
        "flows_after_timing": final.current,
        "blocks_per_mode": blocks,
        "samples_per_block": samples,
        "resolution_ms": 1,
        "terse_rounds_ms": times[True],
        "full_rounds_ms": times[False],
        "blocks": block_medians,
        "packets_per_s": round(flows / inject_s) if inject_s else None,
        "datapath_lookups": lookups,
        # ovs-vswitchd's resident memory growth while the flows were installed (datapath flows, ukeys, ...).
        "rss_bytes_per_flow": per_flow(rss_before, rss_after, installed),
    }


def _lookups(dpctl_show: str) -> dict[str, int]:
    m = re.search(r"lookups: hit:(\d+) missed:(\d+) lost:(\d+)", dpctl_show)
    return {} if m is None else {"hit": int(m.group(1)), "missed": int(m.group(2)), "lost": int(m.group(3))}
