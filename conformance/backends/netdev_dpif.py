"""``netdev`` with ``via=dpif``: OVS's userspace datapath in-process, through OVS's own dpif API.

The driver in ``dpifdrv/`` is a small C program linked against OVS's own
library (libopenvswitch): it opens a dpif of type ``dummy`` (lib/dpif-netdev.c,
without tap devices) and serves it as JSON lines
(:mod:`conformance.backends.dpif_driver`). Every :class:`~reference.dpif.Dpif`
call is one request, so the suite reaches what dpctl cannot express: terse
dumps, deletes returning final stats, batches through one ``dpif_operate``,
``dpif_execute``, traffic through dummy ports and the upcalls dpif-netdev
makes (misses with the UFID it computed, ``userspace()`` actions), and OVS's
own ``hash_bytes128``.

Options: ``ovs=debian:RELEASE`` (build the release's ``openvswitch-source``,
cached; the default is the host's own Debian release) or ``ovs=DIR`` (a
user's built OVS tree), ``timeout`` (seconds per request, default 10).

Declared from what the dpif API expresses: terse dumps yes (all three OMIT
flags at once: ``dpif_flow_dump_create(dpif, terse, ...)``); terse gets no
(``struct dpif_flow_get`` has no such flag, so a terse get is sent as a
normal one); 16-byte UFIDs only (``const ovs_u128 *``); packet I/O yes.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from conformance.backends import _ovslib
from conformance.backends._driver_process import DriverProcess
from conformance.backends.dpif_driver import (
    MAX_OPS,
    Reply,
    Request,
    check,
    decode_flows,
    decode_hash,
    decode_port,
    decode_results,
    decode_upcalls,
    request,
    request_operate,
)
from conformance.errors import UsageError
from conformance.provenance import Provenance
from reference.dpif import (
    DelOp,
    Dpif,
    DpifFeatures,
    DpifFlow,
    DpifInvalid,
    DpifOp,
    DpifOpResult,
    ExecuteOp,
    FlowStats,
    GetOp,
    PutFlags,
    PutOp,
    UfidArg,
    Upcall,
)
from reference.uapi import UfidFlags

__all__ = ["DpifDriverBackend", "OPTIONS", "open_netdev_dpif"]

OPTIONS = ("ovs", "timeout")
_PORT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class DpifDriverBackend(Dpif):
    """dpif-netdev in the driver process; one request per call (see the module docstring)."""

    def __init__(self, driver: Path, *, timeout: float = 10.0, origin: str = "") -> None:
        self.driver = driver
        self.timeout = timeout
        self.process = DriverProcess([str(driver)], timeout=timeout)
        self.version = self.process.ready.version
        self.dp = self.process.ready.dp
        self.description = (
            f"Open vSwitch userspace datapath (dpif-netdev) {self.version} in-process through OVS's dpif API, "
            f"{self.dp}{f' ({origin})' if origin else ''}"
        )
        self.last_ns = 0  # the driver's in-process time of the last request
        # What ran: the OVS library version the driver reports, and where it was built from.
        self.provenance = (Provenance("libopenvswitch (dpif-netdev)", self.version, origin or str(driver)),)

    def _call(self, req: Request) -> Reply:
        reply = self.process.call(req)
        self.last_ns = reply.ns
        return reply

    def _one(self, op: DpifOp) -> DpifOpResult:
        (result,) = self.operate([op])
        if result.error is not None:
            raise result.error
        return result

    # -- flows ---------------------------------------------------------------

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        """DPIF_OP_FLOW_PUT; the stats dpif-netdev reports for the flow before the put."""
        return self._one(PutOp(key, mask, actions, ufid, PutFlags(flags))).stats or FlowStats()

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        """DPIF_OP_FLOW_GET (full even when terse: ``struct dpif_flow_get`` has no terse flag)."""
        if ufid is None and key is None:
            raise DpifInvalid("flow_get needs a UFID or a key")
        flow = self._one(GetOp(ufid, key)).flow
        assert flow is not None  # decode_results gives every successful get a flow
        return flow

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        """DPIF_OP_FLOW_DEL with ``terse`` passed on (dpif-netdev ignores it); the final stats."""
        if ufid is None and key is None:
            raise DpifInvalid("flow_del needs a UFID or a key (use flow_flush to delete every flow)")
        return self._one(DelOp(ufid, key, terse)).stats or FlowStats()

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        """dpif_flow_dump_create(dpif, terse) on one dump thread, read to the end."""
        return iter(decode_flows(self._call(request("dump", terse=terse))))

    def flow_flush(self) -> None:
        """dpif_flow_flush."""
        check(self._call(request("flush")))

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        """The ops in one dpif_operate call (per MAX_OPS ops), each with its own result."""
        results: list[DpifOpResult] = []
        for start in range(0, len(ops), MAX_OPS):
            chunk = list(ops[start : start + MAX_OPS])
            results += decode_results(self._call(request_operate(chunk)), chunk)
        return results

    # -- packets and ports ------------------------------------------------------

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        """DPIF_OP_EXECUTE of ``packet`` (its flow extracted as ofproto does) from ``in_port``."""
        self._one(ExecuteOp(packet, actions, in_port))

    def port_add(self, name: str) -> int:
        """A ``dummy`` netdev with a pstream socket, added with dpif_port_add."""
        if not _PORT_NAME.fullmatch(name):
            raise DpifInvalid(f"port name {name!r}: 1-15 letters, digits, '_', '.' or '-'")
        return decode_port(self._call(request("port_add", name=name)))

    def port_del(self, port: int) -> None:
        """dpif_port_del."""
        check(self._call(request("port_del", port=port)))

    def inject(self, port: int, packet: bytes) -> None:
        """The frame through the port's socket; returns once dpif-netdev has looked it up."""
        check(self._call(request("inject", port=port, packet=bytes(packet))))

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        """Upcalls the driver's callback recorded (dpif-netdev installs nothing for them)."""
        if max < 0:
            raise DpifInvalid("max must be >= 0")
        return decode_upcalls(self._call(request("upcalls", max=max)))

    def hash_bytes128(self, data: bytes, basis: int) -> bytes:
        """OVS's own lib/hash.c hash_bytes128 (MurmurHash3_x64_128), run in the driver."""
        return decode_hash(self._call(request("hash", data=bytes(data), basis=basis)))

    @staticmethod
    def clock_ms() -> int:
        """The clock dpif-netdev's ``used`` is on: CLOCK_MONOTONIC in milliseconds.

        OVS takes ``used`` from time_usec()/time_msec() (lib/timeval.c, the
        monotonic clock; lib/dpif-netdev.c dp_netdev_flow_used with the
        thread's ``ctx.now``), and the driver runs on this machine, so this
        process reads the same clock.
        """
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1_000_000

    @property
    def features(self) -> DpifFeatures:
        """netdev semantics, 16-byte UFIDs, terse dumps but no terse gets, packet I/O."""
        return DpifFeatures(
            ufid=True,
            omit_flags=UfidFlags.OMIT_KEY | UfidFlags.OMIT_MASK | UfidFlags.OMIT_ACTIONS,
            max_ufid_len=16,
            semantics="netdev",
            packet_io=True,
            terse_get=False,
        )

    def close(self) -> None:
        """Quit the driver (it disables upcalls and deletes the datapath); kill it if it does not."""
        self.process.close()

    def __repr__(self) -> str:
        return f"DpifDriverBackend(driver={str(self.driver)!r}, version={self.version!r})"


def _host_release() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"') or None
    return None


def open_netdev_dpif(**options: str) -> DpifDriverBackend:
    """Build (cached) and start the driver for ``ovs=`` and return the backend."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}; netdev via=dpif takes via, {', '.join(OPTIONS)}")
    try:
        timeout = float(options.get("timeout", "10"))
    except ValueError:
        raise UsageError(f"option timeout={options['timeout']!r}: not a number") from None
    if not timeout > 0:
        raise UsageError("option timeout must be > 0")
    ovs = options.get("ovs")
    if ovs is None:
        release = _host_release()
        if release is None:
            raise UsageError("netdev via=dpif needs ovs=debian:RELEASE or ovs=DIR (the host is not Debian)")
        ovs = f"debian:{release}"
    tree = _ovslib.resolve_tree(ovs)
    return DpifDriverBackend(_ovslib.build_driver(tree), timeout=timeout, origin=tree.origin)
