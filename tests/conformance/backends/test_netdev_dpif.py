"""netdev via=dpif: the C driver on OVS's own dpif API, against bookworm's 3.1.0, trixie's 3.5.0 and sid's 4.0.0.

The library builds come from the cache (``ufidcert certify --backend netdev
--option via=dpif --option ovs=debian:RELEASE`` makes them, ~75 s each);
under UFIDCERT_STRICT=1 (CI) a missing one is built here instead of skipped.
Expected answers come from OVS's source (lib/dpif-netdev.c) and from mmh3,
not from the driver's own output.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mmh3
import pytest

from conformance.backends import _debian, _ovslib
from conformance.backends.dpif_driver import DriverProtocolError, request
from conformance.backends.netdev_dpif import DpifDriverBackend
from conformance.cli import main
from conformance.errors import BackendUnavailable
from conformance.registry import open_backend
from conformance.suite._flows import eth_frame, eth_key, eth_mask, output, ufid_n
from reference.dpif import DelOp, DpifExists, DpifNotFound, DpifNotSupported, DpifOp, GetOp, PutFlags, PutOp
from reference.uapi import KeyAttr, UfidFlags
from tests._ovs import ovs_tree

_RELEASES = {"bookworm": "3.1.", "trixie": "3.5.", "sid": "4.0."}
# include/linux/openvswitch.h: OVS_ACTION_ATTR_USERSPACE with OVS_USERSPACE_ATTR_PID/_USERDATA.
_USERSPACE, _UPID, _UDATA = 2, 1, 2


def _attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * (-n % 4)


@pytest.fixture(scope="module", params=sorted(_RELEASES))
def drv(request: pytest.FixtureRequest) -> Iterator[DpifDriverBackend]:
    tree = ovs_tree(request.param)
    backend = DpifDriverBackend(_ovslib.build_driver(tree), timeout=10, origin=tree.origin)
    assert backend.version.startswith(_RELEASES[request.param])
    yield backend
    backend.close()
    assert backend.process.proc.poll() == 0, backend.process.stderr_tail()


@pytest.fixture
def fresh(drv: DpifDriverBackend) -> DpifDriverBackend:
    drv.flow_flush()
    while drv.recv_upcalls(64):
        pass
    return drv


@pytest.fixture(scope="module")
def port(drv: DpifDriverBackend) -> int:
    return drv.port_add(f"t{os.getpid() % 1000}")


def test_features_say_what_the_dpif_api_expresses(drv: DpifDriverBackend) -> None:
    f = drv.features
    assert (f.ufid, f.omit_flags, f.max_ufid_len, f.semantics) == (True, UfidFlags.TERSE, 16, "netdev")
    assert f.packet_io and not f.terse_get


def test_put_get_dump_del(fresh: DpifDriverBackend, port: int) -> None:
    key, mask = eth_key(port, src=1), eth_mask()
    fresh.flow_put(key, mask, output(2), ufid=ufid_n(1))
    with pytest.raises(DpifExists):
        fresh.flow_put(key, mask, output(2), ufid=ufid_n(1))
    got = fresh.flow_get(ufid=ufid_n(1))
    assert got.ufid == ufid_n(1) and got.ufid_present and got.actions == output(2)
    fresh.inject(port, eth_frame(1, size=100))
    (terse,) = fresh.flow_dump(terse=True)
    assert (terse.key, terse.mask, terse.actions, terse.ufid) == (None, None, None, ufid_n(1))
    (full,) = fresh.flow_dump()
    assert full.key is not None and full.mask is not None and full.stats == terse.stats
    assert (terse.stats.n_packets, terse.stats.n_bytes) == (1, 100) and terse.stats.used_ms > 0
    final = fresh.flow_del(ufid=ufid_n(1), terse=True)
    assert (final.n_packets, final.n_bytes) == (1, 100)
    with pytest.raises(DpifNotFound):
        fresh.flow_del(ufid=ufid_n(1))


def test_one_operate_gives_each_op_its_result(fresh: DpifDriverBackend, port: int) -> None:
    key = eth_key(port, src=2)
    ops: list[DpifOp] = [
        PutOp(key, eth_mask(), output(2), ufid_n(2), PutFlags.CREATE),
        PutOp(key, eth_mask(), output(2), ufid_n(2), PutFlags.CREATE),
        GetOp(ufid=ufid_n(2)),
        DelOp(ufid=ufid_n(2)),
        DelOp(ufid=ufid_n(2)),
    ]
    res = fresh.operate(ops)
    assert [r.error.errno if r.error else 0 for r in res] == [0, errno.EEXIST, 0, 0, errno.ENOENT]
    assert res[2].flow is not None and res[2].flow.ufid == ufid_n(2)


def test_a_second_port_of_the_same_name_is_eexist(drv: DpifDriverBackend, port: int) -> None:
    with pytest.raises(DpifExists):
        drv.port_add(f"t{os.getpid() % 1000}")


def test_only_16_byte_ufids(fresh: DpifDriverBackend) -> None:
    with pytest.raises(DpifNotSupported):
        fresh.flow_get(ufid=b"\x01" * 8)


def test_miss_upcall_carries_frame_port_key_and_ufid(fresh: DpifDriverBackend, port: int) -> None:
    frame = eth_frame(9, size=64)
    fresh.inject(port, frame)
    (up,) = fresh.recv_upcalls(8)
    assert up.packet == frame and up.in_port == port and up.ufid is not None
    attrs = dict(_attrs(up.key))
    assert struct.unpack("=I", attrs[KeyAttr.IN_PORT])[0] == port
    assert attrs[KeyAttr.ETHERNET] == frame[6:12] + frame[0:6]  # struct ovs_key_ethernet: src then dst
    assert list(fresh.flow_dump()) == []  # the callback installs nothing


def test_miss_ufid_is_the_one_a_put_of_its_key_gets(fresh: DpifDriverBackend, port: int) -> None:
    # lib/dpif-netdev.c: handle_packet_upcall and dpif_netdev_flow_put (no UFID given) both take
    # odp_flow_key_hash(&match.flow, sizeof match.flow): the ukey's UFID is the flow's.
    fresh.inject(port, eth_frame(11, size=70))
    (up,) = fresh.recv_upcalls(8)
    fresh.flow_put(up.key, None, output(2))
    (flow,) = fresh.flow_dump(terse=True)
    assert flow.ufid == up.ufid


def _attrs(blob: bytes) -> Iterator[tuple[int, bytes]]:
    while blob:
        n, kind = struct.unpack_from("=HH", blob)
        yield kind, blob[4:n]
        blob = blob[(n + 3) & ~3 :]


def test_execute_with_a_userspace_action_upcalls(fresh: DpifDriverBackend, port: int) -> None:
    frame = eth_frame(4, size=60)
    act = _attr(_USERSPACE, _attr(_UPID, struct.pack("=I", 0)) + _attr(_UDATA, b"cookie!!"))
    fresh.execute(frame, act, in_port=port)
    (up,) = fresh.recv_upcalls(8)
    assert up.packet == frame and up.in_port == port


def test_hash_is_ovs_murmur3(drv: DpifDriverBackend) -> None:
    for n in (0, 1, 15, 16, 17, 33, 100):
        data = bytes(range(n))
        for basis in (0, 1, 0xFFFFFFFF):
            assert drv.hash_bytes128(data, basis) == mmh3.hash_bytes(data, basis, x64arch=True)


def test_odp_flow_format_on_either_version(drv: DpifDriverBackend, port: int) -> None:
    # odp_flow_format gained an argument in 3.5: the driver's #if picks the call.
    reply = drv.process.call(request("format", key=eth_key(port, src=1), mask=eth_mask()))
    assert f"in_port({port})" in reply.body["text"] and "eth(src=" in reply.body["text"]


def test_a_refused_request_leaves_the_driver_running(drv: DpifDriverBackend) -> None:
    with pytest.raises(DriverProtocolError, match="unknown"):
        drv.process.call(request("frobnicate"))
    with pytest.raises(DriverProtocolError, match="non-hex digit"):
        drv.process.call(request("hash", data="xy"))
    assert drv.hash_bytes128(b"", 0) == mmh3.hash_bytes(b"", 0, x64arch=True)


# --- a driver that dies or hangs -------------------------------------------------------


def _one_tree() -> _ovslib.OvsTree:
    for release in sorted(_RELEASES, reverse=True):
        tree = _ovslib.cached_tree(release)
        if tree is not None:
            return tree
    return ovs_tree("trixie")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGKILL, "SIGKILL"), (signal.SIGABRT, "SIGABRT")])
def test_a_dying_driver_is_a_backend_error_with_its_stderr(sig: signal.Signals, status: str) -> None:
    drv = DpifDriverBackend(_ovslib.build_driver(_one_tree()), timeout=10)
    pid = drv.process.pid
    with pytest.raises(DpifNotFound):
        drv.flow_del(ufid=ufid_n(7))  # dpif logs the failed delete at WARN: stderr has a line
    os.kill(pid, sig)  # an OVS assertion (ovs_assert -> abort) ends the same way as SIGABRT
    with pytest.raises(BackendUnavailable) as info:
        drv.flow_dump()
    text = str(info.value)
    assert f"killed by {status}" in text and "failed to flow_del" in text, text
    assert not _alive(pid)
    with pytest.raises(BackendUnavailable):
        drv.flow_flush()  # every later call fails at once
    drv.close()


def test_a_hanging_driver_is_killed_within_the_timeout() -> None:
    drv = DpifDriverBackend(_ovslib.build_driver(_one_tree()), timeout=1)
    pid = drv.process.pid
    sockdir = drv.process._sockdir
    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(BackendUnavailable, match=r"did not answer the 'dump' request within 1 s and was killed"):
        drv.flow_dump()
    assert not _alive(pid)
    drv.close()
    assert not Path(sockdir).exists()


def test_close_quits_cleanly_and_twice() -> None:
    drv = DpifDriverBackend(_ovslib.build_driver(_one_tree()), timeout=10)
    drv.close()
    assert drv.process.proc.returncode == 0
    drv.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        drv.flow_flush()


# --- building --------------------------------------------------------------------------


def test_readme_makefile_route(tmp_path: Path) -> None:
    tree = _one_tree()
    out = tmp_path / "ufidcert-dpifdrv"
    subprocess.run(
        [
            "make",
            "-s",
            "-f",
            str(_ovslib.DRIVER_DIR / "Makefile"),
            f"OVS_BUILD={tree.build}",
            f"OVS_SRC={tree.src}",
            f"OUT={out}",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    p = subprocess.run(
        [str(out), "--sockdir", str(tmp_path)], input=b'{"op":"quit"}\n', capture_output=True, check=False
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(b'{"ready":true,"version":"' + tree.version.encode())
    assert lines[1].startswith(b'{"error":0,') and len(lines) == 2


def test_a_failed_driver_build_keeps_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _one_tree()
    src = tmp_path / "drv"
    src.mkdir()
    (src / "driver.c").write_text("#include <config.h>\nint main(void) { return this_is_not_declared; }\n")
    (src / "Makefile").write_text((_ovslib.DRIVER_DIR / "Makefile").read_text())
    monkeypatch.setattr(_ovslib, "DRIVER_DIR", src)
    monkeypatch.setenv("UFIDCERT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BackendUnavailable, match="this_is_not_declared") as info:
        _ovslib.build_driver(tree)
    assert "failed (exit" in str(info.value)
    assert [p.name for p in (tmp_path / "cache" / "ovs-dpifdrv").iterdir() if not p.name.endswith(".lock")] == []


def _fake_source_deb(tmp_path: Path) -> Path:
    root = tmp_path / "debroot"
    tree = root / "usr" / "src" / "openvswitch"
    tree.mkdir(parents=True)
    (tree / "configure").write_text("#!/bin/sh\necho 'checking for a C compiler... no' >&2\nexit 77\n")
    (tree / "configure").chmod(0o755)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: openvswitch-source\nVersion: 9.9.9-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    )
    deb = tmp_path / "fake.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], check=True, capture_output=True)
    return deb


def test_a_failed_library_build_keeps_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deb = _fake_source_deb(tmp_path)
    monkeypatch.setenv("UFIDCERT_CACHE", str(tmp_path / "cache"))
    fake = _debian.DebianPackage("openvswitch-source", "9.9.9-1", "fakerel", deb)
    monkeypatch.setattr(_debian, "download", lambda release, package: fake)
    with pytest.raises(BackendUnavailable, match="OVS configure failed") as info:
        _ovslib.debian_tree("fakerel")
    assert "checking for a C compiler... no" in str(info.value)
    left = [p.name for p in (tmp_path / "cache" / "ovs-lib").iterdir() if not p.name.endswith(".lock")]
    assert left == [] and _ovslib.cached_tree("fakerel") is None


def test_certify_with_an_unbuildable_tree_exits_2_with_the_compiler_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "ovs"
    (build / "lib" / ".libs").mkdir(parents=True)
    (build / "lib" / ".libs" / "libopenvswitch.a").write_bytes(b"!<arch>\n")
    (build / "config.h").write_text('#define PACKAGE_VERSION "3.5.0"\n')
    (build / "Makefile").write_text("LIBS = \n")
    monkeypatch.setenv("UFIDCERT_CACHE", str(tmp_path / "cache"))
    args = ["certify", "--backend", "netdev", "--option", "via=dpif", "--option", f"ovs={build}"]
    assert main([*args, "--profile", "smoke", "-q"]) == 2
    captured = capsys.readouterr()
    assert "dp-packet.h: No such file or directory" in captured.out + captured.err


def test_option_errors() -> None:
    from conformance.errors import UsageError

    with pytest.raises(UsageError, match="via='x'"):
        open_backend("netdev", {"via": "x"})
    with pytest.raises(UsageError, match="unknown option"):
        open_backend("netdev", {"via": "dpif", "ports": "2"})
    with pytest.raises(UsageError, match="ovs='nonsense'"):
        open_backend("netdev", {"via": "dpif", "ovs": "nonsense"})


_SABOTAGED = '''
import os, signal
from conformance.backends import _ovslib
from conformance.backends.netdev_dpif import DpifDriverBackend

class Sabotaged(DpifDriverBackend):
    """Stops (SIG) its own driver at the first flush (the session's, after the probe): a crash, or a hang."""
    flushes = 0
    def flow_flush(self):
        type(self).flushes += 1
        if type(self).flushes == 1:
            with open("driver.pid", "w") as fh:
                fh.write(f"{self.process.pid} {self.process._sockdir}")
            os.kill(self.process.pid, SIG)
        return super().flow_flush()

def make(**options):
    return Sabotaged(_ovslib.build_driver(_ovslib.cached_tree(RELEASE)), timeout=1)
'''


@pytest.mark.parametrize(
    ("sig", "says"), [(signal.SIGABRT, "killed by SIGABRT"), (signal.SIGSTOP, "did not answer the 'flush' request")]
)
def test_a_run_whose_driver_dies_or_hangs_is_an_error_and_leaves_nothing(
    sig: signal.Signals, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = _one_tree()
    release = tree.origin.split()[0].removeprefix("debian:")
    module = f"sabotaged_{int(sig)}"  # a fresh module (and counter) per case: imports are cached
    (tmp_path / f"{module}.py").write_text(f"SIG = {int(sig)}\nRELEASE = {release!r}\n" + _SABOTAGED)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    status = main(["certify", "--backend", f"python:{module}:make", "--profile", "smoke", "-q", "--report", "rep"])
    out = capsys.readouterr()
    assert status == 2, out.out[-2000:]  # the certification could not be made
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    errors = [r["reason"] for r in doc["requirements"] if r["status"] == "error"]
    assert doc["verdict"] == "error" and errors and all(says in reason for reason in errors), errors[:3]
    pid, sockdir = (tmp_path / "driver.pid").read_text().split()
    assert not _alive(int(pid)), "the driver survived the run"
    assert not Path(sockdir).exists()


def test_ovs_dir_takes_a_built_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _one_tree()
    user = _ovslib.user_tree(str(tree.build))
    assert (user.src, user.version) == (tree.src.resolve(), tree.version)
    monkeypatch.setenv("UFIDCERT_CACHE", str(tmp_path))
    dpif = open_backend("netdev", {"via": "dpif", "ovs": str(tree.build)})
    try:
        assert dpif.version == tree.version and f"OVS build tree {tree.build}" in dpif.description  # type: ignore[attr-defined]
    finally:
        dpif.close()
