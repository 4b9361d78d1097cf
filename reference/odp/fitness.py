"""Key fitness (OVS ``enum odp_key_fitness``); work in progress."""

from __future__ import annotations

import enum

__all__ = ["KeyFitness", "key_fitness"]


class KeyFitness(enum.Enum):
    """How well a datapath key fits what the parser expects (lib/odp-util.h)."""

    PERFECT = "perfect"
    TOO_MUCH = "too_much"
    TOO_LITTLE = "too_little"
    ERROR = "error"


def key_fitness(key: bytes) -> KeyFitness:
    """Fitness of ``key``; not implemented yet."""
    raise NotImplementedError("key_fitness is being written")
