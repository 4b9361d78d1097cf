"""OVS's own library (libopenvswitch) built from source, and the dpif driver linked against it.

No Debian release ships libopenvswitch as a library package (the binaries in
``openvswitch-common`` link it statically), so ``ovs=debian:RELEASE`` builds
it from the release's ``openvswitch-source`` package: bookworm ships a
tarball under ``usr/src/openvswitch``, trixie an unpacked tree. Only the
library is built (``configure --disable-ssl --disable-libcapng``; the
generated headers first, because ``make lib/libopenvswitch.la`` alone does
not generate ``include/odp-netlink.h``), out of tree, with the source under
``src/`` and the build under ``build/`` of one cache entry per source
package version. ``ovs=DIR`` uses a user's configured and built OVS tree
instead (``DIR/lib/.libs/libopenvswitch.a`` must exist).

The driver (``dpifdrv/driver.c``) is compiled with its own ``Makefile``
and cached next to the library it was linked against, keyed by the hash of
the driver's sources and of the library. Every cache entry is made under a
temporary name and renamed into place when complete: an interrupted or
failed build leaves nothing a later run would trust. A failed build raises
:class:`~conformance.errors.BackendUnavailable` carrying the compiler's last
lines.
"""

from __future__ import annotations

import errno as _errno
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conformance.backends import _debian
from conformance.errors import BackendUnavailable, UsageError

__all__ = ["DRIVER_DIR", "OvsTree", "build_driver", "cached_tree", "debian_tree", "resolve_tree", "user_tree"]

DRIVER_DIR = Path(__file__).resolve().parent / "dpifdrv"
_DRIVER_FILES = ("driver.c", "Makefile")
_DRIVER_NAME = "ufidcert-dpifdrv"
_TAIL_LINES = 15
_GENERATED = ("include/odp-netlink.h", "include/odp-netlink-macros.h", "lib/vswitch-idl.h", "lib/ovsdb-server-idl.h")
_LIBRARY = "lib/.libs/libopenvswitch.a"
_COMPLETE = ".ufidcert-complete"


@dataclass(frozen=True, slots=True)
class OvsTree:
    """A configured and built OVS: source and build directories, version, where it came from."""

    src: Path
    build: Path
    version: str
    origin: str


def _jobs() -> str:
    return str(max(1, os.cpu_count() or 1))


def _tail(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-_TAIL_LINES:])


