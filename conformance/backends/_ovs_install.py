"""Which Open vSwitch programs the netdev backend runs: the host's, a Debian release's, or a directory's.

``ovs=`` of the netdev backend selects the version under test:

* absent: the programs installed on the host (``apt-get install openvswitch-switch``);
* ``debian:RELEASE``: a minimal root of that Debian release with
  ``openvswitch-switch`` (made once with mmdebstrap, cached, no service
  started). Its programs run through the root's own dynamic loader and
  libraries, so a trixie or sid binary runs on a bookworm host; every path is
  resolved inside the root (``/usr/sbin/ovs-vswitchd`` there is an absolute
  link that, followed on the host, would name the host's binary);
* a directory: an installed prefix (``sbin/ovs-vswitchd``, ``bin/ovsdb-tool``,
  ``share/openvswitch/vswitch.ovsschema``) or an OVS build tree
  (``vswitchd/ovs-vswitchd``, ``ovsdb/ovsdb-server``, ``utilities/ovs-vsctl``,
  ...), so an OVS developer certifies the tree they just built.

The schema always comes from the same place as the daemon: ovsdb-server
refuses, or worse silently accepts, a database made from another release's
schema.
"""

from __future__ import annotations

import errno as _errno
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conformance.backends import _debian
from conformance.errors import BackendUnavailable, UsageError

__all__ = ["PROGRAMS", "OvsInstall", "resolve_install"]

# The programs PrivateOvs runs; ovs-ofctl only for bridge-based benchmarks.
PROGRAMS = ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-vswitchd", "ovs-ofctl")
_REQUIRED = PROGRAMS[:4]
_SCHEMA = "vswitch.ovsschema"
_HOST_SCHEMA = Path("/usr/share/openvswitch") / _SCHEMA
_INSTALL_HINT = "install it with: apt-get install openvswitch-switch"
# Where each program lives: in an installed prefix, and in a build tree.
_PREFIX_DIRS = {
    "ovsdb-tool": "bin",
    "ovsdb-server": "sbin",
    "ovs-vsctl": "bin",
    "ovs-vswitchd": "sbin",
    "ovs-ofctl": "bin",
}
_TREE_DIRS = {
    "ovsdb-tool": "ovsdb",
    "ovsdb-server": "ovsdb",
    "ovs-vsctl": "utilities",
    "ovs-vswitchd": "vswitchd",
    "ovs-ofctl": "utilities",
}
_MULTIARCH = "x86_64-linux-gnu"
_VERSION = re.compile(r"\(Open vSwitch\)\s+(\S+)")


@dataclass(frozen=True, slots=True)
class OvsInstall:
    """One Open vSwitch installation: how to run each program, its schema, and where it came from.

    ``commands`` maps a program name to the argv prefix that runs it (a path,
    or a root's loader with its library path and the program's path).
    """

    commands: tuple[tuple[str, tuple[str, ...]], ...]
    schema: Path
    origin: str

    def argv(self, program: str) -> list[str]:
        """The command line prefix that runs ``program``; :class:`BackendUnavailable` if this install lacks it."""
        for name, argv in self.commands:
            if name == program:
                return list(argv)
        raise BackendUnavailable(f"{program} is not part of the Open vSwitch at {self.origin}", errno=_errno.ENOENT)

    def version(self, timeout: float = 10.0) -> str:
        """``ovs-vswitchd --version`` of the binary this install actually runs (its first line)."""
        argv = [*self.argv("ovs-vswitchd"), "--version"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendUnavailable(f"ovs-vswitchd of {self.origin} does not run: {exc}") from exc
        first = (done.stdout or done.stderr).strip().splitlines()[:1]
        if done.returncode != 0 or not first or not _VERSION.search(first[0]):
            said = first[0] if first else "no output"
            raise BackendUnavailable(f"ovs-vswitchd of {self.origin} does not run: exit {done.returncode}: {said}")
        return first[0]


def _host() -> OvsInstall:
    commands: list[tuple[str, tuple[str, ...]]] = []
    missing: list[str] = []
    for name in PROGRAMS:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin", name), Path("/usr/bin", name)) if p.exists()), None
        )
        if found:
            commands.append((name, (found,)))
        elif name in _REQUIRED:
            missing.append(name)
    if missing:
        raise BackendUnavailable(
            f"Open vSwitch is not installed ({', '.join(missing)} not found); {_INSTALL_HINT}", errno=_errno.ENOENT
        )
    if not _HOST_SCHEMA.exists():
        raise BackendUnavailable(f"Open vSwitch schema {_HOST_SCHEMA} is missing; {_INSTALL_HINT}", errno=_errno.ENOENT)
    return OvsInstall(tuple(commands), _HOST_SCHEMA, "host")


