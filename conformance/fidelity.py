"""Byte-for-byte differential of :class:`reference.flow_netlink.FlowNetlinkEndpoint` against the Linux datapath.

The same request bytes go to the real openvswitch module (through the
kernel backend's transport: this host's kernel or the QEMU guest's relay)
and to the reference's sans-I/O endpoint over a fresh kernel-semantics
:class:`~reference.datapath.ReferenceDatapath`; every reply message must be
the same bytes. What is compared:

* every netlink message answering a request, grouped by the request's
  ``nlmsg_seq`` (flow messages, NLMSG_ERROR with errno or 0, NLMSG_DONE);
* inside flow messages, ``OVS_FLOW_ATTR_USED`` is left out on both sides
  (it is a timestamp); STATS and TCP_FLAGS are compared (nothing forwards
  packets here, so both sides send none);
* the NLMSG_ERROR header flags, so NLM_F_ACK_TLVS (extended-ack TLVs present)
  and NLM_F_CAPPED are compared too.

A case is a short request sequence on an empty table
(:func:`conformance.strategies.flow_request_cases`). The kernel side runs many
cases per relay round trip: ``flush, case 1, flush, case 2, ..., NOOP`` in
one ``send()``; the kernel answers the messages of one send in order, and
the final ``NLMSG_NOOP`` with NLM_F_ACK (acked by netlink_rcv_skb for any
control message) marks the end. A recorded corpus (:func:`save_corpus`,
:func:`load_corpus`) replays the kernel's answers without a kernel.
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from conformance.errors import ConformanceError
from reference._netlink import NLMSGHDR, iter_attrs, pack_attr
from reference.datapath import ReferenceDatapath
from reference.errors import OdpDecodeError
from reference.flow_netlink import FlowNetlinkEndpoint, NetlinkMessage, split_messages
from reference.uapi import OVS_FLOW_VERSION, FlowAttr, FlowCmd, NlmFlag, NlmsgType

if TYPE_CHECKING:
    from conformance.backends.kernel import KernelDpif

__all__ = [
    "CORPUS_FORMAT",
    "Case",
    "Corpus",
    "Difference",
    "Exchange",
    "Framing",
    "KernelPeer",
    "Peer",
    "ReferencePeer",
    "compare_case",
    "differential",
    "frame_case",
    "frame_cases",
    "generate",
    "kernel_peer",
    "load_corpus",
    "normalise",
    "replay",
    "save_corpus",
]

CORPUS_FORMAT = "ufidcert-kernel-flow-corpus/1"
_GENL_OVS = struct.Struct("=BBHi")
_GENL_HDRS = 16 + 4 + 4
_USED = int(FlowAttr.USED)
# Request bytes per kernel round trip (flush + requests of several cases).
# The kernel queues every answer of one send() on the socket before the relay
# reads any, and the receive buffer is capped by net.core.rmem_max (~208 KiB,
# doubled): each answer costs its skb's truesize (a flow reply's skb is sized
# for the largest key, a dump's up to 32 KiB), an overflow loses answers
# (ENOBUFS) or stalls a dump behind later answers. Small batches avoid both.
_BATCH_BYTES = 4 << 10

RawRequest = tuple[int, int, bytes]


@dataclass(frozen=True, slots=True)
class Framing:
    """What frames a request: the ``ovs_flow`` family id, the datapath's ifindex, the socket's port id."""

    family_id: int
    dp_ifindex: int
    pid: int


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request message and every reply message answering it (concatenated), as bytes."""

    request: bytes
    reply: bytes


@dataclass(frozen=True, slots=True)
class Case:
    """Request messages to run, in order, on an empty flow table."""

    requests: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Difference:
    """Where the endpoint's reply differs from the kernel's."""

    case: int
    request: int
    what: str
    request_bytes: bytes
    expected: bytes
    got: bytes

    def __str__(self) -> str:
        return (
            f"case {self.case} request {self.request}: {self.what}\n"
            f"  request  {self.request_bytes.hex()}\n  kernel   {self.expected.hex()}\n  endpoint {self.got.hex()}"
        )