def _step(argv: list[str], *, cwd: Path, what: str, log: Path, timeout: float = 1800) -> None:
    """Run one build step, appending its output to ``log``; the last lines on failure."""
    try:
        p = subprocess.run(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise BackendUnavailable(f"{what}: {argv[0]} not found", errno=_errno.ENOENT) from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendUnavailable(f"{what}: no result within {timeout:.0f} s", errno=_errno.ETIMEDOUT) from exc
    with open(log, "a") as fh:
        fh.write(f"$ {' '.join(argv)}\n{p.stdout}\n")
    if p.returncode:
        raise BackendUnavailable(f"{what} failed (exit {p.returncode}):\n{_tail(p.stdout)}", errno=_errno.EIO)


def _build_file(build: Path, name: str, hint: str) -> str:
    """The text of ``build``'s file ``name``; ENOENT with ``hint`` when it cannot be read."""
    try:
        return (build / name).read_text()
    except OSError as exc:
        raise BackendUnavailable(f"{build}: no {name} ({hint})", errno=_errno.ENOENT) from exc


def _version_of(build: Path) -> str:
    text = _build_file(build, "config.h", "is it a configured OVS build tree?")
    m = re.search(r'^#define PACKAGE_VERSION "([^"]+)"', text, re.M)
    if m is None:
        raise BackendUnavailable(f"{build}/config.h defines no PACKAGE_VERSION", errno=_errno.EINVAL)
    return m.group(1)


def _unpack_source(deb: Path, dest: Path, log: Path) -> None:
    """The source tree of an ``openvswitch-source`` .deb as ``dest``."""
    raw = dest.parent / "deb"
    _step(["dpkg-deb", "-x", str(deb), str(raw)], cwd=dest.parent, what=f"dpkg-deb -x {deb.name}", log=log)
    top = raw / "usr" / "src" / "openvswitch"
    tarballs = sorted(top.glob("openvswitch*.tar*"))
    if tarballs:
        # bookworm: one tarball whose single top directory is the tree.
        unpacked = dest.parent / "tar"
        unpacked.mkdir()
        _step(["tar", "-xf", str(tarballs[0]), "-C", str(unpacked)], cwd=dest.parent, what="tar -x", log=log)
        (tree,) = [p for p in unpacked.iterdir() if p.is_dir()] or [unpacked]
        tree.rename(dest)
        shutil.rmtree(unpacked, ignore_errors=True)
    elif (top / "configure").is_file():
        top.rename(dest)  # trixie and later: the tree itself
    else:
        raise BackendUnavailable(f"{deb.name}: neither a tarball nor a configured tree under usr/src/openvswitch")
    shutil.rmtree(raw, ignore_errors=True)
    if not (dest / "configure").is_file():
        raise BackendUnavailable(f"{deb.name}: the source tree has no generated configure script")


def _build_library(src: Path, build: Path, log: Path) -> None:
    build.mkdir()
    # A relative path to configure keeps the build valid after the entry is renamed into place.
    configure = os.path.relpath(src / "configure", build)
    python3 = shutil.which("python3") or "/usr/bin/python3"
    _step(
        [configure, "--disable-ssl", "--disable-libcapng", f"PYTHON3={python3}"],
        cwd=build,
        what="OVS configure",
        log=log,
    )
    _step(["make", f"-j{_jobs()}", *_GENERATED], cwd=build, what="make (generated headers)", log=log)
    _step(["make", f"-j{_jobs()}", "lib/libopenvswitch.la"], cwd=build, what="make lib/libopenvswitch.la", log=log)


def debian_tree(release: str) -> OvsTree:
    """The ``openvswitch-source`` of ``release`` configured and built (library only), cached by package version."""
    pkg = _debian.download(release, "openvswitch-source")
    base = _debian.cache_dir() / "ovs-lib"
    final = base / f"{release}-{pkg.version.replace(':', '%3a')}"
    with _debian._locked(base / f".{release}.lock"):
        if not (final / _COMPLETE).is_file():
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            with _debian.built_into(final, prefix=f".{release}-") as tmp:
                log = tmp / "build.log"
                _unpack_source(pkg.path, tmp / "src", log)
                _build_library(tmp / "src", tmp / "build", log)
                (tmp / _COMPLETE).write_text(f"openvswitch-source={pkg.version} ({release})\n")
    build = final / "build"
    return OvsTree(final / "src", build, _version_of(build), f"debian:{release} openvswitch-source {pkg.version}")


def cached_tree(release: str) -> OvsTree | None:
    """The newest complete library build of ``release`` already in the cache (no download, no build)."""
    done = sorted((_debian.cache_dir() / "ovs-lib").glob(f"{release}-*/{_COMPLETE}"))
    if not done:
        return None
    final = done[-1].parent
    version = final.name[len(release) + 1 :].replace("%3a", ":")
    build = final / "build"
    return OvsTree(final / "src", build, _version_of(build), f"debian:{release} openvswitch-source {version}")


def _source_of(build: Path) -> Path:
    """The source directory of a (possibly out-of-tree) OVS build, from its Makefile."""
    text = _build_file(build, "Makefile", "run OVS's configure there first")
    # top_srcdir is relative for a build configured as ../src/configure and stays
    # right when the tree is moved; abs_top_srcdir does not.
    for var in ("top_srcdir", "abs_top_srcdir"):
        m = re.search(rf"^{var} = (.+)$", text, re.M)
        if m and (build / m.group(1).strip() / "lib" / "dpif.h").is_file():
            return (build / m.group(1).strip()).resolve()
    return build


def user_tree(path: str) -> OvsTree:
    """A user's configured and built OVS tree (in-tree or out-of-tree build)."""
    build = Path(path).expanduser().resolve()
    if not build.is_dir():
        raise UsageError(f"option ovs={path!r}: no such directory")
    if not (build / _LIBRARY).is_file():
        raise BackendUnavailable(
            f"{build}: no {_LIBRARY}; build the library there first (make lib/libopenvswitch.la)", errno=_errno.ENOENT
        )
    return OvsTree(_source_of(build), build, _version_of(build), f"OVS build tree {build}")


def resolve_tree(value: str) -> OvsTree:
    """``debian:RELEASE`` or a directory (the ``ovs=`` option)."""
    if value.startswith("debian:"):
        return debian_tree(_debian.parse_release(value, option="ovs"))
    if "/" in value or value.startswith("."):
        return user_tree(value)
    raise UsageError(f"option ovs={value!r}: expected debian:RELEASE (e.g. debian:trixie) or an OVS build directory")


def _driver_key(tree: OvsTree) -> str:
    h = hashlib.sha256()
    for name in _DRIVER_FILES:
        h.update(name.encode() + b"\0" + (DRIVER_DIR / name).read_bytes())
    lib = tree.build / _LIBRARY
    st = lib.stat()
    h.update(f"{lib}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def build_driver(tree: OvsTree) -> Path:
    """The driver linked against ``tree``'s library, compiled once per (driver sources, library) pair."""
    key = _driver_key(tree)
    base = _debian.cache_dir() / "ovs-dpifdrv"
    final = base / f"{tree.version}-{key}"
    exe = final / _DRIVER_NAME
    if exe.is_file():
        return exe
    base.mkdir(parents=True, exist_ok=True)
    with _debian._locked(base / f".{key}.lock"):
        if exe.is_file():
            return exe
        with _debian.built_into(final, prefix=f".{key}-") as tmp:
            _step(
                [
                    "make",
                    "-s",
                    "-f",
                    str(DRIVER_DIR / "Makefile"),
                    f"OVS_SRC={tree.src}",
                    f"OVS_BUILD={tree.build}",
                    f"OUT={tmp / _DRIVER_NAME}",
                ],
                cwd=tmp,
                what=f"building the dpif driver against OVS {tree.version}",
                log=tmp / "build.log",
                timeout=300,
            )
    return exe
