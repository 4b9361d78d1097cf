"""Kernels for the guest (:mod:`conformance.backends._kernels`): module trees, cache entries, bad input.

No QEMU and no network here: Debian's archive is replaced by ``.deb``
files built on the spot with ``dpkg-deb -b`` (the real extraction and
the real ``depmod`` run on them); the tests that reach the archive are in
test_kernels_debian.py, the boots in test_kernel_vm.py.
"""

from __future__ import annotations

import errno
import gzip
import json
import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backends import _debian, _kernels, _qemu
from conformance.errors import BackendUnavailable, UsageError
from tests._support import require

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UFIDCERT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _leftovers(cache: Path) -> list[str]:
    """Temporary names (builds, downloads, images) anywhere in the cache."""
    if not cache.exists():
        return []
    return sorted(str(p.relative_to(cache)) for p in cache.rglob(".*") if p.name not in (".lock", ".updated"))


# -- modules.dep and load order --------------------------------------------------------------------------------


@given(name=_NAMES, suffix=st.sampled_from([".ko", ".ko.xz", ".ko.zst", ".ko.gz"]), d=st.sampled_from(["", "a/b/"]))
def test_module_names_ignore_directory_and_compression(name: str, suffix: str, d: str) -> None:
    assert _kernels.module_name(f"{d}{name}{suffix}") == name
    assert _kernels.module_name(f"{d}{name.replace('_', '-')}{suffix}") == name  # modprobe reads - as _
    assert _kernels.module_name(f"{d}{name}.o") is None


@st.composite
def _dep_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    # A DAG: module i may depend only on modules after it in the list.
    names = draw(st.lists(_NAMES, min_size=1, max_size=12, unique=True))
    return {
        n: draw(st.lists(st.sampled_from(names[i + 1 :]), unique=True)) if names[i + 1 :] else []
        for i, n in enumerate(names)
    }


