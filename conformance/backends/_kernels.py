"""Kernels the QEMU guest boots: where each comes from, its cache entry, its boot modules.

``kernel=debian:RELEASE`` takes the package RELEASE's ``linux-image-amd64``
depends on, downloads it through :mod:`._debian`'s private apt
configuration and extracts it with ``dpkg-deb -x``: never installed, so
no maintainer script, initramfs-tools or systemd runs. Since Linux 7.x
Debian splits that package: ``linux-image-VER`` is a metapackage over
``linux-binary-VER`` (vmlinuz in ``usr/lib/modules/VER``),
``linux-modules-VER`` and ``linux-base-VER`` (modules.builtin); every
``linux-*-VER`` dependency is extracted into the same tree.
``kernel=PATH`` boots a bzImage (or PVH ELF) with an optional
``modules=DIR`` tree. Without ``kernel=``: this host's Debian release.

Cache (under :func:`._debian.cache_dir`): ``kernels/VER-SHA`` holds one
Debian kernel (SHA: sha256 over its packages' bytes) as ``root/``,
``kernel.json`` and the boot images built for it; ``kernels/local-SHA``
(sha256 of the image) holds the boot images of a PATH kernel. An entry is
built under a temporary name and renamed when complete.

Boot modules (virtio, 9p, overlay and what they depend on, per the tree's
``modules.dep``) go into the initramfs decompressed: ``.ko.xz``,
``.ko.zst`` and ``.ko.gz`` are what Debian ships since trixie, and busybox
``insmod`` takes plain ELF only.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import gzip
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.backends import _debian
from conformance.backends._debian import _locked, _run
from conformance.errors import BackendUnavailable, UsageError

__all__ = [
    "BOOT_TARGETS",
    "BootKernel",
    "boot_modules",
    "debian_kernel",
    "host_release",
    "kernels_dir",
    "load_order",
    "local_kernel",
    "module_bytes",
    "module_name",
    "parse_modules_dep",
    "resolve",
    "write_atomically",
]

# What the initramfs needs before it can mount the host root and open the relay port;
# modules.dep adds what these depend on (netfs/fscache for 9p, virtio_ring, ...).
BOOT_TARGETS = ("virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay")
# A tree without modules.dep: these names, in this order (the 6.1 load order).
_FALLBACK_ORDER = (
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_console",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
    "overlay",
)
_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")


@dataclass(frozen=True, slots=True)
class BootKernel:
    """A kernel ready to boot: image, module tree (None: all built in), tree version, origin, cache entry."""

    vmlinuz: Path
    modules: Path | None
    release: str
    source: str
    entry: Path


def kernels_dir() -> Path:
    """Where kernel cache entries live."""
    return _debian.cache_dir() / "kernels"


# -- modules.dep and compressed modules (no I/O in the first three) ---------------------------------------------


def module_name(path: str) -> str | None:
    """``kernel/fs/9p/9p.ko.xz`` -> ``9p`` (``-`` read as ``_``, as modprobe does); None if not a module."""
    base = path.rsplit("/", 1)[-1]
    for suffix in _SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)].replace("-", "_")
    return None


def parse_modules_dep(text: str, *, where: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """modules.dep as ``{name: (path, dependency paths)}``; :class:`BackendUnavailable` names a bad line."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        path, sep, deps = line.partition(":")
        name = module_name(path.strip())
        if not sep or name is None:
            raise BackendUnavailable(f"{where}:{n}: not a modules.dep line: {line[:80]!r}", errno=_errno.EINVAL)
        out.setdefault(name, (path.strip(), tuple(deps.split())))
    return out


