"""The report as one self-contained HTML page: the verdict, the table, and a matplotlib plot of
score against cost per sample and against latency (p50), each system with its 95% interval, and
the frontier (the systems no other beats on both axes), embedded as a PNG."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: the page is written, not shown

from matplotlib import pyplot
from matplotlib.axes import Axes

from .report import Report, Result

_COLOURS = {"mixture": "tab:red", "member": "tab:blue", "self-moa": "tab:green"}


def frontier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other is at most as far along x as and higher on y, by x."""
    best, out = -1.0, []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            out.append((x, y))
            best = y
    return out


def _panel(axes: Axes, systems: Sequence[Result], x_of: str, x_label: str) -> None:
    for r in systems:
        x, y = getattr(r, x_of), 100 * r.score
        err = [[y - 100 * r.low], [100 * r.high - y]]
        colour = _COLOURS.get(r.role, "tab:purple")
        axes.errorbar(x, y, yerr=err, fmt="o", color=colour, capsize=4)
        axes.annotate(r.label[:28], (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    line = frontier([(getattr(r, x_of), 100 * r.score) for r in systems])
    axes.step(
        *zip(*line, strict=True), where="post", color="grey", linestyle="--", label="frontier"
    )
    axes.set_xlabel(x_label)
    axes.set_ylabel("score (points, 95% interval)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)


def plot_png(report: Report) -> bytes:
    figure, (cost, latency) = pyplot.subplots(1, 2, figsize=(12, 4.8))
    _panel(cost, report.systems, "cost_per_sample", "cost per sample (USD)")
    _panel(latency, report.systems, "latency_p50", "latency p50 (s)")
    figure.suptitle(f"{report.task}: score vs cost and latency")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot.close(figure)
    return buffer.getvalue()


def render(report: Report, table: str) -> str:
    """The page: verdict, plot and table, nothing fetched from anywhere."""
    image = base64.b64encode(plot_png(report)).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>litellm-mixture eval: {html.escape(report.task)}</title>
<style>body{{font-family:sans-serif;margin:2em}}pre{{font-size:12px}}</style></head>
<body>
<h1>Does the mixture beat its best member? ({html.escape(report.task)})</h1>
<p id="verdict"><strong>{html.escape(report.verdict)}</strong></p>
<img id="plot" alt="score against cost and latency" width="1200" height="480"
 src="data:image/png;base64,{image}">
<pre id="table">{html.escape(table)}</pre>
</body></html>
"""
