"""The strategies facade: every topic module's strategies, under the one import path."""

from __future__ import annotations

import importlib
import pkgutil

import conformance.strategies as facade


def test_the_facade_exports_every_topic_modules_strategies_and_nothing_else() -> None:
    topics = [m.name for m in pkgutil.iter_modules(facade.__path__) if not m.name.startswith("_")]
    assert topics, "no topic modules found"
    exported: dict[str, str] = {}
    for name in topics:
        module = importlib.import_module(f"conformance.strategies.{name}")
        for strategy in module.__all__:
            assert strategy not in exported, f"{strategy} in both {exported.get(strategy)} and {name}"
            exported[strategy] = name
            assert getattr(facade, strategy) is getattr(module, strategy)
    assert sorted(facade.__all__) == sorted(exported)


def test_each_facade_name_is_a_strategy_factory() -> None:
    for name in facade.__all__:
        assert callable(getattr(facade, name)), name
