"""Measure the kernel backend in a QEMU/TCG guest: boot-to-first-operation time and flow operations per second.

Run: ``python tests/benchmarks/kernel_vm_figures.py [N]`` (N flows, default 1000). Prints one line per
figure; docs/kernel-backend.md and docs/performance.md record the results. Not a test: it asserts nothing.
"""

from __future__ import annotations

import sys
import time

from conformance.backends.kernel import kernel
from conformance.suite._flows import eth_key, eth_mask, output, ufid_n
from reference.dpif import DelOp, PutFlags, PutOp


def main(n: int) -> None:
    t0 = time.monotonic()
    dpif = kernel(where="vm")
    t_open = time.monotonic() - t0
    try:
        dpif.flow_flush()
        t_first = time.monotonic() - t0
        keys = [eth_key(1, src=i + 1) for i in range(n)]
        mask = eth_mask()
        t = time.monotonic()
        for i, key in enumerate(keys):
            dpif.flow_put(key, mask, output(2), ufid=ufid_n(i + 1), flags=PutFlags.CREATE)
        t_put = time.monotonic() - t
        t = time.monotonic()
        for i in range(n):
            dpif.flow_get(ufid=ufid_n(i + 1), terse=True)
        t_get = time.monotonic() - t
        t = time.monotonic()
        full = list(dpif.flow_dump())
        t_dump = time.monotonic() - t
        t = time.monotonic()
        terse = list(dpif.flow_dump(terse=True))
        t_tdump = time.monotonic() - t
        t = time.monotonic()
        for i in range(n):
            dpif.flow_del(ufid=ufid_n(i + 1), terse=True)
        t_del = time.monotonic() - t
        t = time.monotonic()
        res = dpif.operate(
            [PutOp(key, mask, output(3), ufid=ufid_n(i + 1), flags=PutFlags.CREATE) for i, key in enumerate(keys)]
        )
        t_bput = time.monotonic() - t
        t = time.monotonic()
        res += dpif.operate([DelOp(ufid=ufid_n(i + 1), terse=True) for i in range(n)])
        t_bdel = time.monotonic() - t
        assert len(full) == len(terse) == n and all(r.ok for r in res)
        print(
            f"operate: {n} puts {t_bput:.2f} s ({n / t_bput:.0f}/s); {n} terse dels {t_bdel:.2f} s ({n / t_bdel:.0f}/s)"
        )
        print(f"kernel {getattr(dpif, 'version', '')}: open (boot + datapath + probe) {t_open:.2f} s")
        print(f"boot-to-first-operation {t_first:.2f} s")
        print(f"put  x{n}: {t_put:.2f} s ({n / t_put:.0f}/s)")
        print(f"get  x{n} (terse, by UFID): {t_get:.2f} s ({n / t_get:.0f}/s)")
        print(f"dump {n} flows full: {t_dump:.2f} s; terse: {t_tdump:.2f} s")
        print(f"del  x{n} (terse, by UFID): {t_del:.2f} s ({n / t_del:.0f}/s)")
    finally:
        dpif.close()
    print(f"total including power-off {time.monotonic() - t0:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
