"""The netdev backend's choice of Open vSwitch: host, Debian release root, prefix or build tree (``ovs=``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backends import _debian
from conformance.backends._ovs_install import PROGRAMS, OvsInstall, resolve_install
from conformance.errors import BackendUnavailable, UsageError
from tests._ovs import assert_no_leftovers, private_ovs
from tests._support import require


def _host_or_skip() -> OvsInstall:
    try:
        return resolve_install(None)
    except BackendUnavailable as exc:
        require(False, f"ovs-vswitchd not installed: {exc}")
        raise


# -- parsing and lookups that need no daemon ----------------------------------------------


@pytest.mark.parametrize("value", ["trixie", "debian:", "debian:Trixie", "debian:../x", "debian:a b"])
def test_bad_release_names_are_usage_errors(value: str) -> None:
    with pytest.raises(UsageError, match="ovs="):
        _debian.parse_release(value, option="ovs")


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such directory"):
        resolve_install(str(tmp_path / "absent"))


def test_directory_without_binaries_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="neither an OVS prefix"):
        resolve_install(str(tmp_path))
    (tmp_path / "vswitchd").mkdir()
    (tmp_path / "vswitchd" / "ovs-vswitchd").write_text("")
    with pytest.raises(BackendUnavailable, match="ovsdb/ovsdb-server") as exc:
        resolve_install(str(tmp_path))
    assert "\n" not in str(exc.value)


def test_links_resolve_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "lib" / "pkg").mkdir(parents=True)
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "etc" / "alternatives").mkdir(parents=True)
    (root / "usr" / "lib" / "pkg" / "daemon").write_text("inside")
    # an absolute link, as Debian's alternatives make them, through another absolute link
    (root / "etc" / "alternatives" / "daemon").symlink_to("/usr/lib/pkg/daemon")
    (root / "usr" / "sbin" / "daemon").symlink_to("/etc/alternatives/daemon")
    (root / "lib").symlink_to("usr/lib")  # relative, as in a merged-/usr root
    assert _debian.resolve_in_root(root, "/usr/sbin/daemon") == root / "usr" / "lib" / "pkg" / "daemon"
    assert _debian.resolve_in_root(root, "/lib/pkg/daemon").read_text() == "inside"
    (root / "loop").symlink_to("/loop")
    with pytest.raises(BackendUnavailable, match="too many levels"):
        _debian.resolve_in_root(root, "/loop")


def test_sources_of_both_formats_are_read() -> None:
    one_line = "deb [signed-by=/k.gpg] http://mirror.example/debian bookworm main\n# deb http://x/debian sid main\n"
    assert list(_debian._sources_lines(one_line)) == [("http://mirror.example/debian", ["bookworm"])]
    deb822 = (
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: sid\nEnabled: no\n"
    )
    assert list(_debian._deb822_stanzas(deb822)) == [("http://mirror.example/debian", ["bookworm", "bookworm-updates"])]


# -- real installations ------------------------------------------------------------------


def test_an_installed_prefix_runs(tmp_path: Path) -> None:
    """A prefix laid out like ``make install`` (here: links to the host's programs) is the version under test."""
    host = _host_or_skip()
    prefix = tmp_path / "prefix"
    for sub in ("bin", "sbin", "share/openvswitch"):
        (prefix / sub).mkdir(parents=True)
    for name in PROGRAMS:
        with_dir = {"ovsdb-server": "sbin", "ovs-vswitchd": "sbin"}.get(name, "bin")
        try:
            (prefix / with_dir / name).symlink_to(host.argv(name)[-1])
        except BackendUnavailable:
            continue
    (prefix / "share" / "openvswitch" / "vswitch.ovsschema").symlink_to(host.schema)
    install = resolve_install(str(prefix))
    assert install.origin == f"prefix {prefix.resolve()}"
    assert install.version() == host.version()
    gen = private_ovs(ovs=str(prefix))
    daemon = next(gen)
    assert daemon.installed.origin == install.origin
    assert daemon.version.split()[-1] == host.version().split()[-1]
    pids, netns, rundir = list(daemon.pids.values()), daemon.netns, daemon.rundir
    assert rundir is not None
    gen.close()
    assert_no_leftovers(pids, netns, rundir)


def test_a_debian_release_runs_its_own_binaries() -> None:
    """debian:trixie runs 3.5.0 from its own root, never the host's binary behind an absolute link."""
    require(shutil.which("mmdebstrap") is not None, "mmdebstrap not installed (apt-get install mmdebstrap)")
    install = resolve_install("debian:trixie")
    assert install.origin.startswith("debian:trixie (openvswitch-switch 3.5.")
    assert install.version() == "ovs-vswitchd (Open vSwitch) 3.5.0"
    assert str(install.schema).startswith(str(_debian.cache_dir()))
    assert all(argv[0].startswith(str(_debian.cache_dir())) for _, argv in install.commands)


def test_an_unknown_release_is_exit_2_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    require(shutil.which("apt-get") is not None, "apt-get missing")
    env = {**os.environ, "UFIDCERT_CACHE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "certify", "--backend", "netdev", "--option", "ovs=debian:nosuchrelease"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "nosuchrelease" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "debian" / "nosuchrelease").exists(), "a half-made cache entry was left"
    assert not list(tmp_path.glob("roots/.nosuchrelease-*")), "a half-made root was left"


def _certify_netdev(option: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "certify", "--backend", "netdev", "--option", option],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def test_an_unreachable_archive_is_exit_2_and_leaves_nothing(tmp_path: Path) -> None:
    require(shutil.which("apt-get") is not None, "apt-get missing")
    # Port 9 (discard) on loopback: nothing listens, the download fails at once.
    done = _certify_netdev(
        "ovs=debian:trixie", {"UFIDCERT_CACHE": str(tmp_path), "UFIDCERT_DEBIAN_MIRROR": "http://127.0.0.1:9/debian"}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "debian:trixie" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "debian" / "trixie").exists(), "a half-made cache entry was left"
    assert not (tmp_path / "roots").exists() or not any((tmp_path / "roots").iterdir())


def test_no_space_is_named_and_leaves_nothing(tmp_path: Path) -> None:
    """A cache on a full filesystem (a 256 KiB tmpfs) gives exit 2 naming the lack of space."""
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "needs root to mount a small tmpfs")
    require(shutil.which("apt-get") is not None, "apt-get missing")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        done = _certify_netdev("ovs=debian:trixie", {"UFIDCERT_CACHE": str(small)})
        assert done.returncode == 2, done.stdout + done.stderr
        assert "no space left" in done.stderr.lower(), done.stderr
        assert "Traceback" not in done.stderr
        assert not (small / "debian" / "trixie").exists(), "a half-made cache entry was left"
    finally:
        subprocess.run(["umount", str(small)], check=False)