def load_order(dep: Mapping[str, tuple[str, tuple[str, ...]]], targets: tuple[str, ...]) -> list[str]:
    """Paths of ``targets`` and everything they need, each after its dependencies (absent targets: built in)."""
    needs = {path: deps for path, deps in dep.values()}
    order: list[str] = []
    done: set[str] = set()

    def visit(path: str, stack: tuple[str, ...]) -> None:
        if path in done:
            return
        if path in stack:
            raise BackendUnavailable(f"modules.dep: dependency cycle {' -> '.join((*stack, path))}", errno=_errno.ELOOP)
        for d in needs.get(path, ()):
            visit(d, (*stack, path))
        done.add(path)
        order.append(path)

    for target in targets:
        if target in dep:
            visit(dep[target][0], ())
    return order


def module_bytes(path: Path) -> bytes:
    """The ELF object of a module file, decompressed (``.ko.xz``, ``.ko.zst``, ``.ko.gz``) when it is."""
    try:
        if path.name.endswith(".ko.xz"):
            return lzma.decompress(path.read_bytes())
        if path.name.endswith(".ko.gz"):
            return gzip.decompress(path.read_bytes())
        if path.name.endswith(".ko.zst"):
            zstd = shutil.which("zstd")
            if zstd is None:
                raise BackendUnavailable(f"{path}: zstd not found to decompress it (apt-get install zstd)")
            p = subprocess.run([zstd, "-dcq", str(path)], capture_output=True, timeout=120, check=False)
            if p.returncode:
                raise lzma.LZMAError(p.stderr.decode(errors="replace").strip() or f"zstd exit {p.returncode}")
            return p.stdout
        return path.read_bytes()
    except (lzma.LZMAError, gzip.BadGzipFile, EOFError) as exc:
        raise BackendUnavailable(f"{path}: not a valid compressed module ({exc})", errno=_errno.EINVAL) from None
    except OSError as exc:
        if isinstance(exc, BackendUnavailable):
            raise
        raise BackendUnavailable(f"{path}: {exc.strerror or exc}", errno=exc.errno or _errno.EIO) from None


def boot_modules(modules: Path | None) -> list[tuple[str, bytes]]:
    """(name, ELF bytes) of the boot modules in ``modules``, in load order; [] when everything is built in."""
    if modules is None:
        return []
    depfile = modules / "modules.dep"
    if depfile.is_file():
        dep = parse_modules_dep(depfile.read_text(errors="replace"), where=str(depfile))
        paths = [modules / p for p in load_order(dep, BOOT_TARGETS)]
    else:
        found: dict[str, Path] = {}
        for p in sorted(modules.rglob("*.ko*")):
            name = module_name(p.name)
            if name is not None:
                found.setdefault(name, p)
        paths = [found[m] for m in _FALLBACK_ORDER if m in found]
    out = []
    for p in paths:
        name = module_name(p.name)
        assert name is not None  # load_order only returns module paths
        out.append((name, module_bytes(p)))
    return out


# -- cache entries ------------------------------------------------------------------------------------------------


def _no_space(exc: OSError, what: str) -> BackendUnavailable:
    if exc.errno == _errno.ENOSPC:
        return BackendUnavailable(f"{what}: no space left on device under {_debian.cache_dir()}", errno=_errno.ENOSPC)
    return BackendUnavailable(f"{what}: {exc.strerror or exc}", errno=exc.errno or _errno.EIO)


