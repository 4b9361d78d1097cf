"""Hypothesis strategies shared by the conformance suite and the project's tests.

One facade for every strategy, so that the suite that ships and the
project's own tests draw inputs the same way: import from
``conformance.strategies``. Each topic has its own module (addresses, hashes, keys,
datapath_keys, packets, odp_actions, operations, rules, flow_requests, rpc);
add a new strategy to the module of its topic (or a new module) and
re-export it here.
"""

from __future__ import annotations

from conformance.strategies.addresses import ipv6_addresses
from conformance.strategies.datapath_keys import datapath_keys_with_masks
from conformance.strategies.flow_requests import flow_request_cases
from conformance.strategies.hashes import hash_inputs, seeds, ufid_texts, ufid_words, ufids
from conformance.strategies.keys import flow_keys, keys_with_masks, opaque_key_attrs
from conformance.strategies.odp_actions import action_lists, actions
from conformance.strategies.operations import dpif_batches, dpif_ops
from conformance.strategies.packets import frames
from conformance.strategies.rpc import rpc_messages
from conformance.strategies.rules import keys_with_rules

__all__ = [
    "action_lists",
    "actions",
    "datapath_keys_with_masks",
    "dpif_batches",
    "dpif_ops",
    "flow_keys",
    "flow_request_cases",
    "frames",
    "hash_inputs",
    "ipv6_addresses",
    "keys_with_masks",
    "keys_with_rules",
    "opaque_key_attrs",
    "rpc_messages",
    "seeds",
    "ufid_texts",
    "ufid_words",
    "ufids",
]
