"""The Linux openvswitch datapath as a :class:`~reference.dpif.Dpif`, over generic netlink (backend ``kernel``).

Options (``--option k=v``):

* ``where=host|vm|auto`` (default ``auto``): ``host`` talks to this
  machine's kernel (needs the openvswitch module and root); ``vm`` boots a
  kernel under QEMU once per run and relays raw netlink messages to it over
  virtio-serial (:mod:`conformance.backends._qemu`); ``auto`` picks ``host``
  when the module is loaded here, else ``vm``.
* ``kernel=debian:RELEASE`` (bullseye, bookworm, trixie, sid, ...): the
  kernel that release's ``linux-image-amd64`` depends on, downloaded
  through a private apt configuration and extracted, never installed
  (:mod:`conformance.backends._kernels`); default: this host's release.
  ``kernel=PATH``: a bzImage to boot instead; ``modules=DIR``: the
  ``lib/modules/VERSION`` tree for it (omit when openvswitch,
  virtio-serial and 9p are built in). Either makes ``where=auto`` boot a guest.
* ``boot_timeout`` / ``op_timeout`` (seconds), ``memory`` (MiB), ``cpus``.

Requests are built by :mod:`conformance.backends._genl` exactly as OVS's
lib/dpif-netlink.c builds them; the backend owns one datapath with a unique
name and its internal ports, and deletes them on :meth:`KernelDpif.close`.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import itertools
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from conformance.backends import _genl
from conformance.errors import BackendUnavailable, UsageError
from conformance.provenance import Provenance
from conformance.registry import declare_factory
from reference._netlink import iter_attrs
from reference.dpif import (
    DelOp,
    Dpif,
    DpifError,
    DpifFeatures,
    DpifFlow,
    DpifNotFound,
    DpifNotSupported,
    DpifOp,
    DpifOpResult,
    FlowStats,
    GetOp,
    PutFlags,
    PutOp,
    UfidArg,
    Upcall,
    dpif_error,
)
from reference.errors import OdpDecodeError
from reference.probe import probe_ufid
from reference.uapi import (
    OVS_DATAPATH_FAMILY,
    OVS_FLOW_FAMILY,
    OVS_FLOW_VERSION,
    OVS_PACKET_FAMILY,
    OVS_VPORT_FAMILY,
    KeyAttr,
    UfidFlags,
)

__all__ = ["KernelDpif", "Transport", "kernel", "unavailable_reason"]

_OPTIONS = ("where", "kernel", "modules", "boot_timeout", "op_timeout", "memory", "cpus")
_DUMP_RETRIES = 5
_BATCH = 50  # lib/dpif-netlink.c: MAX_OPS
_names = itertools.count()


class Transport(Protocol):
    """Where the netlink sockets live: this kernel (:class:`~conformance.backends._nlio.LocalOps`) or a guest's."""

    def open_socket(self) -> tuple[int, int]: ...
    def transact(self, chan: int, seq: int, data: bytes, timeout_s: float) -> bytes: ...
    def recv(self, chan: int, timeout_s: float, max_frames: int) -> list[bytes]: ...
    def close_socket(self, chan: int) -> None: ...
    def run(self, argv: list[str]) -> tuple[int, bytes]: ...
    def send_frame(self, ifname: str, frame: bytes) -> None: ...
    def link_up(self, name: str) -> None: ...
    def close(self) -> None: ...


