"""Compile tests/c/murmur3.c into a shared library for ``--impl c:LIBRARY:SYMBOL``.

Used by tests/conformance/test_vectors.py and fixtures/make_murmur3_vectors.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["MURMUR3_C", "SYMBOLS", "c_compiler", "compile_murmur3"]

MURMUR3_C = Path(__file__).with_name("murmur3.c")
# Exported symbol per variant.
SYMBOLS = {"x64": "ufidcert_murmur3_x64_128", "x86": "ufidcert_murmur3_x86_128"}


def c_compiler() -> str | None:
    """Path of gcc (or cc), or None when the machine has no C compiler."""
    return shutil.which("gcc") or shutil.which("cc")


def compile_murmur3(out_dir: Path, *, broken: bool = False) -> Path:
    """Build ``libmurmur3[-broken].so`` in ``out_dir`` and return its path.

    ``broken`` defines UFIDCERT_BREAK_TAIL: a port with a tail bug, for tests
    that the checker reports failures. Raises RuntimeError without a compiler.
    """
    cc = c_compiler()
    if cc is None:
        raise RuntimeError("no C compiler (gcc or cc) on PATH")
    out = out_dir / ("libmurmur3-broken.so" if broken else "libmurmur3.so")
    cmd = [cc, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(out), str(MURMUR3_C)]
    if broken:
        cmd.insert(1, "-DUFIDCERT_BREAK_TAIL")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out
