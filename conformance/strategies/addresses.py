"""Network addresses as the datapath carries them (bytes), biased to the forms printers treat apart.

A uniformly drawn IPv6 address is almost never IPv4-mapped, IPv4-compatible
or rich in zero words, yet those are exactly the forms whose text differs
between printers (glibc's inet_ntop, Python's ipaddress before 3.13, RFC 5952).
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

__all__ = ["ipv6_addresses"]


def _from_words(words: list[int]) -> bytes:
    return struct.pack("!8H", *words)


def ipv6_addresses() -> st.SearchStrategy[bytes]:
    """16-byte IPv6 addresses: any, IPv4-mapped, IPv4-compatible, or words mostly zero."""
    v4 = st.binary(min_size=4, max_size=4)
    sparse_word = st.one_of(st.just(0), st.just(0xFFFF), st.integers(1, 0xFFFF))
    return st.one_of(
        st.binary(min_size=16, max_size=16),
        v4.map(lambda a: bytes(10) + b"\xff\xff" + a),
        v4.map(lambda a: bytes(12) + a),
        st.lists(sparse_word, min_size=8, max_size=8).map(_from_words),
    )
