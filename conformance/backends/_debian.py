"""Packages and minimal roots of any Debian release, fetched without touching the system's apt.

The real datapaths under test come from Debian's archive: a release's
``linux-image-amd64`` for the kernel backend, a minimal root with
``openvswitch-switch`` (or the ``openvswitch-source`` tree) for the netdev
backend. Everything goes through a *private* apt configuration per release
under the cache directory (its own sources list, package lists and archive
cache), so the host's ``/etc/apt`` and its installed packages are never
changed and several releases can be used side by side.

The archive is the one the host's apt already uses (read from
``/etc/apt/sources.list`` and ``/etc/apt/sources.list.d``), or
``$UFIDCERT_DEBIAN_MIRROR``. Release files that have expired (sid's often
has) are accepted: we pin what we ran by package version in the report,
not by the Release file's date.

Every cache entry is written under a temporary name and renamed into place
when complete, so an interrupted download or bootstrap never leaves a
half-made entry that a later run would trust.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conformance.errors import BackendUnavailable, UsageError

__all__ = [
    "DebianPackage",
    "bootstrap_root",
    "built_into",
    "cache_dir",
    "dependencies",
    "download",
    "lists_fresh",
    "mirror",
    "parse_release",
    "resolve_dependency",
    "resolve_in_root",
]

_RELEASE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
_LISTS_MAX_AGE_S = 24 * 3600.0


def cache_dir() -> Path:
    """``$UFIDCERT_CACHE`` or ``~/.cache/ufidcert`` (``$XDG_CACHE_HOME`` honoured)."""
    env = os.environ.get("UFIDCERT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ufidcert"


def parse_release(value: str, *, option: str) -> str:
    """The release of a ``debian:RELEASE`` option value; :class:`UsageError` names the option otherwise."""
    if not value.startswith("debian:"):
        raise UsageError(f"{option}={value!r}: expected debian:RELEASE (e.g. debian:trixie) or a path")
    release = value[len("debian:") :]
    if not _RELEASE.match(release):
        raise UsageError(f"{option}={value!r}: {release!r} is not a Debian release name (bullseye, trixie, sid, ...)")
    return release


@dataclass(frozen=True, slots=True)
class DebianPackage:
    """One downloaded ``.deb``: its name, exact version, release and path in the cache."""

    name: str
    version: str
    release: str
    path: Path


def _sources_lines(text: str) -> Iterator[tuple[str, list[str]]]:
    # One-line format: "deb [opts] URI SUITE COMPONENTS..."
    for line in text.splitlines():
        parts = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(parts) >= 3 and parts[0] == "deb":
            yield parts[1], [parts[2]]


def _deb822_stanzas(text: str) -> Iterator[tuple[str, list[str]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split()


def mirror() -> str:
    """The Debian archive to use: ``$UFIDCERT_DEBIAN_MIRROR`` or the one the host's apt uses."""
    env = os.environ.get("UFIDCERT_DEBIAN_MIRROR")
    if env:
        return env.rstrip("/")
    candidates: list[tuple[str, list[str]]] = []
    etc = Path("/etc/apt")
    with contextlib.suppress(OSError):
        candidates += _sources_lines((etc / "sources.list").read_text())
    with contextlib.suppress(OSError):
        for f in sorted((etc / "sources.list.d").iterdir()):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if f.suffix == ".list":
                    candidates += _sources_lines(f.read_text())
                elif f.suffix == ".sources":
                    candidates += _deb822_stanzas(f.read_text())
    for uri, suites in candidates:
        # The main archive, not its security or backports mirrors: those carry no full release.
        if uri.rstrip("/").endswith("/debian") and any("-" not in s for s in suites):
            return uri.rstrip("/")
    raise BackendUnavailable(
        "no Debian archive found in the host's apt sources; set UFIDCERT_DEBIAN_MIRROR to one", errno=_errno.ENOENT
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def built_into(final: Path, *, prefix: str) -> Iterator[Path]:
    """A fresh directory beside ``final`` to build a cache entry in, renamed to ``final`` when the block ends.

    When the block raises (or is interrupted) the directory is removed, so an
    entry is either whole or absent; the caller holds the entry's lock.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=prefix))
    try:
        yield tmp
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run(argv: list[str], *, what: str, cwd: Path | None = None, timeout: float = 900) -> str:
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise BackendUnavailable(f"{what}: {argv[0]} not found", errno=_errno.ENOENT) from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendUnavailable(
            f"{what}: {argv[0]} gave no answer in {timeout:.0f} s", errno=_errno.ETIMEDOUT
        ) from exc
    if p.returncode:
        lines = [ln for ln in (p.stderr + "\n" + p.stdout).splitlines() if ln.strip()]
        if any("No space left on device" in ln for ln in lines):
            raise BackendUnavailable(f"{what}: no space left on device under {cache_dir()}", errno=_errno.ENOSPC)
        # apt's first error names the cause ("Failed to fetch ... Connection refused"); the last one
        # is often a summary ("Some index files failed"), and warnings may come first (apt running
        # unsandboxed when the cache is not readable by _apt) without being the cause.
        errors = [ln for ln in lines if ln.startswith("E:") and "Some index files failed" not in ln]
        tail = (
            errors[0]
            if errors
            else next((ln for ln in lines if ln.startswith(("E:", "W:"))), lines[-1] if lines else "")
        )
        raise BackendUnavailable(f"{what}: {tail.strip()}", errno=_errno.EIO)
    return p.stdout


class _Apt:
    """apt-get/apt-cache with a private configuration for one release."""

    def __init__(self, release: str) -> None:
        self.release = release
        self.base = cache_dir() / "debian" / release
        self.opts = [
            "-o",
            f"Dir::Etc::sourcelist={self.base / 'sources.list'}",
            "-o",
            "Dir::Etc::sourceparts=-",
            "-o",
            f"Dir::State::Lists={self.base / 'lists'}",
            "-o",
            f"Dir::State::status={self.base / 'status'}",
            "-o",
            f"Dir::Cache={self.base / 'cache'}",
            "-o",
            "Acquire::Check-Valid-Until=false",
            "-o",
            "APT::Get::List-Cleanup=false",
            "-o",
            "Debug::NoLocking=true",
        ]

    def update(self) -> None:
        stamp = self.base / "lists" / ".updated"
        with contextlib.suppress(OSError):
            if os.path.getmtime(stamp) > time.time() - _LISTS_MAX_AGE_S:
                return
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "status").touch()
        (self.base / "sources.list").write_text(f"deb {mirror()} {self.release} main\n")
        fresh = not stamp.exists()
        try:
            _run(["apt-get", *self.opts, "-qq", "--error-on=any", "update"], what=f"debian:{self.release}")
        except BackendUnavailable as exc:
            if fresh:
                # A release that never updated leaves no cache entry behind.
                shutil.rmtree(self.base, ignore_errors=True)
            if "does not have a Release file" in exc.reason or "404" in exc.reason:
                raise BackendUnavailable(
                    f"debian:{self.release}: the archive {mirror()} serves no release {self.release!r}",
                    errno=_errno.ENOENT,
                ) from exc
            raise
        stamp.touch()

    def candidate(self, package: str) -> str:
        out = _run(["apt-cache", *self.opts, "policy", package], what=f"debian:{self.release} {package}")
        m = re.search(r"Candidate:\s*(\S+)", out)
        if not m or m.group(1) == "(none)":
            raise BackendUnavailable(f"debian:{self.release} has no package {package!r}", errno=_errno.ENOENT)
        return m.group(1)

    def depends(self, package: str) -> list[str]:
        out = _run(["apt-cache", *self.opts, "depends", package], what=f"debian:{self.release} {package}")
        return [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.strip().startswith("Depends:")]

    def download(self, package: str, version: str, dest: Path) -> Path:
        _run(
            ["apt-get", *self.opts, "-qq", "download", f"{package}={version}"],
            what=f"debian:{self.release} {package}",
            cwd=dest,
        )
        debs = sorted(dest.glob(f"{package}_*.deb"))
        if not debs:
            raise BackendUnavailable(f"debian:{self.release}: apt-get download {package} produced no .deb")
        return debs[0]


def download(release: str, package: str) -> DebianPackage:
    """The candidate ``.deb`` of ``package`` in ``release``, downloaded once into the cache."""
    apt = _Apt(release)
    with _locked(apt.base / ".lock"):
        apt.update()
        version = apt.candidate(package)
        debs = apt.base / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        safe = version.replace(":", "%3a")
        final = debs / f"{package}_{safe}.deb"
        if not final.is_file():
            with tempfile.TemporaryDirectory(dir=debs, prefix=".dl-") as tmp:
                got = apt.download(package, version, Path(tmp))
                got.replace(final)
    return DebianPackage(package, version, release, final)


def lists_fresh(release: str) -> str | None:
    """What identifies ``release``'s package lists while they are fresh (updated less than a day ago), else None.

    Whatever is computed from the lists alone (a candidate version, a
    dependency) may be reused as long as this value stays the same.
    """
    try:
        st = (_Apt(release).base / "lists" / ".updated").stat()
    except OSError:
        return None
    if st.st_mtime <= time.time() - _LISTS_MAX_AGE_S:
        return None
    return f"{mirror()} {release} {st.st_mtime_ns}"


def resolve_dependency(release: str, package: str, prefix: str) -> str:
    """The first dependency of ``package`` in ``release`` whose name starts with ``prefix``."""
    apt = _Apt(release)
    with _locked(apt.base / ".lock"):
        apt.update()
        for dep in apt.depends(package):
            if dep.startswith(prefix):
                return dep
    raise BackendUnavailable(f"debian:{release}: {package} depends on no {prefix}* package", errno=_errno.ENOENT)


def dependencies(release: str, package: str) -> list[str]:
    """The names ``package`` depends on in ``release`` (every alternative, virtual ones in ``<>``)."""
    apt = _Apt(release)
    with _locked(apt.base / ".lock"):
        apt.update()
        apt.candidate(package)  # an unknown package is named as such, not as "no dependencies"
        return apt.depends(package)


def bootstrap_root(release: str, packages: tuple[str, ...]) -> tuple[Path, dict[str, str]]:
    """A minimal root of ``release`` with ``packages`` (no service started), cached; returns (root, versions).

    The cache entry is keyed by the exact candidate version of every package
    asked for, so a new upload to the release makes a new root instead of
    reusing an older one under the same name.
    """
    if shutil.which("mmdebstrap") is None:
        raise BackendUnavailable("mmdebstrap not found (apt-get install mmdebstrap)", errno=_errno.ENOENT)
    apt = _Apt(release)
    with _locked(apt.base / ".lock"):
        apt.update()
        versions = {p: apt.candidate(p) for p in packages}
    key = "-".join(f"{p}_{v}" for p, v in sorted(versions.items())).replace(":", "%3a")
    roots = cache_dir() / "roots"
    final = roots / f"{release}-{key}"
    with _locked(roots / f".{release}.lock"):
        if (final / ".ufidcert-complete").is_file():
            return final, versions
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        with built_into(final, prefix=f".{release}-") as tmp:
            _run(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--mode=root",
                    "--variant=essential",
                    '--aptopt=Acquire::Check-Valid-Until "false"',
                    # No maintainer script may start a service in the new root.
                    "--customize-hook=true",
                    f"--include={','.join(packages)}",
                    release,
                    str(tmp),
                    mirror(),
                ],
                what=f"debian:{release} root with {', '.join(packages)}",
                timeout=1800,
            )
            (tmp / ".ufidcert-complete").write_text(" ".join(f"{p}={v}" for p, v in versions.items()) + "\n")
    return final, versions


def resolve_in_root(root: Path, path: str, *, _depth: int = 0) -> Path:
    """``path`` as seen from inside ``root``: every symlink, absolute or relative, is followed within it.

    Resolving with the host's view would be wrong: ``/usr/sbin/ovs-vswitchd``
    in a Debian root is an absolute alternatives-style link that, followed
    on the host, lands on the *host's* binary.
    """
    if _depth > 40:
        raise BackendUnavailable(f"{root}: too many levels of symbolic links resolving {path}", errno=_errno.ELOOP)
    parts = [p for p in Path(path).parts if p not in ("/", "")]
    cur = Path("/")
    for i, part in enumerate(parts):
        if part == "..":
            cur = cur.parent
            continue
        cand = cur / part
        host = root / cand.relative_to("/")
        if host.is_symlink():
            target = os.readlink(host)
            rest = "/".join(parts[i + 1 :])
            joined = target if target.startswith("/") else str(cur / target)
            return resolve_in_root(root, f"{joined}/{rest}" if rest else joined, _depth=_depth + 1)
        cur = cand
    return root / cur.relative_to("/")