def _closure(graph: dict[str, list[str]], targets: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [t for t in targets if t in graph]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += graph[n]
    return seen


@settings(max_examples=150)
@given(graph=_dep_graphs(), data=st.data())
def test_load_order_is_the_closure_with_dependencies_first(graph: dict[str, list[str]], data: st.DataObject) -> None:
    targets = data.draw(st.lists(st.sampled_from([*graph, "builtin_one"]), max_size=5))
    path = {n: f"kernel/x/{n}.ko.xz" for n in graph}
    # modules.dep lists each module's dependencies transitively, as depmod writes it.
    text = "".join(f"{path[n]}: {' '.join(path[d] for d in sorted(_closure(graph, graph[n])))}\n" for n in graph)
    order = _kernels.load_order(_kernels.parse_modules_dep(text, where="modules.dep"), tuple(targets))
    assert len(order) == len(set(order))
    assert {_kernels.module_name(p) for p in order} == _closure(graph, targets)
    for i, p in enumerate(order):
        name = _kernels.module_name(p)
        assert name is not None
        assert {path[d] for d in graph[name]} <= set(order[:i]), f"{name} before its dependencies"


@pytest.mark.parametrize("line", ["kernel/a.ko.xz kernel/b.ko", "kernel/readme.txt: kernel/b.ko", ":"])
def test_a_bad_modules_dep_line_is_named(line: str) -> None:
    with pytest.raises(BackendUnavailable) as info:
        _kernels.parse_modules_dep(f"kernel/ok.ko:\n{line}\n", where="/t/modules.dep")
    assert str(info.value).startswith("/t/modules.dep:2: not a modules.dep line") and "\n" not in str(info.value)


def test_a_dependency_cycle_is_an_error_not_a_hang() -> None:
    dep = _kernels.parse_modules_dep("a.ko: b.ko\nb.ko: a.ko\n", where="m")
    with pytest.raises(BackendUnavailable, match="cycle"):
        _kernels.load_order(dep, ("a",))


# -- compressed modules --------------------------------------------------------------------------------------------


def _compress(data: bytes, suffix: str) -> bytes:
    if suffix == ".ko.xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)  # what kmod/Kbuild write
    if suffix == ".ko.gz":
        return gzip.compress(data)
    if suffix == ".ko.zst":
        zstd = shutil.which("zstd")
        require(zstd is not None, "zstd not found (apt-get install zstd)")
        assert zstd is not None
        return subprocess.run([zstd, "-q", "-c"], input=data, capture_output=True, check=True).stdout
    return data


@settings(max_examples=20, deadline=None)
@given(data=st.binary(min_size=1, max_size=4096), suffix=st.sampled_from([".ko", ".ko.xz", ".ko.gz", ".ko.zst"]))
def test_modules_are_read_decompressed(tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str) -> None:
    f = tmp_path_factory.mktemp("m") / f"m{suffix}"
    f.write_bytes(_compress(data, suffix))
    assert _kernels.module_bytes(f) == data


@pytest.mark.parametrize("suffix", [".ko.xz", ".ko.gz", ".ko.zst"])
def test_a_corrupt_compressed_module_is_named(tmp_path: Path, suffix: str) -> None:
    f = tmp_path / f"bad{suffix}"
    f.write_bytes(_compress(b"\x7fELF" * 100, suffix)[:20])
    with pytest.raises(BackendUnavailable) as info:
        _kernels.module_bytes(f)
    assert str(f) in str(info.value) and "\n" not in str(info.value)


def _tree(root: Path, kver: str, modules: dict[str, bytes], dep: dict[str, list[str]], suffix: str = ".ko.xz") -> Path:
    tree = root / "usr/lib/modules" / kver
    paths = {m: f"kernel/{m}{suffix}" for m in modules}
    for m, data in modules.items():
        (tree / paths[m]).parent.mkdir(parents=True, exist_ok=True)
        (tree / paths[m]).write_bytes(_compress(data, suffix))
    (tree / "modules.dep").write_text(
        "".join(f"{paths[m]}: {' '.join(paths[d] for d in dep.get(m, []))}\n" for m in modules)
    )
    return tree


def test_boot_modules_of_a_usr_lib_tree_are_decompressed_in_load_order(tmp_path: Path) -> None:
    mods = {m: os.urandom(64) for m in ("9p", "netfs", "9pnet", "9pnet_virtio", "overlay", "openvswitch")}
    dep = {"9p": ["netfs", "9pnet"], "9pnet_virtio": ["9pnet"]}
    tree = _tree(tmp_path, "6.12.0-test", mods, dep)
    got = _kernels.boot_modules(tree)
    names = [n for n, _ in got]
    assert set(names) == {"9p", "netfs", "9pnet", "9pnet_virtio", "overlay"}  # openvswitch is loaded later, by modprobe
    assert names.index("9p") > max(names.index("netfs"), names.index("9pnet"))
    assert names.index("9pnet_virtio") > names.index("9pnet")
    assert dict(got) == {n: mods[n] for n in names}
    assert _kernels.boot_modules(None) == []


# -- boot images keyed by content -----------------------------------------------------------------------------


def test_a_changed_boot_module_makes_a_new_boot_image(tmp_path: Path, cache: Path) -> None:
    require(shutil.which("busybox") is not None, "busybox not found (apt-get install busybox-static)")
    first = os.urandom(256)
    tree = _tree(tmp_path, "6.12.0-test", {"9p": first, "overlay": os.urandom(256)}, {})
    entry = tmp_path / "entry"
    a = _qemu._initramfs(str(tree), entry)
    assert _qemu._initramfs(str(tree), entry) == a  # same content: the same image, not rebuilt
    assert first in gzip.decompress(a.read_bytes())  # in the image decompressed
    assert a.stat().st_mode & 0o777 == 0o644
    second = os.urandom(256)
    (tree / "kernel/9p.ko.xz").write_bytes(_compress(second, ".ko.xz"))  # same path, new content
    b = _qemu._initramfs(str(tree), entry)
    assert b != a and second in gzip.decompress(b.read_bytes()) and first not in gzip.decompress(b.read_bytes())
    assert not [p for p in entry.iterdir() if p.name.startswith(".")]


# -- kernel=PATH -----------------------------------------------------------------------------------------------


def _bzimage(path: Path, salt: bytes = b"") -> Path:
    data = bytearray(4096)
    data[0x202:0x206] = b"HdrS"  # Documentation/arch/x86/boot.rst: the setup header's magic
    data[0x300 : 0x300 + len(salt)] = salt
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("content", [b"", b"#!/bin/sh\necho hi\n", bytes(range(256)) * 8])
def test_a_path_that_is_not_a_kernel_is_refused_before_qemu(tmp_path: Path, cache: Path, content: bytes) -> None:
    image = tmp_path / "bzImage"
    image.write_bytes(content)
    with pytest.raises(BackendUnavailable) as info:
        _kernels.resolve(str(image), None)
    assert str(info.value) == (
        f"kernel={image}: not a Linux kernel image (no bzImage 'HdrS' header at 0x202, not an ELF file)"
    )
    assert info.value.errno == errno.ENOEXEC and not cache.exists()


def test_missing_paths_are_named(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"^kernel=/nonexistent/bzImage: no such file$"):
        _kernels.resolve("/nonexistent/bzImage", None)
    with pytest.raises(BackendUnavailable, match=r"modules=/nonexistent/6.1: no such directory$"):
        _kernels.resolve(str(_bzimage(tmp_path / "bz")), "/nonexistent/6.1")
    assert not cache.exists()


def test_a_path_kernel_entry_is_keyed_by_the_image_content(tmp_path: Path, cache: Path) -> None:
    a = _kernels.resolve(str(_bzimage(tmp_path / "a")), None)
    same = _kernels.resolve(str(_bzimage(tmp_path / "b")), None)
    other = _kernels.resolve(str(_bzimage(tmp_path / "a", salt=b"rebuilt")), str(tmp_path))
    assert a.entry == same.entry != other.entry
    assert (a.modules, a.release) == (None, "")
    assert (other.modules, other.release) == (tmp_path, tmp_path.name)
    assert a.source.startswith(f"{tmp_path / 'a'} (sha256 ")


# -- kernel=debian:RELEASE, with the archive replaced by local packages -------------------------------------------


def _deb(out: Path, name: str, files: dict[str, bytes]) -> Path:
    d = out / f"build-{name}"
    for rel, data in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data)
    (d / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (d / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: test\n"
    )
    deb = out / f"{name}_1.0-1_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(d), str(deb)], check=True, capture_output=True
    )
    return deb


