"""PrivateOvs against the real ovs-vswitchd: start, add a flow, dump it, stop, and leave nothing behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conformance.backends._ovsd import PrivateOvs, ovs_available, sweep_stale
from conformance.backends.unixctl import UnixctlClient, UnixctlError
from tests._ovs import alive, assert_no_leftovers, netns_names
from tests._support import require

UFID = "11111111-2222-3333-4444-555555555555"


def _key(in_port: int) -> str:
    return (
        f"in_port({in_port}),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
        "ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2)"
    )


@pytest.fixture(autouse=True)
def _needs_ovs() -> None:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")


def test_start_add_dump_stop() -> None:
    with PrivateOvs(ports=3) as ovs:
        pids = list(ovs.pids.values())
        netns, rundir = ovs.netns, ovs.rundir
        assert rundir is not None
        assert len(pids) == 2
        assert ovs.dp.startswith("netdev@ufidcert-")
        assert netns in netns_names()
        assert "Open vSwitch" in ovs.version
        show = ovs.appctl("dpctl/show", ovs.dp)
        for name, number in zip(ovs.port_names, ovs.ports, strict=True):
            assert f"port {number}: {name} (dummy)" in show
        assert len(set(ovs.ports)) == 3

        assert ovs.appctl("dpctl/add-flow", ovs.dp, f"ufid:{UFID},{_key(ovs.ports[0])}", ovs.ports[1]) == ""
        with pytest.raises(UnixctlError) as info:
            ovs.appctl("dpctl/add-flow", ovs.dp, f"ufid:{UFID},{_key(ovs.ports[0])}", ovs.ports[1])
        assert info.value.errno == errno.EEXIST
        dump = ovs.appctl("dpctl/dump-flows", "-m", "--no-names", ovs.dp)
        assert f"ufid:{UFID}," in dump
        assert f"in_port({ovs.ports[0]})" in dump
        assert f"actions:{ovs.ports[1]}" in dump
        got = ovs.appctl("dpctl/get-flow", ovs.dp, f"ufid:{UFID}")
        assert "tcp(src=1,dst=2)" in got

        # The ctl socket is a plain path: a second client (or ovs-appctl) can use it from the host.
        with UnixctlClient(ovs.ctl_path) as other:
            assert "flows: 1" in other.call("dpctl/show", ovs.dp)

        assert ovs.appctl("dpctl/del-flow", ovs.dp, f"ufid:{UFID}") == ""
        with pytest.raises(UnixctlError) as info:
            ovs.appctl("dpctl/get-flow", ovs.dp, f"ufid:{UFID}")
        assert info.value.errno == errno.ENOENT
    assert_no_leftovers(pids, netns, rundir)
    ovs.close()  # idempotent


def test_daemon_devices_live_only_in_private_namespace() -> None:
    with PrivateOvs(ports=1) as ovs:
        inside = subprocess.run(
            ["ip", "netns", "exec", ovs.netns, "ip", "-o", "link"], capture_output=True, text=True, check=True
        ).stdout
        outside = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        assert ovs.dp_name in inside
        assert ovs.dp_name not in outside


def test_cleanup_on_exception_and_keyboard_interrupt() -> None:
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        ovs = PrivateOvs(ports=1)
        with pytest.raises(type(exc)), ovs:
            pids = list(ovs.pids.values())
            netns, rundir = ovs.netns, ovs.rundir
            raise exc
        assert rundir is not None
        assert_no_leftovers(pids, netns, rundir)


def test_killed_daemon_gives_clear_error_and_cleanup_still_works() -> None:
    with PrivateOvs(ports=1) as ovs:
        pids = list(ovs.pids.values())
        netns, rundir = ovs.netns, ovs.rundir
        assert rundir is not None
        os.kill(ovs.pids["ovs-vswitchd"], signal.SIGKILL)
        time.sleep(0.1)
        with pytest.raises(UnixctlError) as info:
            ovs.appctl("dpctl/show", ovs.dp)
        assert info.value.errno in (errno.ECONNRESET, errno.ECONNREFUSED, errno.ENOENT, errno.EPIPE)
    assert_no_leftovers(pids, netns, rundir)


def test_killed_owner_leaves_no_daemons_and_sweep_removes_rest(tmp_path: Path) -> None:
    """SIGKILL the Python process that owns the daemons: they die with it; the next owner sweeps the rest."""
    script = textwrap.dedent(
        """
        import sys, time
        from conformance.backends._ovsd import PrivateOvs
        ovs = PrivateOvs(ports=1)
        ovs.start()
        print(ovs.netns, ovs.rundir, *ovs.pids.values(), flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3]
    )
    try:
        assert child.stdout is not None
        netns, rundir, *pid_text = child.stdout.readline().split()
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    pids = [int(p) for p in pid_text]
    assert len(pids) == 2
    for _ in range(100):
        if not any(alive(p) for p in pids):
            break
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "daemons outlived their killed owner"
    assert netns in netns_names()  # a SIGKILLed owner cannot clean up...
    sweep_stale()  # ...so the next PrivateOvs does it (or a concurrent one already did)
    assert_no_leftovers(pids, netns, Path(rundir))


def test_multi_megabyte_dump(tmp_path: Path) -> None:
    """10,000 flows added in bulk come back in one dump of several MB over the same client."""
    n = 10_000
    with PrivateOvs(ports=2) as ovs:
        lines = []
        for i in range(n):
            ufid = f"{i:08x}-0000-4000-8000-000000000000"
            key = (
                _key(ovs.ports[0])
                .replace("tcp(src=1,", f"tcp(src={i % 65536},")
                .replace("10.0.0.1", f"10.{i >> 8 & 255}.{i & 255}.1")
            )
            lines.append(f"add ufid:{ufid},{key} {ovs.ports[1]}\n")
        flows = tmp_path / "flows.txt"
        flows.write_text("".join(lines))
        ovs.appctl("dpctl/add-flows", ovs.dp, flows)
        dump = ovs.appctl("dpctl/dump-flows", "-m", "--no-names", ovs.dp)
        assert len(dump) > 3_000_000
        assert sum(1 for line in dump.splitlines() if line.startswith("ufid:")) == n
        assert "flows: 10000" in ovs.appctl("dpctl/show", ovs.dp)


def test_ovs_available_explains_missing_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.backends._ovs_install as install
    import conformance.backends._ovsd as ovsd

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(install, "Path", lambda *parts: Path("/nonexistent", *(str(q).lstrip("/") for q in parts)))
    reason = ovsd.ovs_available()
    assert reason is not None
    assert "apt-get install openvswitch-switch" in reason
    assert "\n" not in reason
    from conformance.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="apt-get install openvswitch-switch"):
        PrivateOvs().start()


def test_daemon_failing_at_startup_is_reported_and_cleaned(monkeypatch: pytest.MonkeyPatch) -> None:
    """ovs-vswitchd exiting at once (here: an unknown option) gives BackendUnavailable, and nothing is left."""
    from conformance.errors import BackendUnavailable

    ovs = PrivateOvs(ports=1, extra_vswitchd_args=["--no-such-option"])
    with pytest.raises(BackendUnavailable, match="ovs-vswitchd exited"):
        ovs.start()
    assert ovs.rundir is None
    assert ovs.pids == {}
    assert ovs.netns not in netns_names()
