"""``ufidcert bench``: the churn simulation against OVS's rule, the cost model, the CLI's output and errors."""

from __future__ import annotations

import json
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.cli import main
from conformance.commands.bench import CostModel, compare, measure_memory, simulate_churn
from tests._support import require


def ovs_adapt(limit: int, duration: int, n_flows: int, cap: int) -> int:
    duration = max(duration, 1)
    if duration > 2000:
        limit //= duration // 1000
    elif duration > 1300:
        limit = limit * 3 // 4
    elif duration < 1000 and limit < n_flows * 1000 // duration:
        limit += 1000
    return min(cap, max(limit, 1000))


@given(
    base=st.floats(0, 50),
    slope=st.floats(0.1, 100),
    ns=st.lists(st.integers(1, 10**6), min_size=2, max_size=6, unique=True),
)
def test_cost_model_recovers_a_line(base: float, slope: float, ns: list[int]) -> None:
    model = CostModel.fit([(n, base + slope * n / 1000) for n in ns])
    assert model.per_flow_us == pytest.approx(slope, rel=1e-6)
    assert model.base_ms == pytest.approx(base, rel=1e-6, abs=1e-6 * slope * max(ns))


def test_cheap_rounds_grow_the_limit_to_the_cap() -> None:
    r = simulate_churn(CostModel(1.0, 0.0), mode="cheap", seconds=300)
    # The first round sees no flows yet; then +1000 per 500 ms round from 10,000 to the 200,000 cap.
    assert r.limits[:3] == (10000, 11000, 12000)
    assert r.limits[189:191] == (199000, 200000)
    assert r.sustained_flows == 200000


def test_limit_trajectory_follows_ovs() -> None:
    model = CostModel(5.0, 15.0)  # 15 us per flow: about 66,000 flows per second of dump
    r = simulate_churn(model, mode="x", seconds=120)
    limit, n_prev = 10000, 0
    for flows, lim in zip(r.flows, r.limits, strict=True):
        duration = max(int(model.duration_ms(n_prev) + 0.5), 1)
        limit = ovs_adapt(limit, duration, n_prev, 200000)
        assert lim == limit
        assert flows <= lim  # handlers never install above the limit
        n_prev = flows


def test_cheaper_rounds_sustain_more_flows() -> None:
    slow = simulate_churn(CostModel(2.0, 20.0), mode="full", seconds=200).sustained_flows
    fast = simulate_churn(CostModel(2.0, 8.0), mode="terse", seconds=200).sustained_flows
    assert fast > slow
    # Equilibrium: rounds last between 1000 and 1300 ms (or the cap).
    assert 1000 <= CostModel(2.0, 20.0).duration_ms(slow) <= 1400


def test_memory_figure_is_per_ukey() -> None:
    small = measure_memory(500)
    assert small["ukeys"] == 500
    assert small["bytes_per_ukey"] > small["netlink_bytes_per_ukey"] > 0
    assert small["ratio"] == pytest.approx(small["bytes_per_ukey"] / small["netlink_bytes_per_ukey"], rel=0.01)


def test_cli_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "bench.svg"
    status = main(
        ["bench", "--json", "--quiet", "--flows", "64", "--rounds", "1", "--ukeys", "200", "--plot", str(plot)]
    )
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    reval, churn = out["revalidation"], out["churn"]
    assert set(reval) >= {"flows", "terse_ms", "full_ms", "ratio"}
    assert reval["flows"] == 64
    assert set(churn) >= {"terse_flows", "full_flows", "ratio"}
    assert churn["ratio"] == pytest.approx(churn["terse_flows"] / churn["full_flows"], rel=0.01)
    assert out["memory"]["ukeys"] == 200
    assert out["plot"] == str(plot)
    svg = ET.parse(plot).getroot()
    assert svg.tag.endswith("svg")
    lines = [e for e in svg.iter() if e.tag.endswith("polyline")]
    assert len(lines) == 6  # churn: flows + limit per mode; revalidation: one line per mode


def test_cli_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quiet", "--flows", "32", "--rounds", "1", "--ukeys", "100"]) == 0
    text = capsys.readouterr().out
    assert "terse/full" in text and "bytes per ukey" in text


