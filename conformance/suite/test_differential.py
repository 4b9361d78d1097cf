"""UFID-STATE-001: the backend against ReferenceDatapath, operation by operation.

A hypothesis RuleBasedStateMachine applies the same random put/get/del/
dump/flush/inject sequence to the backend under test and to the reference
in the backend's declared semantics, and compares every outcome (success
or errno; returned flows as normalised matches; statistics). The pools of
keys, masks and UFIDs are small on purpose, so that sequences collide
(duplicates, overlaps, modify, delete of absent flows) within a few steps.
On failure the shrunk sequence is attached to the report as a runnable
Python snippet and as ``ovs-appctl dpctl/...`` commands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import hypothesis
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.plugin import BackendSession, is_infrastructure_error
from conformance.suite._flows import NormFlow, eth_frame, eth_key, eth_mask, normalise, output, ufid_n
from conformance.suite._helpers import has, requirement, traffic_port
from conformance.suite._reproducer import Step, render_dpctl, render_python
from conformance.suite._settings import machine_settings
from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif, DpifError, DpifFlow, FlowStats, PutFlags
from reference.errors import UfidcertError
from reference.odp.extract import extract_key
from reference.odp.match import Match
from reference.ufid import Ufid

_SRCS = st.integers(1, 4)
_DSTS = st.sampled_from([5, 6])
_MASKS = st.sampled_from(["exact", "no-dst", "no-src", "none"])
_ACTIONS = st.sampled_from([2, 3, 0])
_UFIDS = st.one_of(st.none(), st.integers(1, 4).map(ufid_n))
_FLAGS = st.sampled_from(
    [
        PutFlags.CREATE,
        PutFlags.CREATE,
        PutFlags.MODIFY,
        PutFlags.CREATE | PutFlags.MODIFY,
        PutFlags.MODIFY | PutFlags.ZERO_STATS,
    ]
)
# Puts aimed at an installed flow: mostly the modify variants (CREATE alone must fail with EEXIST).
_AGAIN_FLAGS = st.sampled_from(
    [PutFlags.MODIFY, PutFlags.MODIFY | PutFlags.ZERO_STATS, PutFlags.CREATE | PutFlags.MODIFY, PutFlags.CREATE]
)
_POOL = {ufid_n(n) for n in range(1, 5)}


def _mask(kind: str) -> bytes | None:
    return {
        "exact": eth_mask(),
        "no-dst": eth_mask(dst=False),
        "no-src": eth_mask(src=False),
        "none": None,
    }[kind]


class DifferentialMachine(RuleBasedStateMachine):
    """Backend under test vs ReferenceDatapath; subclassed per run with ``session`` set."""

    session: ClassVar[BackendSession]
    broken: ClassVar[DpifError | None] = None  # the infrastructure error that ended the run, if any

    def __init__(self) -> None:
        super().__init__()
        self.dut: Dpif = self.session.fresh()
        semantics = self.session.semantics
        self.model = ReferenceDatapath(
            semantics="netdev" if semantics == "netdev" else "kernel", ufid_support=has(self.session, "ufid")
        )
        self.terse_ok = has(self.session, "terse")
        # lib/dpif.h struct dpif_flow_get has no terse flag: a backend reached through
        # OVS's dpif API declares terse_get false and is only asked for full gets.
        self.terse_get_ok = has(self.session, "terse_get")
        # A backend whose access path always supplies a UFID (features.ufidless_put)
        # cannot send a put without one: such puts carry one of the pool's UFIDs.
        self.ufidless_ok = has(self.session, "ufidless_put")
        self.ports: list[int] = []
        port = traffic_port(self.session)
        if port is not None:
            ports = [port]
            self.dut = self.session.fresh()
            # The keys carry in_port, so both datapaths must number the port alike.
            if [self.model.port_add(f"m{i}") for i in range(len(ports))] == ports:
                self.ports = ports
        self.upcalls_ok = bool(self.ports) and has(self.session, "upcalls")
        self.steps: list[Step] = []
        self.failure = ""

    def _port(self) -> int:
        return self.ports[0] if self.ports else 1

    def _norm(self, f: DpifFlow) -> NormFlow:
        # Generated UFIDs (netdev, flows put without one) differ between datapaths: compare only ours.
        return normalise(f, with_ufid=f.ufid in _POOL)

    def _run(self, step: Step, call: Callable[[Dpif], Any], view: Callable[[Any], object]) -> bool:
        outcomes = []
        for dp in (self.dut, self.model):
            try:
                outcomes.append(("ok", view(call(dp))))
            except DpifError as exc:
                if is_infrastructure_error(exc):
                    type(self).broken = exc
                    raise
                outcomes.append(("errno", exc.errno))
        got, want = outcomes
        self.steps.append(dataclasses.replace(step, outcome=_short(got)))
        if got != want:
            self.failure = (
                f"step {len(self.steps) - 1} ({step.op}): backend gave {_short(got)}, reference {_short(want)}"
            )
            raise AssertionError(self.failure + f"\n  backend:   {got}\n  reference: {want}")
        return got[0] == "ok"

    # Flows the backend accepted: (src, dst, mask kind, ufid). Rules drawing from it aim at live
    # flows (modify, traffic, get, del), so that multi-step defects are reached in few examples.
    installed = Bundle("installed")

    def _put(  # noqa: PLR0917 - mirrors flow_put's arguments
        self,
        src: int,
        dst: int,
        mask: str,
        out: int,
        ufid: Ufid | None,
        flags: PutFlags,
    ) -> bool:
        key, m, acts = eth_key(self._port(), src, dst), _mask(mask), output(out) if out else b""
        return self._run(
            Step("put", key=key, mask=m, actions=acts, ufid=ufid, flags=int(flags)),
            lambda dp: dp.flow_put(key, m, acts, ufid=ufid, flags=flags),
            _stats,
        )

    @rule(target=installed, src=_SRCS, dst=_DSTS, mask=_MASKS, out=_ACTIONS, ufid=_UFIDS, flags=_FLAGS)
    def put(self, *, src: int, dst: int, mask: str, out: int, ufid: Ufid | None, flags: PutFlags) -> Any:
        if ufid is None and not self.ufidless_ok:
            ufid = ufid_n(src)
        if self._put(src, dst, mask, out, ufid, flags):
            return (src, dst, mask, ufid)
        return multiple()

    @rule(flow=installed, out=_ACTIONS, flags=_AGAIN_FLAGS, traffic=st.integers(0, 2))
    def put_again(self, *, flow: tuple[int, int, str, Ufid | None], out: int, flags: PutFlags, traffic: int) -> None:
        # Traffic first, so that the statistics a modify keeps, returns or zeroes are not all zero.
        src, dst, mask, ufid = flow
        if self.ports:
            for _ in range(traffic):
                self.inject(src=src, dst=dst, size=64)
        self._put(src, dst, mask, out, ufid, flags)

    @precondition(lambda self: bool(self.ports))
    @rule(flow=installed, count=st.integers(1, 3), size=st.sampled_from([60, 61, 200]))
    def hit(self, *, flow: tuple[int, int, str, Ufid | None], count: int, size: int) -> None:
        src, dst, _, _ = flow
        for _ in range(count):
            self.inject(src=src, dst=dst, size=size)

    @rule(flow=installed, terse=st.booleans())
    def get_installed(self, *, flow: tuple[int, int, str, Ufid | None], terse: bool) -> None:
        src, dst, _, ufid = flow
        self.get(src=src, dst=dst, ufid=ufid, by="both" if ufid is not None else "key", terse=terse)

    @rule(flow=installed, terse=st.booleans(), traffic=st.integers(0, 2))
    def del_installed(self, *, flow: tuple[int, int, str, Ufid | None], terse: bool, traffic: int) -> None:
        src, dst, _, ufid = flow
        if self.ports:  # traffic first: the final statistics del returns are then not all zero
            for _ in range(traffic):
                self.inject(src=src, dst=dst, size=64)
        self.delete(src=src, dst=dst, ufid=ufid, by="both" if ufid is not None else "key", terse=terse)

    @rule(src=_SRCS, dst=_DSTS, ufid=_UFIDS, by=st.sampled_from(["ufid", "key", "both"]), terse=st.booleans())
    def get(self, *, src: int, dst: int, ufid: Ufid | None, by: str, terse: bool) -> None:
        key = None if by == "ufid" and ufid is not None else eth_key(self._port(), src, dst)
        u = None if by == "key" else ufid
        t = terse and self.terse_get_ok
        self._run(Step("get", key=key, ufid=u, terse=t), lambda dp: dp.flow_get(ufid=u, key=key, terse=t), self._norm)

    @rule(src=_SRCS, dst=_DSTS, ufid=_UFIDS, by=st.sampled_from(["ufid", "key", "both"]), terse=st.booleans())
    def delete(self, *, src: int, dst: int, ufid: Ufid | None, by: str, terse: bool) -> None:
        key = None if by == "ufid" and ufid is not None else eth_key(self._port(), src, dst)
        u = None if by == "key" else ufid
        t = terse and self.terse_ok
        self._run(Step("del", key=key, ufid=u, terse=t), lambda dp: dp.flow_del(ufid=u, key=key, terse=t), _stats)

    @rule(terse=st.booleans())
    def dump(self, terse: bool) -> None:
        t = terse and self.terse_ok
        self._run(
            Step("dump", terse=t),
            lambda dp: list(dp.flow_dump(terse=t)),
            lambda flows: sorted(map(self._norm, flows), key=NormFlow.sort_key),
        )

    @rule(now=st.integers(0, 3))
    def flush(self, *, now: int) -> None:
        if now == 0:  # a flush a quarter of the times it is drawn: tables get a chance to fill up
            self._run(Step("flush"), lambda dp: dp.flow_flush(), lambda _: None)

    @precondition(lambda self: bool(self.ports))
    @rule(src=st.integers(1, 5), dst=_DSTS, size=st.sampled_from([60, 61, 200]))
    def inject(self, *, src: int, dst: int, size: int) -> None:
        frame = eth_frame(src, dst, size=size)
        port = self._port()
        if self._hits_overlapping_flows(frame, port):
            return
        self._run(Step("inject", port=port, packet=frame), lambda dp: dp.inject(port, frame), lambda _: None)
        if self.upcalls_ok:  # a miss queues an upcall on both, a hit on neither
            self._run(
                Step("upcalls"),
                lambda dp: dp.recv_upcalls(64),
                lambda ups: [(u.packet, u.in_port) for u in ups],
            )

    def _hits_overlapping_flows(self, frame: bytes, port: int) -> bool:
        """True when the frame matches more than one installed flow.

        Overlapping flows are legal (the kernel's duplicate check on NEW is
        one packet-style lookup of the request key), but which of them a
        packet hits is not specified: the kernel tries its masks in an order
        it re-sorts by usage (flow_table.c ovs_flow_masks_rebalance) and
        caches per CPU, dpif-netdev ranks subtables by hits. Such a frame
        would make the compared statistics depend on that order, so it is
        not sent.
        """
        try:
            key = extract_key(frame, port)
        except UfidcertError:
            return False
        hits = 0
        for f in self.model.flow_dump():
            if f.key is not None and Match.from_netlink(f.key, f.mask).matches(key):
                hits += 1
        return hits > 1

    @invariant()
    def tables_agree(self) -> None:
        # A full dump after every step: a divergence is caught where it happens, not when a later
        # rule happens to look at the flow (the dump is logged only when it differs).
        # Compared as flows (the raw bytes they print are evidence, not part of the comparison).
        flows = [sorted(map(self._norm, dp.flow_dump()), key=NormFlow.sort_key) for dp in (self.dut, self.model)]
        if flows[0] != flows[1]:
            self._run(
                Step("dump"),
                lambda dp: list(dp.flow_dump()),
                lambda fl: sorted(map(self._norm, fl), key=NormFlow.sort_key),
            )

    def teardown(self) -> None:
        # Runs after every example; after the final (shrunk) replay of a failure this is what is reported.
        if self.failure:
            st = self.session
            text = render_python(
                self.steps, spec=st.spec, options=st.options, failure=self.failure, ports=len(self.ports)
            )
            text += "\n" + render_dpctl(self.steps)
            st.record_reproducer(text)
            print(text)
        self.model.close()


def _stats(s: FlowStats) -> tuple[int, int, bool, int]:
    return (s.n_packets, s.n_bytes, s.used_ms != 0, s.tcp_flags)


def _short(outcome: tuple[str, object]) -> str:
    kind, value = outcome
    if kind == "errno":
        import errno

        return errno.errorcode.get(int(value), str(value))  # type: ignore[call-overload]
    text = " ".join(repr(value).split())  # one line (flows print one field per line)
    return "ok" if value is None else f"ok {text[:160]}{'...' if len(text) > 160 else ''}"


# Older hypothesis releases leave run_state_machine_as_test unannotated; a
# typed alias keeps mypy --strict quiet with old and new releases alike.
_run_machine: Callable[..., None] = run_state_machine_as_test


@requirement("UFID-STATE-001")
def test_differential_against_reference(dpif_session: BackendSession) -> None:
    dpif_session.open()
    if dpif_session.semantics not in ("kernel", "netdev"):
        pytest.skip(
            f"not applicable: UFID-STATE-001 the reference models kernel and netdev semantics, "
            f"the backend declares {dpif_session.semantics}"
        )
    machine: type[DifferentialMachine] = type(
        "DifferentialMachine", (DifferentialMachine,), {"session": dpif_session, "broken": None}
    )
    if dpif_session.seed:
        # --dpif-seed: the machine draws from the forced seed as every property does (the plugin seeds those).
        machine = hypothesis.seed(dpif_session.seed)(machine)
    try:
        _run_machine(machine, settings=machine_settings())
    except Exception:
        # A backend that went away makes hypothesis's replays differ (FlakyStrategyDefinition,
        # Flaky...): report the backend's own error, an error of the run, not a failed requirement.
        if machine.broken is not None:
            raise machine.broken from None
        raise