class KernelDpif(Dpif):
    """A datapath of the Linux openvswitch module, driven as ovs-vswitchd's dpif-netlink drives it.

    Build one with :meth:`create` (own datapath, ports, upcalls) or
    :meth:`attach` (an existing datapath's flow table only, e.g. the
    reference's sans-I/O endpoint in tests). Close it to delete what it made.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        flow_family: int,
        dp_ifindex: int,
        families: dict[str, int] | None = None,
        dp_name: str | None = None,
        upcall_chan: int | None = None,
        upcall_pid: int = 0,
        op_timeout_s: float = 30.0,
        description: str = "",
        on_close: list[Callable[[], None]] | None = None,
    ) -> None:
        self._t = transport
        self._flow_family = flow_family
        self._dp_ifindex = dp_ifindex
        self._families = dict(families or {})
        self._dp_name = dp_name
        self._upcall_chan = upcall_chan
        self._up_pid = upcall_pid
        self._timeout = op_timeout_s
        self._seq = itertools.count(1)
        self._ports: dict[int, str] = {}
        self._closed = False
        self._on_close = list(on_close or [])
        self.description = description
        self.version = ""
        self.provenance: tuple[Provenance, ...] = ()  # what ran: set by the factory (conformance.provenance)
        self._chan, _pid = transport.open_socket()
        self._ufid_supported = True  # until the probe says otherwise; the probe itself sends no terse request
        self._ufid_supported = probe_ufid(self)

    # -- construction -----------------------------------------------------

    @classmethod
    def attach(cls, transport: Transport, *, flow_family: int, dp_ifindex: int) -> KernelDpif:
        """The flow table of an existing datapath; no ports, no upcalls (``packet_io`` false)."""
        return cls(transport, flow_family=flow_family, dp_ifindex=dp_ifindex, description="ovs_flow client")

    @classmethod
    def create(
        cls, transport: Transport, *, op_timeout_s: float = 30.0, description: str = "", version: str = ""
    ) -> KernelDpif:
        """A new datapath with a unique name, its upcalls sent to a socket of its own."""
        chan, _ = transport.open_socket()
        seq = itertools.count(1)
        try:
            families = {}
            for name in (OVS_DATAPATH_FAMILY, OVS_VPORT_FAMILY, OVS_FLOW_FAMILY, OVS_PACKET_FAMILY):
                n = next(seq)
                answer = _genl.decode_answer(
                    transport.transact(chan, n, _genl.family_request(name, n), op_timeout_s), n
                )
                families[name] = _genl.parse_family_id(answer)
        except DpifNotFound:
            transport.close_socket(chan)
            raise BackendUnavailable(
                "the kernel has no openvswitch generic netlink families (module not loaded?)"
            ) from None
        up_chan, up_pid = transport.open_socket()
        dp_name = f"ufc{os.getpid() % 100000}d{next(_names)}"[:15]
        n = next(seq)
        req = _genl.dp_new(families[OVS_DATAPATH_FAMILY], dp_name, up_pid, n)
        dp_ifindex = _genl.parse_datapath_ifindex(
            _genl.decode_answer(transport.transact(chan, n, req, op_timeout_s), n)
        )
        try:
            self = cls(
                transport,
                flow_family=families[OVS_FLOW_FAMILY],
                dp_ifindex=dp_ifindex,
                families=families,
                dp_name=dp_name,
                upcall_chan=up_chan,
                upcall_pid=up_pid,
                op_timeout_s=op_timeout_s,
                description=description or f"Linux openvswitch datapath {dp_name}",
            )
        except BaseException:
            # The probe failed: do not leave the datapath behind (it matters with where=host).
            with contextlib.suppress(Exception):
                n = next(seq)
                transport.transact(chan, n, _genl.dp_del(families[OVS_DATAPATH_FAMILY], dp_name, n), op_timeout_s)
            raise
        finally:
            with contextlib.suppress(Exception):
                transport.close_socket(chan)
        self.version = version
        return self

    # -- plumbing -----------------------------------------------------------

    def _transact(self, family: int, build: Callable[[int], bytes]) -> _genl.Answer:
        if self._closed:
            raise DpifError("the kernel backend is closed", errno=_errno.EBADF)
        n = next(self._seq)
        data = build(n)
        try:
            raw = self._t.transact(self._chan, n, data, self._timeout)
        except DpifError:
            raise
        except OSError as exc:
            raise dpif_error(exc.errno or _errno.EIO, f"netlink transaction failed: {exc}") from None
        return _genl.decode_answer(raw, n)

    def _flow(self, spec: _genl.FlowRequestSpec) -> _genl.Answer:
        hdr = _genl.GenlHeader(self._flow_family, spec.cmd, OVS_FLOW_VERSION, self._dp_ifindex)
        return self._transact(self._flow_family, lambda n: _genl.encode(hdr, spec.attrs, flags=spec.nlm_flags, seq=n))

    # -- flows ----------------------------------------------------------------

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        answer = self._flow(_genl.put_request(key, mask, actions, ufid=ufid, flags=PutFlags(flags)))
        return _genl.parse_flow(answer.payloads[0]).stats if answer.payloads else FlowStats()

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        spec = _genl.get_request(ufid=ufid, key=key, terse=terse, ufid_supported=self._ufid_supported)
        answer = self._flow(spec)
        if not answer.payloads:
            raise DpifError("GET answered without a flow", errno=_errno.EPROTO)
        return _genl.parse_flow(answer.payloads[0])

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        spec = _genl.del_request(ufid=ufid, key=key, terse=terse, ufid_supported=self._ufid_supported)
        answer = self._flow(spec)
        return _genl.parse_flow(answer.payloads[0]).stats if answer.payloads else FlowStats()

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        flows = self._dump_all(terse)
        return iter(flows)

    def _dump_all(self, terse: bool) -> list[DpifFlow]:
        spec = _genl.dump_request(terse=terse, ufid_supported=self._ufid_supported)
        for _ in range(_DUMP_RETRIES):
            answer = self._flow(spec)
            if answer.interrupted:
                continue  # the table changed under the dump: start again, as OVS's callers do
            out: list[DpifFlow] = []
            for payload in answer.payloads:
                flow = _genl.parse_flow(payload)
                if flow.actions is None and not (terse and self._ufid_supported):
                    # dpif_netlink_flow_dump_next: actions that did not fit are fetched with a GET.
                    try:
                        flow = self.flow_get(ufid=flow.ufid_bytes, key=flow.key)
                    except DpifNotFound:
                        continue
                out.append(flow)
            return out
        raise DpifError(f"flow dump interrupted {_DUMP_RETRIES} times in a row", errno=_errno.EAGAIN)

    def flow_flush(self) -> None:
        self._flow(_genl.flush_request())

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        """Flow ops go to the kernel in batches of 50 messages per send (dpif_netlink_operate__)."""
        results: list[DpifOpResult] = []
        for start in range(0, len(ops), _BATCH):
            chunk = ops[start : start + _BATCH]
            if any(not isinstance(op, (PutOp, DelOp, GetOp)) for op in chunk):
                results.extend(super().operate(chunk))  # executes go one by one, on the packet family
                continue
            results.extend(self._operate_flows(chunk))
        return results

    def _spec(self, op: DpifOp) -> _genl.FlowRequestSpec:
        ufid_ok = self._ufid_supported
        if isinstance(op, PutOp):
            return _genl.put_request(op.key, op.mask, op.actions, ufid=op.ufid, flags=PutFlags(op.flags))
        if isinstance(op, DelOp):
            return _genl.del_request(ufid=op.ufid, key=op.key, terse=op.terse, ufid_supported=ufid_ok)
        assert isinstance(op, GetOp)
        return _genl.get_request(ufid=op.ufid, key=op.key, terse=op.terse, ufid_supported=ufid_ok)

    def _operate_flows(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        if self._closed:
            raise DpifError("the kernel backend is closed", errno=_errno.EBADF)
        seqs = [next(self._seq) for _ in ops]
        data = b""
        for op, n in zip(ops, seqs, strict=True):
            spec = self._spec(op)
            hdr = _genl.GenlHeader(self._flow_family, spec.cmd, OVS_FLOW_VERSION, self._dp_ifindex)
            data += _genl.encode(hdr, spec.attrs, flags=spec.nlm_flags, seq=n)
        try:
            # The kernel answers the messages of one send in order, so the last one's ACK ends the batch.
            raw = self._t.transact(self._chan, seqs[-1], data, self._timeout)
        except OSError as exc:
            raise dpif_error(exc.errno or _errno.EIO, f"netlink transaction failed: {exc}") from None
        out: list[DpifOpResult] = []
        for op, n in zip(ops, seqs, strict=True):
            try:
                answer = _genl.decode_answer(raw, n)
            except DpifError as exc:
                out.append(DpifOpResult(op, error=exc))
                continue
            if isinstance(op, GetOp):
                if not answer.payloads:
                    out.append(DpifOpResult(op, error=DpifError("GET answered without a flow", errno=_errno.EPROTO)))
                    continue
                flow = _genl.parse_flow(answer.payloads[0])
                out.append(DpifOpResult(op, flow=flow, stats=flow.stats))
            else:
                stats = _genl.parse_flow(answer.payloads[0]).stats if answer.payloads else FlowStats()
                out.append(DpifOpResult(op, stats=stats))
        return out

    # -- ports and packets --------------------------------------------------

    def _need_io(self) -> None:
        if self._upcall_chan is None or not self._families:
            raise DpifNotSupported("this kernel client is attached to a flow table only (no ports, no upcalls)")

    def port_add(self, name: str) -> int:
        self._need_io()
        if not name or len(name) > 15 or "/" in name or "\0" in name:
            raise DpifError(f"port name {name!r} is not a valid interface name", errno=_errno.EINVAL)
        up_pid = self._up_pid
        fam = self._families[OVS_VPORT_FAMILY]
        answer = self._transact(fam, lambda n: _genl.vport_new(fam, self._dp_ifindex, name, up_pid, n))
        port = _genl.parse_vport_no(answer)
        self._ports[port] = name
        # No IPv6 on the port (router solicitations would arrive as upcalls nobody injected), then up.
        try:
            self._t.link_up(name)
        except DpifError:
            raise
        except OSError as exc:
            raise dpif_error(exc.errno or _errno.EIO, f"setting {name} up: {exc}") from None
        return port

    def port_del(self, port: int) -> None:
        self._need_io()
        if port not in self._ports:
            raise DpifNotFound(f"no port {port}")
        fam = self._families[OVS_VPORT_FAMILY]
        self._transact(fam, lambda n: _genl.vport_del(fam, self._dp_ifindex, port, n))
        del self._ports[port]

    def inject(self, port: int, packet: bytes) -> None:
        self._need_io()
        name = self._ports.get(port)
        if name is None:
            raise DpifNotFound(f"no port {port} to inject on")
        try:
            self._t.send_frame(name, bytes(packet))
        except DpifError:
            raise
        except OSError as exc:
            raise dpif_error(exc.errno or _errno.EIO, f"sending on {name}: {exc}") from None

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        self._need_io()
        assert self._upcall_chan is not None
        out: list[Upcall] = []
        fam = self._families[OVS_PACKET_FAMILY]
        while len(out) < max:
            frames = self._t.recv(self._upcall_chan, 0.0, max - len(out))
            if not frames:
                break
            for data in frames:
                for miss in _genl.parse_miss(data, fam):
                    out.append(Upcall(miss.packet, miss.key, _in_port(miss.key)))
        return out[:max]

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        self._need_io()
        fam = self._families[OVS_PACKET_FAMILY]
        key = struct.pack("=HHI", 8, KeyAttr.IN_PORT, in_port)
        self._transact(
            fam,
            lambda n: _genl.packet_execute(
                fam, self._dp_ifindex, packet=bytes(packet), key=key, actions=actions, seq=n
            ),
        )

    # -- the datapath ---------------------------------------------------------

    @property
    def features(self) -> DpifFeatures:
        ufid = self._ufid_supported
        return DpifFeatures(
            ufid=ufid,
            omit_flags=UfidFlags.TERSE if ufid else UfidFlags.NONE,
            max_ufid_len=16 if ufid else 0,
            semantics="kernel",
            packet_io=self._upcall_chan is not None,
        )

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._dp_name is not None and self._families:
                fam = self._families[OVS_DATAPATH_FAMILY]
                name = self._dp_name
                # The guest may be gone already; nothing is left behind on the host either way.
                with contextlib.suppress(DpifError, OSError):
                    self._transact(fam, lambda n: _genl.dp_del(fam, name, n))
            for chan in (self._chan, self._upcall_chan):
                if chan is not None:
                    with contextlib.suppress(OSError):
                        self._t.close_socket(chan)
        finally:
            self._closed = True
            for hook in self._on_close:
                hook()


def _in_port(key: bytes) -> int:
    try:
        for t, p, _ in iter_attrs(key, where="upcall key"):
            if t == KeyAttr.IN_PORT and len(p) >= 4:
                return int(struct.unpack_from("=I", p)[0])
    except OdpDecodeError:
        pass
    return -1


# -- the registered factory -----------------------------------------------------


def _host_has_module() -> bool:
    return os.path.isdir("/sys/module/openvswitch")


def unavailable_reason() -> str | None:
    """None when the kernel backend can run here (host module or QEMU), else a one-line reason."""
    if _host_has_module() and os.geteuid() == 0:
        return None
    from conformance.backends import _qemu

    return _qemu.unavailable_reason()


def _float(options: dict[str, str], name: str, default: float) -> float:
    if name not in options:
        return default
    try:
        value = float(options[name])
    except ValueError:
        raise UsageError(f"option {name}={options[name]!r}: expected a number") from None
    if value <= 0:
        raise UsageError(f"option {name}={options[name]!r}: must be positive")
    return value


def kernel(**options: str) -> KernelDpif:
    """The Linux openvswitch datapath, on this host's kernel or in a QEMU guest (where=host|vm)."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}; the kernel backend takes {', '.join(_OPTIONS)}")
    where = options.get("where", "auto")
    if where not in ("auto", "host", "vm"):
        raise UsageError(f"option where={where!r}: expected host, vm or auto")
    op_timeout = _float(options, "op_timeout", 60.0)
    if where == "auto":
        # Asking for a kernel means booting it; the host's own kernel is used only when none was named.
        chosen = "kernel" in options or "modules" in options
        where = "host" if _host_has_module() and os.geteuid() == 0 and not chosen else "vm"
    if where == "host":
        if "kernel" in options or "modules" in options:
            raise UsageError("options kernel= and modules= need where=vm")
        if os.geteuid() != 0:
            raise BackendUnavailable("where=host needs root (CAP_NET_ADMIN) to create a datapath")
        if not _host_has_module():
            raise BackendUnavailable("where=host: this kernel has no openvswitch module loaded (try where=vm)")
        from conformance.backends._nlio import LocalOps

        dpif = KernelDpif.create(LocalOps(), op_timeout_s=op_timeout, version=os.uname().release)
        dpif.provenance = (Provenance("Linux kernel", os.uname().release, "this host's running kernel"),)
        return dpif
    from conformance.backends import _debian, _qemu

    kernel_opt = options.get("kernel")
    local = kernel_opt is not None and not kernel_opt.startswith("debian:")
    if kernel_opt is not None and not local:
        _debian.parse_release(kernel_opt, option="kernel")
    if "modules" in options and not local:
        raise UsageError("option modules= goes with kernel=PATH; a Debian kernel brings its own modules")
    reason = _qemu.qemu_missing() if local else _qemu.unavailable_reason()
    if reason:
        raise BackendUnavailable(reason)
    config = _qemu.VmConfig(
        kernel=options.get("kernel"),
        modules=options.get("modules"),
        boot_timeout_s=_float(options, "boot_timeout", 180.0),
        op_timeout_s=op_timeout,
        memory_mib=int(_float(options, "memory", 1024)),
        cpus=int(_float(options, "cpus", 2)),
    )
    vm = _qemu.acquire(config)
    try:
        if vm.boot.release and vm.boot.release != vm.kernel_release:
            raise BackendUnavailable(
                f"the guest runs Linux {vm.kernel_release} but modules={vm.boot.modules} is for {vm.boot.release}"
            )
        rc, out = vm.run(["modprobe", "openvswitch"])
        if rc:
            text = " ".join(out.decode(errors="replace").split())
            raise BackendUnavailable(f"modprobe openvswitch failed in the guest (kernel {vm.kernel_release}): {text}")
        dpif = KernelDpif.create(vm, op_timeout_s=op_timeout, version=vm.kernel_release)
    except BaseException:
        _qemu.release(vm)
        raise
    dpif.description = f"Linux {vm.kernel_release} openvswitch datapath in a QEMU/TCG guest"
    # uname -r as the guest reports it, not the version the package or tree claims.
    dpif.provenance = (Provenance("Linux kernel", vm.kernel_release, vm.boot.source),)
    dpif._on_close.append(lambda: _qemu.release(vm))
    return dpif


# Opening may download and unpack a kernel package and boot a TCG guest (docs/performance.md).
declare_factory(unavailable_reason=unavailable_reason, open_timeout_s=1800)(kernel)
