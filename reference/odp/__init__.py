"""Datapath flow keys, masks and actions (``OVS_KEY_ATTR_*`` / ``OVS_ACTION_ATTR_*``).

Netlink codecs live in :mod:`reference.odp.keys`, the dpctl text format in
:mod:`reference.odp.flowtext`, the match record in :mod:`reference.odp.match`
and key fitness in :mod:`reference.odp.fitness`. Start with
:func:`parse_flow` (text to bytes) and :func:`format_key` (bytes to text).
"""

from __future__ import annotations

from reference.errors import OdpDecodeError, OdpSyntaxError
from reference.odp.actions import format_actions, parse_actions, validate_actions
from reference.odp.extract import extract_key
from reference.odp.fitness import FitnessReport, KeyFitness, fitness_report, key_fitness
from reference.odp.flowtext import ParsedFlow, format_key, format_key_attr, parse_flow, parse_key_attr
from reference.odp.keys import FlowKey, canonical_key, decode_key, encode_key, validate_key
from reference.odp.match import Match

# Other parts of the package (actions, extraction) add their imports below.

__all__ = [
    "FitnessReport",
    "FlowKey",
    "KeyFitness",
    "Match",
    "OdpDecodeError",
    "OdpSyntaxError",
    "ParsedFlow",
    "canonical_key",
    "decode_key",
    "encode_key",
    "extract_key",
    "format_actions",
    "format_key",
    "format_key_attr",
    "fitness_report",
    "key_fitness",
    "parse_actions",
    "parse_flow",
    "parse_key_attr",
    "validate_actions",
    "validate_key",
]
