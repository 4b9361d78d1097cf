"""Booting a chosen kernel: ``debian:RELEASE`` with compressed modules under usr/lib/modules, and ``PATH`` + ``DIR``.

trixie's kernel is the case the host's own release does not cover: every
module is ``.ko.xz`` and the tree lives under ``usr/lib/modules``. Each
test boots a guest (about 7 s on a quiet machine, 20 s on a busy one);
like test_kernel_vm.py they fail instead of skipping under
UFIDCERT_STRICT=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import _kernels, _qemu
from conformance.backends.kernel import kernel
from conformance.errors import BackendUnavailable
from conformance.provenance import Provenance
from conformance.suite._flows import eth_key, eth_mask, output, ufid_n
from tests._support import qemu_children, require

RELEASE = "trixie"


@pytest.fixture(scope="module")
def boot() -> _kernels.BootKernel:
    reason = _qemu.unavailable_reason()
    require(reason is None, f"kernel VM: {reason}")
    return _kernels.resolve(f"debian:{RELEASE}", None)


def test_a_release_with_xz_modules_under_usr_lib_runs_the_datapath(boot: _kernels.BootKernel) -> None:
    assert (boot.modules / "kernel/net/openvswitch/openvswitch.ko.xz").is_file()  # type: ignore[operator]
    assert "usr/lib/modules" in str(boot.modules)
    dpif = kernel(where="vm", kernel=f"debian:{RELEASE}")
    try:
        vm = _qemu._Shared.vm
        assert vm is not None
        rc, out = vm.run(["cat", "/proc/sys/kernel/osrelease"])
        assert rc == 0 and out.decode().strip() == boot.release == dpif.version
        rc, out = vm.run(["cat", "/proc/modules"])
        assert rc == 0 and b"openvswitch " in out  # modprobe (the host's kmod) loaded the .ko.xz
        (prov,) = dpif.provenance
        assert prov == Provenance("Linux kernel", boot.release, boot.source)
        assert prov.source.startswith(f"debian:{RELEASE} linux-image-{boot.release}=")
        dpif.flow_put(eth_key(1, src=3), eth_mask(), output(2), ufid=ufid_n(3))
        assert dpif.flow_get(ufid=ufid_n(3)).ufid == ufid_n(3)
    finally:
        dpif.close()
    assert qemu_children() == []


def test_a_path_kernel_with_its_module_tree(boot: _kernels.BootKernel) -> None:
    dpif = kernel(where="vm", kernel=str(boot.vmlinuz), modules=str(boot.modules))
    try:
        (prov,) = dpif.provenance
        assert prov.version == boot.release and prov.source.startswith(f"{boot.vmlinuz} (sha256 ")
    finally:
        dpif.close()
    assert qemu_children() == []


def test_a_module_tree_of_another_version_is_refused(boot: _kernels.BootKernel, tmp_path: Path) -> None:
    other = tmp_path / "6.1.0-99-amd64"
    assert boot.modules is not None
    other.symlink_to(boot.modules)  # the right modules under another version's name: modprobe would not find them
    with pytest.raises(BackendUnavailable) as info:
        kernel(where="vm", kernel=str(boot.vmlinuz), modules=str(other))
    assert str(info.value) == f"the guest runs Linux {boot.release} but modules={other} is for 6.1.0-99-amd64"
    assert qemu_children() == []