@pytest.mark.parametrize("args", [["--flows", "0"], ["--rounds", "0"], ["--ukeys", "-3"]])
def test_cli_rejects_bad_counts(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quiet", *args]) == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_cli_unwritable_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "p.svg"
    assert main(["bench", "--quiet", "--flows", "16", "--rounds", "1", "--ukeys", "50", "--plot", str(target)]) == 2
    assert "cannot write the plot" in capsys.readouterr().err


def test_cli_over_a_registered_backend(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--json", "--quiet", "--flows", "48", "--rounds", "1", "--ukeys", "50"]
    assert main([*args, "--backend", "reference", "-o", "semantics=netdev"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["revalidation"]["datapath"] == "reference (semantics=netdev)"
    assert out["revalidation"]["flows"] == 48


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "reference-legacy"], "does not support UFIDs"),
        (["-o", "semantics=netdev"], "--option needs --backend"),
        (["--backend", "reference", "-o", "semantics"], "KEY=VALUE"),
    ],
)
def test_cli_backend_errors(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quiet", "--flows", "8", "--rounds", "1", "--ukeys", "10", *extra]) == 2
    assert message in capsys.readouterr().err


# --- --backend netdev: the real ovs-vswitchd's own revalidator -----------------------------------


def _ovs_reason() -> str | None:
    from conformance.backends._ovsd import ovs_available

    return ovs_available()


def _our_namespaces() -> list[str]:
    import os
    import subprocess

    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(f"ufidcert-{os.getpid()}-")]


def test_bridge_upcall_show_agrees_with_dpctl() -> None:
    reason = _ovs_reason()
    require(reason is None, reason or "")
    from conformance.backends._ovs_bridge import RevalidatorBridge
    from conformance.commands.bench import frame_for

    with RevalidatorBridge() as br:
        for i in range(40):
            br.receive(frame_for(i))
        br.wait_round()
        br.wait_round()
        status = br.show()
        # Independent count: the datapath's own flow table, one exact-match flow per distinct frame.
        dumped = [ln for ln in br.ovs.appctl("dpctl/dump-flows", "netdev@ovs-netdev").splitlines() if "actions:" in ln]
        assert status.current == len(dumped) == 40
        assert sum(r.keys for r in status.revalidators) == 40
        assert len(status.revalidators) == 1  # n-revalidator-threads=1
        assert status.ufid_enabled
        br.set_terse(False)
        assert not br.show().ufid_enabled
        pids = list(br.ovs.pids.values())
        netns = br.ovs.netns
        assert netns in _our_namespaces()
    assert pids and all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert netns not in _our_namespaces()