def _debian_root(release: str) -> OvsInstall:
    root, versions = _debian.bootstrap_root(release, ("openvswitch-switch",))
    origin = f"debian:{release} (openvswitch-switch {versions['openvswitch-switch']})"
    loader = _debian.resolve_in_root(root, "/lib64/ld-linux-x86-64.so.2")
    if not loader.is_file():
        raise BackendUnavailable(f"{origin}: the root at {root} has no dynamic loader", errno=_errno.ENOENT)
    lib_dirs = [_debian.resolve_in_root(root, d) for d in (f"/lib/{_MULTIARCH}", f"/usr/lib/{_MULTIARCH}")]
    libs = ":".join(str(d) for d in [_relinked_libraries(root, lib_dirs), *lib_dirs])
    commands: list[tuple[str, tuple[str, ...]]] = []
    for name in PROGRAMS:
        for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            path = _debian.resolve_in_root(root, f"{d}/{name}")
            if path.is_file():
                commands.append((name, (str(loader), "--library-path", libs, str(path))))
                break
        else:
            if name in _REQUIRED:
                raise BackendUnavailable(f"{origin}: {name} is missing from the root at {root}", errno=_errno.ENOENT)
    schema = _debian.resolve_in_root(root, f"/usr/share/openvswitch/{_SCHEMA}")
    if not schema.is_file():
        raise BackendUnavailable(f"{origin}: {_SCHEMA} is missing from the root at {root}", errno=_errno.ENOENT)
    return OvsInstall(tuple(commands), schema, origin)


def _relinked_libraries(root: Path, lib_dirs: list[Path]) -> Path:
    """A directory of links to the root's libraries whose own links are absolute, resolved inside the root.

    The loader follows a library's symlink as the host sees it, so a link
    such as bullseye's ``libopenvswitch-2.15.so.0.0.0 -> /etc/alternatives/...``
    would leave the root. Made once per root, renamed into place when complete.
    """
    out = root / ".ufidcert-libs"
    if out.is_dir():
        return out
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".ufidcert-libs-"))
    try:
        for d in lib_dirs:
            for entry in sorted(d.iterdir()) if d.is_dir() else ():
                if not entry.is_symlink() or (tmp / entry.name).exists():
                    continue
                target = _debian.resolve_in_root(root, str(Path("/") / entry.relative_to(root)))
                if target.is_file() and target.resolve() != entry.resolve():
                    (tmp / entry.name).symlink_to(target)
        tmp.rename(out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.is_dir():  # not merely another run that made it first
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _tree_srcdir(tree: Path) -> Path | None:
    # An out-of-tree build keeps the schema in its source directory; the
    # Makefile automake wrote names it.
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"^abs_srcdir\s*=\s*(\S+)\s*$", text, re.M)
    return Path(m.group(1)) if m else None


def _directory(value: str) -> OvsInstall:
    base = Path(value).expanduser()
    if not base.is_dir():
        raise UsageError(f"ovs={value!r}: no such directory (expected debian:RELEASE, an OVS prefix or build tree)")
    base = base.resolve()
    layouts = (
        ("build tree", _TREE_DIRS, [base / "vswitchd", *(s / "vswitchd" for s in [_tree_srcdir(base)] if s)]),
        ("prefix", _PREFIX_DIRS, [base / "share" / "openvswitch", base / "usr" / "share" / "openvswitch"]),
    )
    for kind, dirs, schema_dirs in layouts:
        if not (base / dirs["ovs-vswitchd"] / "ovs-vswitchd").is_file():
            continue
        commands = [(n, (str(base / d / n),)) for n, d in dirs.items() if (base / d / n).is_file()]
        missing = [n for n in _REQUIRED if n not in dict(commands)]
        if missing:
            raise BackendUnavailable(
                f"ovs={value}: an OVS {kind} without {', '.join(f'{dirs[n]}/{n}' for n in missing)}",
                errno=_errno.ENOENT,
            )
        schema = next((d / _SCHEMA for d in schema_dirs if (d / _SCHEMA).is_file()), None)
        if schema is None:
            raise BackendUnavailable(f"ovs={value}: an OVS {kind} without {_SCHEMA}", errno=_errno.ENOENT)
        return OvsInstall(tuple(commands), schema, f"{kind} {base}")
    raise BackendUnavailable(
        f"ovs={value}: neither an OVS prefix (sbin/ovs-vswitchd) nor a build tree (vswitchd/ovs-vswitchd)",
        errno=_errno.ENOENT,
    )


def resolve_install(value: str | None) -> OvsInstall:
    """The installation ``ovs=value`` names (``None``: the host's); raises with one line naming what is missing."""
    if value is None or value == "host":
        return _host()
    if value.startswith("debian:"):
        return _debian_root(_debian.parse_release(value, option="ovs"))
    return _directory(value)