def _build_entry(entry: Path, build: Callable[[Path], None], *, what: str) -> None:
    """Make ``entry`` with ``build(tmp)`` unless complete (``kernel.json``); renamed into place only when whole."""
    try:
        with _locked(entry.parent / ".lock"):
            if (entry / "kernel.json").is_file():
                return
            with _debian.built_into(entry, prefix=".tmp-") as tmp:
                tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache's entry from its other users
                build(tmp)
                if entry.exists():
                    shutil.rmtree(entry)  # not ours: no kernel.json, so never completed
    except BackendUnavailable:
        raise
    except OSError as exc:
        raise _no_space(exc, what) from None


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _extract(tmp: Path, packages: list[_debian.DebianPackage], kver: str) -> None:
    root = tmp / "root"
    for pkg in packages:
        _run(["dpkg-deb", "-x", str(pkg.path), str(root)], what=f"extracting {pkg.path.name}")
    names = ", ".join(p.name for p in packages)
    trees = [
        d for d in (root / "usr/lib/modules" / kver, root / "lib/modules" / kver) if d.is_dir() and not d.is_symlink()
    ]
    if not trees:
        raise BackendUnavailable(
            f"{names}: no lib/modules/{kver} or usr/lib/modules/{kver} inside", errno=_errno.ENOENT
        )
    tree = trees[0]
    images = [p for p in (root / "boot" / f"vmlinuz-{kver}", tree / "vmlinuz") if p.is_file()]
    if not images:
        raise BackendUnavailable(f"{names}: no boot/vmlinuz-{kver} or {kver}/vmlinuz inside", errno=_errno.ENOENT)
    if not (root / "lib").exists():
        # depmod -b ROOT (kmod <= 31) reads ROOT/lib/modules; a merged-/usr system has /lib -> usr/lib.
        (root / "lib").symlink_to("usr/lib")
    _run(["depmod", "-b", str(root), kver], what=f"depmod -b for {kver}")
    if not (tree / "modules.dep").is_file():
        raise BackendUnavailable(f"depmod -b for {kver} wrote no modules.dep", errno=_errno.EIO)
    meta = {
        "release": kver,
        "vmlinuz": str(images[0].relative_to(tmp)),
        "modules": str(tree.relative_to(tmp)),
        "packages": [{"name": p.name, "version": p.version, "sha256": _sha256(p.path)} for p in packages],
    }
    (tmp / "kernel.json").write_text(json.dumps(meta, indent=1) + "\n")


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` into ``path`` under a temporary name in its directory, renamed when whole; on error no file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # as an ordinary file, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _kernel_packages(release: str) -> tuple[str, list[_debian.DebianPackage], str]:
    """(version, downloaded packages, content key) of ``release``'s kernel; reused while its lists stay the same.

    Resolving asks apt-cache four times or more (seconds each on a busy
    machine, for every boot); the answer depends on the package lists
    only, so it is remembered with their identity in
    ``kernels/resolved-RELEASE.json``.
    """
    memo = kernels_dir() / f"resolved-{release}.json"
    lists = _debian.lists_fresh(release)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        doc = json.loads(memo.read_text())
        if lists is not None and doc["lists"] == lists:
            packages = [
                _debian.DebianPackage(p["name"], p["version"], release, Path(p["path"])) for p in doc["packages"]
            ]
            if packages and all(p.path.is_file() for p in packages):
                return str(doc["release"]), packages, str(doc["key"])
    image = _debian.resolve_dependency(release, "linux-image-amd64", "linux-image-")
    kver = image[len("linux-image-") :]
    if not kver[:1].isdigit():
        raise BackendUnavailable(f"debian:{release}: linux-image-amd64 depends on {image}, not a versioned kernel")
    packages = [_debian.download(release, image)]
    for dep in _debian.dependencies(release, image):
        # linux-binary-VER, linux-modules-VER, linux-base-VER: the split kernel of Linux 7.x packaging.
        if dep.startswith("linux-") and dep.endswith(f"-{kver}") and dep not in {p.name for p in packages}:
            packages.append(_debian.download(release, dep))
    # The entry's key: every package's name and bytes (downloads are renamed into place, never rewritten).
    digest = hashlib.sha256()
    for pkg in sorted(packages, key=lambda p: p.name):
        digest.update(f"{pkg.name}\0{_sha256(pkg.path)}\0".encode())
    key = f"{kver}-{digest.hexdigest()[:16]}"
    lists = _debian.lists_fresh(release)  # after the update the calls above may have made
    if lists is not None:
        doc = {
            "lists": lists,
            "release": kver,
            "key": key,
            "packages": [{"name": p.name, "version": p.version, "path": str(p.path)} for p in packages],
        }
        with contextlib.suppress(OSError):  # only a shortcut: failing to write it costs time, nothing else
            write_atomically(memo, (json.dumps(doc) + "\n").encode())
    return kver, packages, key


def debian_kernel(release: str, *, why: str = "") -> BootKernel:
    """The kernel ``release``'s ``linux-image-amd64`` depends on, downloaded and extracted once (cached)."""
    kver, packages, key = _kernel_packages(release)
    entry = kernels_dir() / key
    _build_entry(
        entry, lambda tmp: _extract(tmp, packages, kver), what=f"kernel {packages[0].name} of debian:{release}"
    )
    meta = json.loads((entry / "kernel.json").read_text())
    pkgs = ", ".join(f"{p.name}={p.version}" for p in packages)
    return BootKernel(
        vmlinuz=entry / meta["vmlinuz"],
        modules=entry / meta["modules"],
        release=meta["release"],
        source=f"debian:{release}{why} {pkgs}",
        entry=entry,
    )


def host_release(os_release: Path = Path("/etc/os-release")) -> str:
    """This host's Debian release (``VERSION_CODENAME``); :class:`BackendUnavailable` when it is not Debian."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in os_release.read_text().splitlines():
            k, sep, v = line.partition("=")
            if sep:
                fields[k.strip()] = v.strip().strip("\"'")
    if fields.get("ID") != "debian" or not fields.get("VERSION_CODENAME"):
        raise BackendUnavailable(
            f"{os_release}: this host is not a Debian release (ID={fields.get('ID', '?')}); "
            "choose the kernel with --option kernel=debian:RELEASE or kernel=PATH",
            errno=_errno.ENOENT,
        )
    return fields["VERSION_CODENAME"]


def local_kernel(path: str, modules: str | None) -> BootKernel:
    """A kernel image on disk and its optional module tree; the image is checked before QEMU sees it."""
    image = Path(path).absolute()
    try:
        with open(image, "rb") as fh:
            head = fh.read(0x210)
    except OSError as exc:
        why = "no such file" if exc.errno == _errno.ENOENT else (exc.strerror or str(exc))
        raise BackendUnavailable(f"kernel={path}: {why}", errno=exc.errno or _errno.ENOENT) from None
    # Documentation/arch/x86/boot.rst: a bzImage carries "HdrS" at 0x202; QEMU also boots a PVH ELF vmlinux.
    if head[0x202:0x206] != b"HdrS" and head[:4] != b"\x7fELF":
        raise BackendUnavailable(
            f"kernel={path}: not a Linux kernel image (no bzImage 'HdrS' header at 0x202, not an ELF file)",
            errno=_errno.ENOEXEC,
        )
    tree = None
    if modules is not None:
        tree = Path(modules).absolute()
        if not tree.is_dir():
            raise BackendUnavailable(f"modules={modules}: no such directory", errno=_errno.ENOENT)
    sha = _sha256(image)
    entry = kernels_dir() / f"local-{sha[:16]}"
    try:
        entry.mkdir(parents=True, exist_ok=True)  # holds only boot images, each renamed into place
    except OSError as exc:
        raise _no_space(exc, f"kernel={path}") from None
    return BootKernel(image, tree, tree.name if tree else "", f"{image} (sha256 {sha[:16]})", entry)


def resolve(kernel: str | None, modules: str | None) -> BootKernel:
    """The kernel an option value names: None (this host's release), ``debian:RELEASE`` or a PATH."""
    if kernel is None or kernel.startswith("debian:"):
        if modules is not None:
            raise UsageError("option modules= goes with kernel=PATH; a Debian kernel brings its own modules")
        if kernel is None:
            return debian_kernel(host_release(), why=" (this host's release)")
        return debian_kernel(_debian.parse_release(kernel, option="kernel"))
    return local_kernel(kernel, modules)
