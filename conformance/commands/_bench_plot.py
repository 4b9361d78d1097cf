"""A hand-written SVG of ``ufidcert bench``'s results (no plotting dependency).

Left: flows kept over (simulated) time under churn, terse vs full dumps, with
each mode's dynamic flow limit dashed. Right: measured revalidation round
time against the number of flows, terse vs full.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from conformance.commands._bench_churn import ChurnResult

__all__ = ["render_svg", "write_svg"]

_W, _H = 1000, 420
_PANEL_W, _PANEL_H = 400, 300
_COLORS = {"terse": "#1f77b4", "full": "#d62728"}


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * exp >= value:
            return float(step * exp)
    return float(10 * exp)


class _Panel:
    def __init__(self, x0: float, y0: float, x_max: float, y_max: float) -> None:
        self.x0, self.y0 = x0, y0
        # A little headroom above the highest value, so that a curve at its cap stays visible.
        self.x_max, self.y_max = _nice_max(x_max), _nice_max(y_max * 1.05)

    def px(self, x: float) -> float:
        return self.x0 + _PANEL_W * x / self.x_max

    def py(self, y: float) -> float:
        return self.y0 + _PANEL_H - _PANEL_H * y / self.y_max

    def axes(self, title: str, x_label: str, y_label: str, fmt_y: str = "{:.0f}") -> list[str]:
        out = [
            f'<rect x="{self.x0}" y="{self.y0}" width="{_PANEL_W}" height="{_PANEL_H}" fill="none" stroke="#333"/>',
            f'<text x="{self.x0 + _PANEL_W / 2}" y="{self.y0 - 12}" text-anchor="middle" font-size="14">'
            f"{escape(title)}</text>",
            f'<text x="{self.x0 + _PANEL_W / 2}" y="{self.y0 + _PANEL_H + 38}" text-anchor="middle" font-size="12">'
            f"{escape(x_label)}</text>",
            f'<text x="{self.x0 - 58}" y="{self.y0 + _PANEL_H / 2}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 {self.x0 - 58} {self.y0 + _PANEL_H / 2})">{escape(y_label)}</text>',
        ]
        for i in range(6):
            xv = self.x_max * i / 5
            yv = self.y_max * i / 5
            x, y = self.px(xv), self.py(yv)
            out.append(
                f'<line x1="{x:.1f}" y1="{self.y0 + _PANEL_H}" x2="{x:.1f}" y2="{self.y0 + _PANEL_H + 5}" '
                'stroke="#333"/>'
            )
            out.append(
                f'<text x="{x:.1f}" y="{self.y0 + _PANEL_H + 18}" text-anchor="middle" font-size="10">{xv:g}</text>'
            )
            out.append(f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x0 + _PANEL_W}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(
                f'<text x="{self.x0 - 6}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{fmt_y.format(yv)}</text>'
            )
        return out

    def line(self, xs: Sequence[float], ys: Sequence[float], color: str, *, dash: bool = False) -> str:
        pts = " ".join(f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in zip(xs, ys, strict=True) if x <= self.x_max)
        style = ' stroke-dasharray="6,4"' if dash else ""
        return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.8"{style}/>'


def render_svg(result: Mapping[str, Any], churn: Mapping[str, ChurnResult]) -> str:
    """The SVG document for a :func:`conformance.commands.bench.run_bench` result."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
    ]
    # Left: churn.
    # The simulated span (the last round may end just past it).
    t_max = float(
        result["churn"].get("seconds") or max((r.times_s[-1] for r in churn.values() if r.times_s), default=1.0)
    )
    f_max = max((max(*r.flows, *r.limits) for r in churn.values() if r.flows), default=1)
    left = _Panel(80, 50, t_max, f_max / 1000.0)
    c = result["churn"]
    parts += left.axes(
        f"Flows kept under churn: terse/full = {c['ratio']:.2f}", "time (s, simulated)", "datapath flows (thousands)"
    )
    for mode, r in churn.items():
        color = _COLORS.get(mode, "#555")
        parts.append(left.line(r.times_s, [f / 1000.0 for f in r.flows], color))
        parts.append(left.line(r.times_s, [lim / 1000.0 for lim in r.limits], color, dash=True))
    # Right: revalidation rounds.
    points = result["revalidation"]["points"]
    x_max = max(p["flows"] for p in points) / 1000.0
    y_max = max(max(p["terse_ms"], p["full_ms"]) for p in points)
    right = _Panel(570, 50, x_max, y_max)
    rv = result["revalidation"]
    parts += right.axes(
        f"Revalidation round: terse/full = {rv['ratio']:.2f}", "flows (thousands)", "round duration (ms)"
    )
    for mode in ("terse", "full"):
        xs = [0.0] + [p["flows"] / 1000.0 for p in points]
        ys = [0.0] + [p[f"{mode}_ms"] for p in points]
        color = _COLORS[mode]
        parts.append(right.line(xs, ys, color))
        for x, y in zip(xs[1:], ys[1:], strict=True):
            parts.append(f'<circle cx="{right.px(x):.1f}" cy="{right.py(y):.1f}" r="3.5" fill="{color}"/>')
    # Legend.
    ly = _H - 22
    legend = [
        ("terse dumps (UFID)", _COLORS["terse"], False),
        ("full dumps", _COLORS["full"], False),
        ("dynamic flow limit", "#555", True),
    ]
    x = 80.0
    for label, color, dash in legend:
        style = ' stroke-dasharray="6,4"' if dash else ""
        parts.append(f'<line x1="{x}" y1="{ly}" x2="{x + 30}" y2="{ly}" stroke="{color}" stroke-width="2"{style}/>')
        parts.append(f'<text x="{x + 36}" y="{ly + 4}" font-size="12">{escape(label)}</text>')
        x += 200
    mach = result.get("machine", {})
    note = f"{mach.get('processor', '')}, {mach.get('cpus', '?')} CPUs, Python {mach.get('python', '')}"
    parts.append(f'<text x="{_W - 10}" y="{_H - 6}" text-anchor="end" font-size="10" fill="#666">{escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_svg(path: str, result: Mapping[str, Any], churn: Mapping[str, ChurnResult]) -> None:
    """Write :func:`render_svg` to ``path`` (raises OSError if it cannot)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_svg(result, churn))
