"""reference/odp/_text.py: the lexical helpers both ODP text codecs share."""

from __future__ import annotations

import platform
import socket

import pytest
from hypothesis import given

from conformance.strategies import ipv6_addresses
from reference.odp._text import format_ipv6

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        # glibc's inet_ntop6 (resolv/inet_ntop.c): IPv4-mapped and IPv4-compatible forms end
        # in dotted decimal; the first longest zero run (two words or more) becomes "::".
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("::ffff:0.0.0.0", "::ffff:0.0.0.0"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
        ("0:0:0:0:0:1:1.2.3.4", "::1:102:304"),
        ("fe80::ffff:1.2.3.4", "fe80::ffff:102:304"),
    ],
)
def test_format_ipv6_prints_as_glibc_inet_ntop(text: str, printed: str) -> None:
    assert format_ipv6(socket.inet_pton(socket.AF_INET6, text)) == printed


@pytest.mark.skipif(not GLIBC, reason="the differential needs glibc's inet_ntop, which OVS prints with")
@given(ipv6_addresses())
def test_format_ipv6_agrees_with_the_c_library(addr: bytes) -> None:
    assert format_ipv6(addr) == socket.inet_ntop(socket.AF_INET6, addr)


@given(ipv6_addresses())
def test_format_ipv6_reads_back(addr: bytes) -> None:
    assert socket.inet_pton(socket.AF_INET6, format_ipv6(addr)) == addr