class FakeArchive:
    """``_debian``'s resolve/dependencies/download over local .deb files; counts downloads."""

    def __init__(self, debs: dict[str, Path], depends: dict[str, list[str]]) -> None:
        self.debs, self.depends, self.downloads = debs, depends, 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_debian, "resolve_dependency", self.resolve)
        monkeypatch.setattr(_debian, "dependencies", lambda release, pkg: self.depends.get(pkg, []))
        monkeypatch.setattr(_debian, "download", self.download)

    def resolve(self, release: str, package: str, prefix: str) -> str:
        if release != "testrel":
            raise BackendUnavailable(f"debian:{release}: the archive serves no release {release!r}", errno=errno.ENOENT)
        return next(d for d in self.depends[package] if d.startswith(prefix))

    def download(self, release: str, package: str) -> _debian.DebianPackage:
        self.downloads += 1
        return _debian.DebianPackage(package, "1.0-1", release, self.debs[package])


def _split_kernel(tmp_path: Path, kver: str, module: bytes) -> FakeArchive:
    """A kernel packaged as Linux 7.x is: image metapackage, binary (vmlinuz in the tree), modules, base."""
    tree = f"usr/lib/modules/{kver}"
    debs = {
        f"linux-image-{kver}": _deb(tmp_path, f"linux-image-{kver}", {}),
        f"linux-binary-{kver}": _deb(tmp_path, f"linux-binary-{kver}", {f"{tree}/vmlinuz": b"kernel"}),
        f"linux-modules-{kver}": _deb(
            tmp_path, f"linux-modules-{kver}", {f"{tree}/kernel/fs/9p/9p.ko.xz": _compress(module, ".ko.xz")}
        ),
        f"linux-base-{kver}": _deb(tmp_path, f"linux-base-{kver}", {f"{tree}/modules.builtin": b""}),
    }
    depends = {
        "linux-image-amd64": [f"linux-image-{kver}"],
        f"linux-image-{kver}": ["dracut", "initramfs-tools", *(n for n in debs if not n.startswith("linux-image"))],
    }
    return FakeArchive(debs, depends)


def _need_dpkg() -> None:
    for tool in ("dpkg-deb", "depmod"):
        require(shutil.which(tool) is not None, f"{tool} not found (apt-get install dpkg kmod)")