class Peer(Protocol):
    """Something that answers the requests of cases, each on an empty flow table."""

    framing: Framing

    def run(self, cases: Sequence[Case]) -> list[list[Exchange]]: ...


def frame_case(raw: Iterable[RawRequest], framing: Framing, first_seq: int) -> Case:
    """Frame ``(cmd, nlmsg flags, attrs)`` requests with ``framing`` and consecutive sequence numbers."""
    out = []
    for i, (cmd, flags, attrs) in enumerate(raw):
        body = _GENL_OVS.pack(cmd, OVS_FLOW_VERSION, 0, framing.dp_ifindex) + attrs
        out.append(NLMSGHDR.pack(16 + len(body), framing.family_id, flags, first_seq + i, framing.pid) + body)
    return Case(tuple(out))


def _seq(request: bytes) -> int:
    return int(NLMSGHDR.unpack_from(request)[3])


class ReferencePeer:
    """The reference: each case on a fresh kernel-semantics :class:`ReferenceDatapath` behind the endpoint."""

    def __init__(self, framing: Framing) -> None:
        self.framing = framing

    def endpoint(self) -> FlowNetlinkEndpoint:
        """A fresh endpoint (empty table) with this framing's family id and ifindex."""
        return FlowNetlinkEndpoint(
            ReferenceDatapath(semantics="kernel"),
            family_id=self.framing.family_id,
            dp_ifindex=self.framing.dp_ifindex,
        )

    def run(self, cases: Sequence[Case]) -> list[list[Exchange]]:
        out = []
        for case in cases:
            ep = self.endpoint()
            out.append([Exchange(r, ep.handle(r)) for r in case.requests])
        return out


class _Transport(Protocol):
    def open_socket(self) -> tuple[int, int]: ...
    def transact(self, chan: int, seq: int, data: bytes, timeout_s: float) -> bytes: ...
    def close_socket(self, chan: int) -> None: ...


class KernelPeer:
    """The Linux datapath behind a kernel-backend transport, on a datapath the caller owns.

    Requests go out on a socket of this peer's own (its port id is the
    framing's ``pid``); between cases the flow table is flushed
    (OVS_FLOW_CMD_DEL without key or UFID).
    """

    def __init__(self, transport: _Transport, *, family_id: int, dp_ifindex: int, op_timeout_s: float = 120.0) -> None:
        self._t = transport
        self._chan, pid = transport.open_socket()
        self._timeout = op_timeout_s
        self._next_seq = 1 << 20  # far from the sequence numbers the cases use
        self.framing = Framing(family_id, dp_ifindex, pid)

    def _control_seq(self) -> int:
        self._next_seq += 1
        return self._next_seq

    def _flush(self) -> bytes:
        flush = [(int(FlowCmd.DEL), int(NlmFlag.REQUEST | NlmFlag.ACK), b"")]
        return frame_case(flush, self.framing, self._control_seq()).requests[0]

    def _is_dump(self, request: bytes) -> bool:
        _len, mtype, flags, _seq, _pid = NLMSGHDR.unpack_from(request)
        return bool(mtype == self.framing.family_id and flags & NlmFlag.DUMP == NlmFlag.DUMP)

    def run(self, cases: Sequence[Case]) -> list[list[Exchange]]:
        seqs = [_seq(r) for c in cases for r in c.requests]
        if len(set(seqs)) != len(seqs):
            raise ConformanceError("kernel differential: the cases reuse sequence numbers")
        # One stream: flush, case 1, flush, case 2, ... cut into sends of
        # about _BATCH_BYTES. A send ends with NLMSG_NOOP + NLM_F_ACK (its ack
        # ends the answer), or right after a dump request, whose NLMSG_DONE
        # (or error) ends it: a dump bigger than one skb continues only as
        # the socket is read, after the answers to later messages of the send.
        replies: dict[int, list[bytes]] = {}
        segment: list[bytes] = []
        size = 0
        for case in cases:
            for request in (self._flush(), *case.requests):
                segment.append(request)
                size += len(request)
                if self._is_dump(request) or size > _BATCH_BYTES:
                    self._send(segment, replies)
                    segment, size = [], 0
        if segment:
            self._send(segment, replies)
        return [[Exchange(r, b"".join(replies.get(_seq(r), []))) for r in case.requests] for case in cases]

    def _send(self, segment: list[bytes], replies: dict[int, list[bytes]]) -> None:
        data = b"".join(segment)
        if self._is_dump(segment[-1]):
            end = _seq(segment[-1])
        else:
            end = self._control_seq()
            data += NLMSGHDR.pack(16, NlmsgType.NOOP, int(NlmFlag.REQUEST | NlmFlag.ACK), end, self.framing.pid)
        raw = self._t.transact(self._chan, end, data, self._timeout)
        try:
            messages = split_messages(raw, where="kernel reply")
        except OdpDecodeError as exc:
            raise ConformanceError(f"kernel differential: the kernel's answer does not frame: {exc}") from None
        for m in messages:
            replies.setdefault(m.seq, []).append(m.header() + m.payload)

    def close(self) -> None:
        """Close this peer's socket (the datapath stays: its owner deletes it)."""
        with contextlib.suppress(OSError):
            self._t.close_socket(self._chan)


