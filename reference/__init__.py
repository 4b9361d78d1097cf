"""ufidcert's reference implementation of Open vSwitch UFIDs.

Start with :mod:`reference.ufid` (the ``Ufid`` value type) and
:mod:`reference.hash` (MurmurHash3 as ``hash_bytes128``); flow keys live in
:mod:`reference.odp`, the datapath contract in :mod:`reference.dpif`.
"""

from __future__ import annotations

__all__: list[str] = []
