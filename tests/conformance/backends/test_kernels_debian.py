"""``kernel=debian:RELEASE`` against the real archive: bad input ends in one line, exit 2 and an untouched cache.

Each test starts from an empty ``$UFIDCERT_CACHE``. The ones that ask the
archive need it reachable (CI has the network; ``require`` fails there
instead of skipping); the unreachable mirror is 127.0.0.1:9, nothing
listens there.
"""

from __future__ import annotations

import shutil
import socket
import urllib.parse
from pathlib import Path

import pytest

from conformance.backends import _debian, _kernels, _qemu
from conformance.cli import main
from conformance.errors import BackendUnavailable
from tests._support import qemu_children, require

_DEAD_MIRROR = "http://127.0.0.1:9/debian"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UFIDCERT_CACHE", str(tmp_path / "cache"))
    for tool in ("apt-get", "apt-cache"):
        require(shutil.which(tool) is not None, f"{tool} not found")
    return tmp_path / "cache"


def _archive_reachable() -> str | None:
    """None when the Debian archive answers on its port, else why not."""
    try:
        url = urllib.parse.urlsplit(_debian.mirror())
        with socket.create_connection((url.hostname or "", url.port or 80), timeout=10):
            return None
    except (OSError, BackendUnavailable) as exc:
        return f"the Debian archive is not reachable: {exc}"


def _files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_an_unknown_release_is_named_and_leaves_nothing(cache: Path) -> None:
    reason = _archive_reachable()
    require(reason is None, str(reason))
    with pytest.raises(BackendUnavailable) as info:
        _kernels.resolve("debian:nosuchrelease", None)
    assert str(info.value) == (
        f"debian:nosuchrelease: the archive {_debian.mirror()} serves no release 'nosuchrelease'"
    )
    assert _files(cache) == []


def test_a_failed_download_is_named_and_leaves_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UFIDCERT_DEBIAN_MIRROR", _DEAD_MIRROR)
    with pytest.raises(BackendUnavailable) as info:
        _kernels.resolve("debian:trixie", None)
    message = str(info.value)
    assert message.startswith(f"debian:trixie: E: Failed to fetch {_DEAD_MIRROR}/dists/trixie/") and "\n" not in message
    assert _files(cache) == []  # in particular no package lists marked fresh


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("kernel=debian:nosuchrelease", "serves no release 'nosuchrelease'"),
        ("kernel=debian:Bad_Name", "'Bad_Name' is not a Debian release name"),
        ("kernel=/etc/hostname", "kernel=/etc/hostname: not a Linux kernel image"),
        ("kernel=/nonexistent/bzImage", "kernel=/nonexistent/bzImage: no such file"),
    ],
)
def test_certify_exits_2_with_one_line_and_no_guest(
    cache: Path, capsys: pytest.CaptureFixture[str], option: str, expected: str
) -> None:
    require(_qemu.qemu_missing() is None, f"kernel VM: {_qemu.qemu_missing()}")
    if "nosuchrelease" in option:
        reason = _archive_reachable()
        require(reason is None, str(reason))
    argv = ["certify", "--backend", "kernel", "--option", "where=vm", "--option", option, "--profile", "smoke", "-q"]
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("ufidcert certify: could not run")]
    assert len(err) == 1 and expected in err[0], err
    assert qemu_children() == [] and _files(cache) == []
