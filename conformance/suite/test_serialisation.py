"""Key, mask and action serialisation (UFID-KEY-*)."""

from __future__ import annotations

from conformance.plugin import BackendSession
from conformance.suite._flows import (
    FlowSpec,
    actions_text,
    eth_key,
    eth_mask,
    flow_spec,
    flow_text,
    match_of,
    output,
    tcp_key,
    tcp_mask,
)
from conformance.suite._helpers import get_flow, has, install, requirement
from reference.dpif import Dpif, DpifFlow
from reference.ufid import Ufid


def _specs(session: BackendSession) -> list[FlowSpec]:
    ufid = has(session, "ufid")

    def u(n: int) -> Ufid | None:
        return flow_spec(n).ufid if ufid else None

    return [
        FlowSpec(eth_key(1, src=1), None, output(2), u(1)),
        FlowSpec(eth_key(1, src=2, dst=5), eth_mask(dst=False), output(2) + output(3), u(2)),
        FlowSpec(eth_key(2, src=3, dst=5), eth_mask(src=False), b"", u(3)),
        FlowSpec(tcp_key(1, src=4), tcp_mask(), output(4), u(4)),
    ]


def _check(spec: FlowSpec, f: DpifFlow, where: str) -> None:
    assert f.key is not None and f.mask is not None and f.actions is not None, f"{where}: incomplete flow {f}"
    assert match_of(f.key, f.mask) == match_of(spec.key, spec.mask), (
        f"{where}: the returned key/mask match differs: returned {flow_text(f.key, f.mask)} "
        f"(key {f.key.hex()}, mask {f.mask.hex()}), installed {flow_text(spec.key, spec.mask)} "
        f"(key {spec.key.hex()}, mask {spec.mask.hex() if spec.mask is not None else None})"
    )
    assert f.actions == spec.actions, (
        f"{where}: actions {actions_text(f.actions)} ({f.actions.hex()}), "
        f"installed {actions_text(spec.actions)} ({spec.actions.hex()})"
    )


@requirement("UFID-KEY-001")
def test_round_trip(dpif_session: BackendSession, dpif: Dpif) -> None:
    specs = _specs(dpif_session)
    for spec in specs:
        install(dpif, spec)
    for spec in specs:
        _check(spec, get_flow(dpif, spec), "get")
    dumped = list(dpif.flow_dump())
    assert len(dumped) == len(specs)
    for f in dumped:
        assert f.actions is not None
        match = [s for s in specs if s.actions == f.actions]
        assert match, f"dump returned actions {actions_text(f.actions)} ({f.actions.hex()}) never installed"
        _check(match[0], f, "dump")


@requirement("UFID-KEY-002")
def test_returned_keys_fit_perfectly(dpif_session: BackendSession, dpif: Dpif) -> None:
    from reference.odp import decode_key

    for spec in _specs(dpif_session):
        install(dpif, spec)
    for f in dpif.flow_dump():
        assert f.key is not None and f.mask is not None
        decode_key(f.key, where="returned key")  # raises OdpDecodeError naming the attribute
        decode_key(f.mask, where="returned mask")
        try:
            from reference.odp import KeyFitness, key_fitness

            fit = key_fitness(f.key)
        except NotImplementedError:
            continue
        assert fit is KeyFitness.PERFECT, f"returned key fitness {fit}"
