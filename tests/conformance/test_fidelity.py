"""The reference's netlink endpoint against the real Linux datapath: recorded (always) and live (QEMU guest).

The recorded corpus (fixtures/kernel-6.1-flow-replies.json) holds only
what the kernel answered; fixtures/make_kernel_flow_corpus.py regenerates it.
The live test draws new request sequences and sends them to a Linux 6.1
guest through the kernel backend; CI runs it (UFIDCERT_STRICT=1 fails
instead of skipping when QEMU is missing).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from conformance import fidelity
from conformance.backends import _qemu
from conformance.backends.kernel import KernelDpif, kernel
from conformance.errors import ConformanceError
from conformance.strategies import flow_request_cases
from reference import datapath as datapath_module
from reference._netlink import iter_attrs, pack_attr
from reference.uapi import FlowAttr, KeyAttr, NlmFlag, NlmsgType
from tests._support import require

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "kernel-6.1-flow-replies.json"
# The same generator against Debian trixie's Linux 6.12 (docs/dpif-contract.md, "Linux 6.12").
CORPUS_612 = CORPUS.with_name("kernel-6.12-flow-replies.json")
LIVE_EXAMPLES = int(os.environ.get("UFIDCERT_FIDELITY_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def corpus() -> fidelity.Corpus:
    return fidelity.load_corpus(CORPUS)


def _kind(request: bytes) -> str:
    cmd = request[16]
    flags = struct.unpack_from("=H", request, 6)[0]
    return "dump" if flags & NlmFlag.DUMP == NlmFlag.DUMP else str(cmd)


def test_corpus_is_large_recorded_from_linux_61_and_covers_every_command(corpus: fidelity.Corpus) -> None:
    assert corpus.n_pairs >= 2000
    assert corpus.kernel.startswith("6.1.")
    kinds = {_kind(x.request) for case in corpus.cases for x in case}
    assert {"1", "2", "3", "4", "dump"} <= kinds  # NEW, DEL, GET, SET, dump
    replies = [x.reply for case in corpus.cases for x in case if x.reply]
    types = {struct.unpack_from("=H", r, 4)[0] for r in replies}
    assert {int(NlmsgType.ERROR), int(NlmsgType.DONE), corpus.framing.family_id} <= types


def test_replay_finds_no_difference(corpus: fidelity.Corpus) -> None:
    diffs = list(fidelity.replay(corpus))
    assert not diffs, f"{len(diffs)} of {corpus.n_pairs} replies differ; first:\n{diffs[0]}"


def test_linux_612_answers_these_requests_as_the_61_endpoint_does() -> None:
    # The endpoint follows Linux 6.1; this recording from 6.12 shows that the
    # generated request space does not reach what changed up to 6.12 (new
    # actions: docs/dpif-contract.md lists them and why they are not followed).
    corpus = fidelity.load_corpus(CORPUS_612)
    assert corpus.kernel.startswith("6.12.")
    assert corpus.n_pairs >= 2000
    diffs = list(fidelity.replay(corpus))
    assert not diffs, f"{len(diffs)} of {corpus.n_pairs} replies differ; first:\n{diffs[0]}"


def _flip_first_key_byte(attrs: bytes) -> bytes:
    """The reply attributes with one byte of the ETHERNET key attribute changed."""
    out = bytearray(attrs)
    for t, p, off in iter_attrs(attrs, where="reply"):
        if t != FlowAttr.KEY:
            continue
        for kt, kp, koff in iter_attrs(p, where="key", base=off + 4):
            if kt == KeyAttr.ETHERNET and kp:
                out[koff + 4] ^= 0x01
                return bytes(out)
    return attrs


def test_replay_catches_one_wrong_key_byte(corpus: fidelity.Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    original = datapath_module.FlowInfo.attrs

    def wrong(self: datapath_module.FlowInfo) -> list[tuple[int, bytes]]:
        out = []
        for t, p in original(self):
            out.append((t, _flip_first_key_byte(pack_attr(t, p))[4:] if t == FlowAttr.KEY else p))
        return out

    monkeypatch.setattr(datapath_module.FlowInfo, "attrs", wrong)
    diffs = list(fidelity.replay(corpus))
    assert diffs, "a reply with one wrong key byte went unnoticed"
    assert all("differs from byte" in d.what for d in diffs)


def test_replay_catches_a_wrong_errno(corpus: fidelity.Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    from reference import flow_netlink

    original = flow_netlink.FlowNetlinkEndpoint._error

    def wrong(self: flow_netlink.FlowNetlinkEndpoint, msg: flow_netlink.NetlinkMessage, code: int) -> bytes:
        return original(self, msg, 95 if code == 22 else code)  # EINVAL answered as EOPNOTSUPP

    monkeypatch.setattr(flow_netlink.FlowNetlinkEndpoint, "_error", wrong)
    diffs = list(fidelity.replay(corpus))
    assert any("errno 22 from the kernel, 95 from the endpoint" in d.what for d in diffs)


def test_normalise_drops_used_only() -> None:
    framing = fidelity.Framing(0x22, 5, 77)
    (req,) = fidelity.frame_case([(3, 0x05, b"")], framing, 9).requests
    body = req[16:24]
    used = struct.pack("=HHQ", 12, FlowAttr.USED, 1234)
    stats = struct.pack("=HH", 20, FlowAttr.STATS) + struct.pack("=QQ", 1, 60)
    msg = struct.pack("=IHHII", 16 + 8 + len(used) + len(stats), 0x22, 0, 9, 77) + body + used + stats
    (norm,) = fidelity.normalise(msg)
    assert struct.pack("=HH", 12, FlowAttr.USED) not in norm
    assert stats in norm and struct.unpack_from("=I", norm)[0] == len(norm)


def test_load_corpus_rejects_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ConformanceError, match="not a ufidcert-kernel-flow-corpus"):
        fidelity.load_corpus(bad)
    bad.write_text("{")
    with pytest.raises(ConformanceError, match="unreadable"):
        fidelity.load_corpus(bad)


def test_save_and_load_round_trip(tmp_path: Path, corpus: fidelity.Corpus) -> None:
    small = fidelity.Corpus(corpus.kernel, corpus.framing, corpus.cases[:5], {"description": "x"})
    path = tmp_path / "c.json"
    fidelity.save_corpus(path, small)
    again = fidelity.load_corpus(path)
    assert again.cases == small.cases and again.framing == small.framing and again.kernel == small.kernel


# -- live: the same generated requests to the Linux datapath in a QEMU guest -----------


@pytest.fixture(scope="module")
def kernel_peer() -> Iterator[fidelity.KernelPeer]:
    reason = _qemu.unavailable_reason()
    require(reason is None, f"kernel VM: {reason}")
    # The corpus and the endpoint follow Linux 6.1: pin bookworm's kernel whatever the host runs.
    dpif: KernelDpif = kernel(where="vm", kernel="debian:bookworm")
    peer = fidelity.kernel_peer(dpif)
    yield peer
    peer.close()
    dpif.close()


@settings(max_examples=LIVE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=flow_request_cases())
def test_live_kernel_and_endpoint_answer_alike(
    kernel_peer: fidelity.KernelPeer, case: list[tuple[int, int, bytes]]
) -> None:
    framed = fidelity.frame_case(case, kernel_peer.framing, 1)
    _, diffs = fidelity.differential(kernel_peer, [framed])
    assert not diffs, "\n".join(str(d) for d in diffs)