def test_cli_netdev_measures_the_real_revalidator(capsys: pytest.CaptureFixture[str]) -> None:
    reason = _ovs_reason()
    require(reason is None, reason or "")
    import subprocess

    args = ["bench", "--backend", "netdev", "--json", "--quiet", "--flows", "2000", "--rounds", "1", "--ukeys", "50"]
    before = set(_our_namespaces())
    assert main(args) == 0
    assert set(_our_namespaces()) <= before  # the run's daemons and namespace are gone
    out = json.loads(capsys.readouterr().out)
    reval = out["revalidation"]
    # One packet per flow, sent one request at a time; netdev-dummy drops frames
    # when its receive queue is full (NETDEV_DUMMY_MAX_QUEUE), which a loaded
    # machine provokes (up to ~6% seen), so the bench reports what was installed.
    assert reval["requested_flows"] == 2000
    assert 1000 <= reval["flows"] <= 2000
    version = subprocess.run(["ovs-vswitchd", "--version"], capture_output=True, text=True, check=True).stdout
    assert reval["source"] == f"ovs-vswitchd {version.split()[3]} revalidator (upcall/show dump duration)"
    assert len(reval["terse_rounds_ms"]) == len(reval["full_rounds_ms"]) == reval["samples_per_block"]
    assert reval["terse_ms"] == statistics.median(reval["terse_rounds_ms"])
    assert reval["full_ms"] == statistics.median(reval["full_rounds_ms"])
    assert reval["ratio"] == pytest.approx(reval["terse_ms"] / reval["full_ms"], abs=1e-3)
    assert [b["mode"] for b in reval["blocks"]] == ["terse", "full"]
    # Every installed flow came from a miss upcall (the datapath's own counter, dpctl/show).
    assert reval["datapath_lookups"]["missed"] >= reval["flows"]
    assert out["churn"]["measured"] is False and "not measured" in out["churn"]["note"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["-o", "x=1"], "takes no --option"), (["--plot", "PLOT"], "--plot needs the churn series")],
)
def test_cli_netdev_rejects_what_it_cannot_do(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = [str(tmp_path / "p.svg") if e == "PLOT" else e for e in extra]
    assert main(["bench", "--quiet", "--backend", "netdev", "--flows", "8", *extra]) == 2
    assert message in capsys.readouterr().err


# --- --compare netdev: the reference and the real revalidator side by side ----------------------


def test_compare_divides_ours_by_ovs() -> None:
    ours = {"flows": 1000, "terse_ms": 30.0, "full_ms": 300.0, "ratio": 0.1, "rss_bytes_per_flow": 5000}
    ovs = {"flows": 1000, "terse_ms": 20, "full_ms": 40, "ratio": 0.5, "rss_bytes_per_flow": 2500}
    c = compare(ours, ovs)
    assert (c["ratio_terse"], c["ratio_full"], c["ratio_memory"]) == (1.5, 7.5, 2.0)
    assert (c["ours_terse_full"], c["ovs_terse_full"]) == (0.1, 0.5)
    # A round under OVS's 1 ms resolution, or a memory figure /proc could not give, has no ratio.
    c = compare(ours, {**ovs, "terse_ms": 0, "rss_bytes_per_flow": None})
    assert c["ratio_terse"] is None and c["ratio_memory"] is None


def test_cli_compare_rejects_a_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quiet", "--compare", "netdev", "--backend", "reference", "--flows", "8"]) == 2
    assert "--compare runs the reference datapath itself" in capsys.readouterr().err


def test_cli_compare_netdev_json(capsys: pytest.CaptureFixture[str]) -> None:
    reason = _ovs_reason()
    require(reason is None, reason or "")
    args = ["bench", "--compare", "netdev", "--json", "--quiet", "--flows", "3000", "--rounds", "1", "--ukeys", "50"]
    before = set(_our_namespaces())
    assert main(args) == 0
    assert set(_our_namespaces()) <= before
    out = json.loads(capsys.readouterr().out)
    c, ours, ovs = out["compare"], out["revalidation"], out["ovs"]
    assert set(c) >= {
        "flows",
        "ours_terse_ms",
        "ovs_terse_ms",
        "ratio_terse",
        "ours_full_ms",
        "ovs_full_ms",
        "ratio_full",
        "ours_bytes_per_flow",
        "ovs_bytes_per_flow",
        "ratio_memory",
    }
    # Ours ran at the flow count ovs-vswitchd installed (netdev-dummy may drop a few frames).
    assert 1500 <= c["flows"] == c["ovs_flows"] == ours["flows"] == ovs["flows"] <= 3000
    assert (c["ours_terse_ms"], c["ours_full_ms"]) == (ours["terse_ms"], ours["full_ms"])
    assert (c["ovs_terse_ms"], c["ovs_full_ms"]) == (ovs["terse_ms"], ovs["full_ms"])
    for mode in ("terse", "full"):
        if ovs[f"{mode}_ms"]:
            assert c[f"ratio_{mode}"] == pytest.approx(ours[f"{mode}_ms"] / ovs[f"{mode}_ms"], abs=1e-3)
        else:
            assert c[f"ratio_{mode}"] is None
    assert c["ours_bytes_per_flow"] > 0 and c["ovs_bytes_per_flow"] > 0
    assert c["ratio_memory"] == pytest.approx(c["ours_bytes_per_flow"] / c["ovs_bytes_per_flow"], abs=1e-3)
    assert {"terse_flows", "full_flows", "ratio"} <= set(out["churn"])  # our churn figure is in the same run


@given(
    base=st.floats(0, 50),
    per_flow=st.floats(0.1, 100),
    first=st.floats(0, 500),
    n=st.integers(10, 10**6),
    new_fraction=st.floats(0.01, 1.0),
)
def test_first_sight_cost_is_recovered_from_a_round_with_new_flows(
    base: float, per_flow: float, first: float, n: int, new_fraction: float
) -> None:
    new = max(1, int(n * new_fraction))
    measured = base + (per_flow * (n - new) + first * new) / 1000  # what such a round costs, written out
    model = CostModel(base, per_flow).with_first_sight(n, new, measured)
    assert model.first_sight_us == pytest.approx(first, rel=1e-6, abs=1e-6 * per_flow * n / new)
    assert model.duration_ms(n, new) == pytest.approx(measured, rel=1e-9)
    assert model.duration_ms(n) == pytest.approx(base + per_flow * n / 1000, rel=1e-9)  # no new flow: as before


def test_a_costly_first_sight_sustains_fewer_flows_under_churn() -> None:
    plain = simulate_churn(CostModel(2.0, 4.0), mode="x", seconds=200)
    costly = simulate_churn(CostModel(2.0, 4.0, first_sight_us=60.0), mode="x", seconds=200)
    assert plain.sustained_flows == 200_000  # 4 us per flow: the cap
    assert costly.sustained_flows < plain.sustained_flows