def kernel_peer(dpif: KernelDpif) -> KernelPeer:
    """A :class:`KernelPeer` on the datapath a kernel backend created (it stays the backend's to delete)."""
    # The backend keeps its transport, family id and ifindex private; the
    # differential needs raw access to the very same datapath, nothing else.
    return KernelPeer(dpif._t, family_id=dpif._flow_family, dp_ifindex=dpif._dp_ifindex)


# -- comparison -------------------------------------------------------------------


def _without_used(msg: NetlinkMessage) -> bytes:
    """A flow message with OVS_FLOW_ATTR_USED dropped (header length fixed up); others unchanged."""
    whole = msg.header() + msg.payload
    if msg.type < NlmsgType.MIN_TYPE or len(msg.payload) < _GENL_HDRS - 16:
        return whole
    try:
        attrs = list(iter_attrs(msg.payload[8:], where="reply"))
    except OdpDecodeError:
        return whole
    if all(t != _USED for t, _, _ in attrs):
        return whole
    payload = msg.payload[:8] + b"".join(pack_attr(t, p) for t, p, _ in attrs if t != _USED)
    return NetlinkMessage(msg.type, msg.flags, msg.seq, msg.pid, payload).header() + payload


def normalise(reply: bytes) -> list[bytes]:
    """A reply buffer as the list of its messages, OVS_FLOW_ATTR_USED removed; raw if it does not frame.

    A dump's flow messages are sorted: the kernel walks its flow table's
    hash buckets (flow_table.c ovs_flow_tbl_dump_next), whose order follows
    a per-table random hash seed, so a dump promises no order.
    """
    try:
        out = [_without_used(m) for m in split_messages(reply, where="reply")]
    except OdpDecodeError:
        return [reply]
    if len(out) > 2 and NLMSGHDR.unpack_from(out[-1])[1] == NlmsgType.DONE:
        out[:-1] = sorted(out[:-1])
    return out


def _describe(expected: list[bytes], got: list[bytes]) -> str:
    if len(expected) != len(got):
        return f"{len(expected)} reply message(s) from the kernel, {len(got)} from the endpoint"
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        if e == g:
            continue
        et, gt = NLMSGHDR.unpack_from(e)[1], NLMSGHDR.unpack_from(g)[1] if len(g) >= 16 else -1
        if et == NlmsgType.ERROR and gt == NlmsgType.ERROR and len(e) >= 20 and len(g) >= 20:
            ee, ge = struct.unpack_from("=i", e, 16)[0], struct.unpack_from("=i", g, 16)[0]
            if ee != ge:
                return f"message {i}: errno {-ee} from the kernel, {-ge} from the endpoint"
        first = next((j for j, (a, b) in enumerate(zip(e, g, strict=False)) if a != b), min(len(e), len(g)))
        return f"message {i} (type {et}) differs from byte {first} (lengths {len(e)} and {len(g)})"
    return "replies differ"  # pragma: no cover - equal lists are not reported


