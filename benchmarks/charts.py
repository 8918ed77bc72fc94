"""Small PNG charts of the benchmarks' JSON, for RESULTS.md (matplotlib, Agg backend).

Each writer takes a benchmark's result (what it writes as JSON) and a path, draws one
figure, writes it as a PNG of a few tens of kilobytes and returns the path. The
benchmark commands call them at their end (the PNG goes in the folder ``charts`` beside
the JSON: ``benchmarks/charts/``); to draw a chart again from a saved JSON:

    python benchmarks/charts.py sweep benchmarks/sweep.json
    python benchmarks/charts.py peers benchmarks/peers.json
    python benchmarks/charts.py budget_day benchmarks/budget_day.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Where the benchmarks write their charts.
CHARTS = Path(__file__).parent / "charts"
DPI = 80


def beside(json_path: Path, name: str) -> Path:
    """Where a benchmark that writes ``json_path`` puts its chart ``name``: the folder
    ``charts`` next to it (``benchmarks/charts/`` for the JSON in ``benchmarks/``)."""
    return json_path.parent / "charts" / name


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def sweep_chart(result: dict[str, Any], path: Path) -> Path:
    """Throughput against files in flight, one line per requests in flight, one panel
    per corpus; at the best point's segments per file."""
    names = list(result["corpora"])
    segments = result["best"]["segments_per_file"]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        _sweep_panel(ax, result, name, segments)
    axes[0][0].set_ylabel("MiB/s (median)")
    axes[0][-1].legend(title="requests in flight", fontsize=8, title_fontsize=8)
    figure.suptitle(f"bulkup upload: throughput by files in flight ({segments} segments per file)")
    return _save(figure, path)


def _sweep_panel(ax: Axes, result: dict[str, Any], name: str, segments: int) -> None:
    points = [p for p in result["points"] if p["segments_per_file"] == segments]
    for concurrency in sorted({p["concurrency"] for p in points}):
        line = sorted(
            (p["files_in_flight"], p["corpora"][name]["mib_per_s"])
            for p in points
            if p["concurrency"] == concurrency
        )
        ax.plot(*zip(*line, strict=True), marker="o", label=str(concurrency))
    best = result["best"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({p["files_in_flight"] for p in points}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("files in flight")
    ax.set_title(f"{name} (best: {best['concurrency']} requests, {best['files_in_flight']} files)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def peers_chart(result: dict[str, Any], path: Path) -> Path:
    """Seconds of every contestant of benchmark 1 (lower is better), bulkup's bar apart."""
    labels, seconds = result["labels"], result["seconds"]
    names = list(labels)
    figure, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.2))
    colors = ["tab:green" if n.startswith("bulkup") else "tab:gray" for n in names]
    bars = ax.barh([labels[n] for n in names], [seconds[n] for n in names], color=colors)
    ax.bar_label(bars, fmt="%.2f s", padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (median of the rounds; lower is better)")
    ax.set_xlim(right=max(seconds.values()) * 1.18)
    mib = result["bytes"] / (1 << 20)
    ax.set_title(f"benchmark 1: {mib:.0f} MiB over TLS, 30 ms a request", fontsize=10)
    return _save(figure, path)


def budget_chart(result: dict[str, Any], path: Path) -> Path:
    """Benchmark 8: each window's use of each endpoint's budget, as a share of its limit."""
    runs = result["runs"]
    figure, axes = plt.subplots(len(runs), 1, figsize=(9, 2.6 * len(runs)), squeeze=False)
    for ax, run in zip(axes[:, 0], runs, strict=True):
        _budget_panel(ax, run)
    axes[0][0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def _budget_panel(ax: Axes, run: dict[str, Any]) -> None:
    use, limits = run["window_use"], run["limits"]
    endpoints = [e for e in limits if any(use.get(e, []))]
    width = 0.8 / max(1, len(endpoints))
    for k, endpoint in enumerate(endpoints):
        shares = [n / limits[endpoint] for n in use[endpoint]]
        xs = [i + 1 + (k - (len(endpoints) - 1) / 2) * width for i in range(len(shares))]
        label = f"{endpoint} ({limits[endpoint]:,})"
        ax.bar(xs, shares, width=width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("share of the limit")
    windows = max((len(v) for v in use.values()), default=0)
    ax.set_xticks(range(1, windows + 1))
    ax.set_xlabel("15-minute window")
    title = f"{run['corpus']}: {run['bulkup_windows']} windows, bound {run['bound_windows']}"
    ax.set_title(title, fontsize=10)


WRITERS: dict[str, Callable[[dict[str, Any], Path], Path]] = {
    "sweep": sweep_chart,
    "peers": peers_chart,
    "budget_day": budget_chart,
}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("chart", choices=sorted(WRITERS))
    parser.add_argument("json", type=Path, help="the benchmark's JSON result")
    parser.add_argument("--out", type=Path, help="default: benchmarks/charts/CHART.png")
    args = parser.parse_args(argv)
    out = args.out or CHARTS / f"{args.chart}.png"
    written = WRITERS[args.chart](json.loads(args.json.read_text()), out)
    print(f"chart: {written}")
    return written


if __name__ == "__main__":
    main()