def test_a_split_usr_lib_kernel_is_extracted_once_and_depmodded(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_dpkg()
    kver = "7.2.0-9-amd64"
    archive = _split_kernel(tmp_path, kver, b"module-one")
    archive.install(monkeypatch)
    boot = _kernels.resolve("debian:testrel", None)
    assert boot.release == kver and boot.vmlinuz.read_bytes() == b"kernel"
    assert boot.modules == boot.entry / "root/usr/lib/modules" / kver
    assert (boot.modules / "modules.dep").read_text().startswith("kernel/fs/9p/9p.ko.xz:")
    assert boot.source == (
        f"debian:testrel linux-image-{kver}=1.0-1, linux-binary-{kver}=1.0-1, "
        f"linux-modules-{kver}=1.0-1, linux-base-{kver}=1.0-1"
    )
    meta = json.loads((boot.entry / "kernel.json").read_text())
    assert [p["name"] for p in meta["packages"]] == [
        f"linux-{k}-{kver}" for k in ("image", "binary", "modules", "base")
    ]
    assert boot.entry.stat().st_mode & 0o777 == 0o755  # readable by every user of a shared cache
    stamp = (boot.modules / "modules.dep").stat().st_mtime_ns
    assert _kernels.resolve("debian:testrel", None) == boot  # cached: the same entry, not extracted again
    assert (boot.modules / "modules.dep").stat().st_mtime_ns == stamp
    assert _leftovers(cache) == []


def test_the_resolution_is_reused_while_the_package_lists_stay_the_same(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_dpkg()
    archive = _split_kernel(tmp_path, "7.2.0-9-amd64", b"m")
    archive.install(monkeypatch)
    lists: list[str | None] = ["lists-1"]
    monkeypatch.setattr(_debian, "lists_fresh", lambda release: lists[0])
    first = _kernels.resolve("debian:testrel", None)
    asked = archive.downloads
    assert asked == 4 and _kernels.resolve("debian:testrel", None) == first and archive.downloads == asked
    lists[0] = "lists-2"  # apt-get update ran: ask again
    assert _kernels.resolve("debian:testrel", None) == first and archive.downloads == 2 * asked
    first.entry.joinpath("kernel.json").unlink()  # not a complete entry any more: rebuilt, not trusted
    assert _kernels.resolve("debian:testrel", None) == first and (first.entry / "kernel.json").is_file()
    lists[0] = None  # lists too old: never reuse
    _kernels.resolve("debian:testrel", None)
    assert archive.downloads == 3 * asked and _leftovers(cache) == []


def test_a_changed_package_is_a_new_entry(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_dpkg()
    kver = "7.2.0-9-amd64"
    _split_kernel(tmp_path / "a", kver, b"module-one").install(monkeypatch)
    first = _kernels.resolve("debian:testrel", None)
    _split_kernel(tmp_path / "b", kver, b"module-two").install(monkeypatch)  # same names and versions
    second = _kernels.resolve("debian:testrel", None)
    assert first.entry != second.entry and first.release == second.release
    assert _kernels.boot_modules(second.modules) == [("9p", b"module-two")]
    assert _kernels.boot_modules(first.modules) == [("9p", b"module-one")]


def test_a_package_without_a_kernel_leaves_nothing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_dpkg()
    kver = "6.1.0-9-amd64"
    deb = _deb(tmp_path, f"linux-image-{kver}", {"usr/share/doc/readme": b"no kernel here"})
    FakeArchive({f"linux-image-{kver}": deb}, {"linux-image-amd64": [f"linux-image-{kver}"]}).install(monkeypatch)
    with pytest.raises(BackendUnavailable) as info:
        _kernels.resolve("debian:testrel", None)
    assert f"no lib/modules/{kver} or usr/lib/modules/{kver} inside" in str(info.value)
    assert not (cache / "kernels").exists() or [p.name for p in (cache / "kernels").iterdir()] == [".lock"]


def test_no_space_while_extracting_is_one_line_and_leaves_nothing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_dpkg()
    _split_kernel(tmp_path, "7.2.0-9-amd64", b"m").install(monkeypatch)
    real = _kernels._extract

    def full_disk(tmp: Path, packages: list[_debian.DebianPackage], kver: str) -> None:
        real(tmp, packages, kver)  # the entry is all but complete when the disk fills up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_kernels, "_extract", full_disk)
    with pytest.raises(BackendUnavailable) as info:
        _kernels.resolve("debian:testrel", None)
    assert info.value.errno == errno.ENOSPC and "\n" not in str(info.value)
    assert str(info.value).endswith(f"no space left on device under {cache}")
    assert [p.name for p in (cache / "kernels").iterdir()] == [".lock"]


def test_an_unknown_release_is_named(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeArchive({}, {}).install(monkeypatch)
    with pytest.raises(BackendUnavailable, match=r"^debian:nosuch: the archive serves no release 'nosuch'$"):
        _kernels.resolve("debian:nosuch", None)
    assert not cache.exists()


@pytest.mark.parametrize(
    ("kernel", "modules", "message"),
    [
        ("debian:", None, "is not a Debian release name"),
        ("debian:Trixie!", None, "is not a Debian release name"),
        ("debian:trixie", "/lib/modules/x", "modules= goes with kernel=PATH"),
        (None, "/lib/modules/x", "modules= goes with kernel=PATH"),
    ],
)
def test_option_values_that_cannot_be_used(kernel: str | None, modules: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _kernels.resolve(kernel, modules)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_CODENAME=trixie\n', "trixie"),
        ("ID=debian\nVERSION_CODENAME='bookworm'\n", "bookworm"),
        ("ID=ubuntu\nVERSION_CODENAME=noble\n", None),
        ("ID=debian\n", None),
        ("", None),
    ],
)
def test_the_host_release_is_debians_codename_or_a_clear_no(tmp_path: Path, text: str, want: str | None) -> None:
    f = tmp_path / "os-release"
    f.write_text(text)
    if want is not None:
        assert _kernels.host_release(f) == want
        return
    with pytest.raises(BackendUnavailable, match=r"kernel=debian:RELEASE or kernel=PATH$"):
        _kernels.host_release(f)
