"""PNG plots of the benchmark results, with matplotlib, into bench/results/.

Each benchmark calls its plot function after writing its JSON; run alone,
this redraws every plot from the JSON files present (`make bench` does so
after the turn benchmark, so the README's pictures match the last runs).

    .venv/bin/python bench/plots.py
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DESIGN_STYLE = {"chatapp": ("tab:blue", "o"), "peer_limit50": ("tab:orange", "s"), "peer_nolimit": ("tab:red", "^")}


def machine_info() -> dict[str, Any]:
    """What the figures were taken on: a shared machine's load matters."""
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def plot_turns(data: dict) -> list[Path]:
    """Latency against stored history, one line per design and turn kind (log-log)."""
    rows = [r for r in data["results"] if r.get("section") == "history"]
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for design, (color, marker) in DESIGN_STYLE.items():
        for scenario, style in (("plain", "-"), ("mcp_tool", "--")):
            points = sorted((r["history_messages"], r["p50_ms"]) for r in rows
                            if r["design"] == design and r["scenario"] == scenario)
            if points:
                ax.plot(*zip(*points), style, color=color, marker=marker, label=f"{design} {scenario}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("stored messages (items) in the conversation")
    ax.set_ylabel("turn p50 (ms)")
    ax.set_title("Turn latency against history length (offline model, PostgreSQL)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path = RESULTS / "latency_vs_history.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_served(data: dict) -> list[Path]:
    """Served throughput against concurrency, one line per worker count and turn kind."""
    rows = data["results"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for workers, color in zip(sorted({r["workers"] for r in rows}), ("tab:blue", "tab:green", "tab:purple", "tab:red")):
        for scenario, style in (("plain", "-"), ("mcp_tool", "--")):
            points = sorted((r["concurrency"], r["turns_per_s"]) for r in rows
                            if r["workers"] == workers and r["scenario"] == scenario)
            if points:
                ax.plot(*zip(*points), style, color=color, marker="o", label=f"{workers} worker(s) {scenario}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("turns/s")
    ax.set_title("Served throughput (make api, PostgreSQL, offline model)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    path = RESULTS / "served_throughput.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_capacity(data: dict) -> list[Path]:
    """Per arrival-rate step: turns in flight against first-event p99, CPU and memory."""
    steps = [s for s in data["steps"] if s.get("in_flight_mean")]
    if not steps:
        return []
    in_flight = [s["in_flight_mean"] for s in steps]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].plot(in_flight, [s["first_event_p99_ms"] for s in steps], "o-", label="p99")
    axes[0].plot(in_flight, [s["first_event_p50_ms"] for s in steps], "s--", label="p50")
    axes[0].axhline(250, color="gray", linestyle=":", label="250 ms bar")
    axes[0].set_ylabel("first event (ms)")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[1].plot(in_flight, [s["server_cpu_percent"] for s in steps], "o-", color="tab:green")
    axes[1].set_ylabel("server CPU (% of one core)")
    axes[2].plot(in_flight, [s["server_rss_mb"] for s in steps], "o-", color="tab:purple")
    axes[2].set_ylabel("server RSS (MB)")
    for ax in axes:
        ax.set_xlabel("turns in flight")
        ax.grid(True, alpha=0.3)
    fig.suptitle("Capacity: streamed turns against a slow model (200 tokens over 20 s)")
    path = RESULTS / "capacity.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


PLOTS = {"turn.json": plot_turns, "served.json": plot_served, "capacity.json": plot_capacity}


def main() -> None:
    for name, plot in PLOTS.items():
        source = RESULTS / name
        if source.exists():
            for path in plot(json.loads(source.read_text())):
                print(f"wrote {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