def compare_case(index: int, kernel: Sequence[Exchange], endpoint: Sequence[Exchange]) -> list[Difference]:
    """Every request whose normalised replies differ."""
    out = []
    for j, (k, e) in enumerate(zip(kernel, endpoint, strict=True)):
        expected, got = normalise(k.reply), normalise(e.reply)
        if expected != got:
            out.append(Difference(index, j, _describe(expected, got), k.request, k.reply, e.reply))
    return out


# -- the recorded corpus ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corpus:
    """Recorded kernel answers: the framing they were recorded with, the kernel release, the cases."""

    kernel: str
    framing: Framing
    cases: tuple[tuple[Exchange, ...], ...]
    meta: dict[str, Any]

    @property
    def n_pairs(self) -> int:
        """How many request/reply pairs the corpus holds."""
        return sum(len(c) for c in self.cases)


def save_corpus(path: Path, corpus: Corpus) -> None:
    """Write ``corpus`` as JSON (hex strings), one case per line for readable diffs."""
    head = {
        "format": CORPUS_FORMAT,
        **corpus.meta,
        "kernel": corpus.kernel,
        "family_id": corpus.framing.family_id,
        "dp_ifindex": corpus.framing.dp_ifindex,
        "pid": corpus.framing.pid,
        "pairs": corpus.n_pairs,
    }
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "cases": [']
    cases = [json.dumps([[x.request.hex(), x.reply.hex()] for x in case]) for case in corpus.cases]
    lines.append(",\n".join(cases))
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n")


def load_corpus(path: Path) -> Corpus:
    """Read a corpus written by :func:`save_corpus`; a malformed file raises :class:`ConformanceError`."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != CORPUS_FORMAT:
            raise ConformanceError(f"{path}: not a {CORPUS_FORMAT} file (format {doc.get('format')!r})")
        framing = Framing(int(doc["family_id"]), int(doc["dp_ifindex"]), int(doc["pid"]))
        cases = tuple(tuple(Exchange(bytes.fromhex(q), bytes.fromhex(a)) for q, a in case) for case in doc["cases"])
        meta = {k: v for k, v in doc.items() if k not in ("cases", "family_id", "dp_ifindex", "pid", "kernel")}
        return Corpus(str(doc["kernel"]), framing, cases, meta)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConformanceError(f"{path}: unreadable kernel corpus: {exc}") from None


def generate(n: int, *, seed: int = 0, max_requests: int = 5) -> list[list[RawRequest]]:
    """``n`` request sequences drawn from :func:`conformance.strategies.flow_request_cases` (reproducible per seed)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from conformance.strategies import flow_request_cases

    out: list[list[RawRequest]] = []

    @hseed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(flow_request_cases(max_requests=max_requests))
    def collect(case: list[RawRequest]) -> None:
        out.append([(int(c), int(f), bytes(a)) for c, f, a in case])

    collect()
    return out


def frame_cases(raw: Sequence[Sequence[RawRequest]], framing: Framing) -> list[Case]:
    """Frame every case with distinct sequence numbers (1, 2, ...)."""
    out, seq = [], 1
    for case in raw:
        out.append(frame_case(case, framing, seq))
        seq += len(case)
    return out


def differential(kernel: Peer, cases: Sequence[Case]) -> tuple[list[list[Exchange]], list[Difference]]:
    """Run ``cases`` on the kernel and on the reference; the kernel's exchanges and every difference."""
    got_k = kernel.run(cases)
    got_r = ReferencePeer(kernel.framing).run(cases)
    diffs = [d for i, (k, r) in enumerate(zip(got_k, got_r, strict=True)) for d in compare_case(i, k, r)]
    return got_k, diffs


def replay(corpus: Corpus, peer: Peer | None = None) -> Iterator[Difference]:
    """Run the corpus's requests through ``peer`` (default: the reference) and yield every difference."""
    peer = peer or ReferencePeer(corpus.framing)
    cases = [Case(tuple(x.request for x in case)) for case in corpus.cases]
    for i, (recorded, got) in enumerate(zip(corpus.cases, peer.run(cases), strict=True)):
        yield from compare_case(i, recorded, got)
