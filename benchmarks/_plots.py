"""PNG figures (matplotlib, the ``bench`` extra), written next to the markdown results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._env import RESULTS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float, cols: int = 1) -> tuple[Figure, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, cols, figsize=(width, height), squeeze=False)
    return fig, axes[0]


def _save(fig: Figure, name: str) -> None:
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(RESULTS / name, dpi=110)
    plt.close(fig)


def b1_bars(
    name: str,
    n: int,
    bound_s: float,
    rows: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, tuple[str, Any]],
) -> None:
    """Correct outputs, requests per item, 429s and makespan per contender."""
    names = list(rows)
    short = [k for k in names]
    fig, axes = _figure(14, 3.4, cols=4)
    colors = ["#1f77b4" if k == "batchpoll" else "#999999" for k in names]
    correct = [rows[k]["correct"] for k in names]
    per_item = [rows[k]["server"]["requests_total"] / n for k in names]
    r429 = [rows[k]["server"]["rate_limited"] for k in names]
    makespan = [rows[k]["elapsed_s"] if rows[k]["ended"] == "ok" else 0.0 for k in names]
    panels: Sequence[tuple[str, list[float], float | None]] = [
        (f"correct outputs (of {n})", [float(c) for c in correct], float(n)),
        ("requests per item (target ≤ 3.6)", per_item, 3.6),
        ("429 replies", [float(x) for x in r429], None),
        (f"makespan, s (bound {bound_s:.0f} s; 0: crashed)", makespan, bound_s * 1.15),
    ]
    for ax, (title, values, ref) in zip(axes, panels, strict=True):
        ax.barh(short, values, color=colors)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
        if ref is not None:
            ax.axvline(ref, color="#d62728", linestyle="--", linewidth=1)
    fig.suptitle(f"B1 bulk: {n} items at 1,200 RPM (red: target / bound ×1.15)", fontsize=10)
    _save(fig, name)


def b2_frontier(name: str, fronts: Sequence[Any]) -> None:
    """Per distribution: the optimum's frontier (λ sweep) and every schedule's point."""
    fig, axes = _figure(15, 4.4, cols=len(fronts))
    markers = {
        "100 ms loop": ("x", "#7f7f7f"),
        "fixed 1 s (SDK `poll`)": ("s", "#7f7f7f"),
        "seed backoff": ("D", "#ff7f0e"),
        "batchpoll backoff": ("o", "#1f77b4"),
        "batchpoll learned": ("*", "#2ca02c"),
    }
    for ax, f in zip(axes, fronts, strict=True):
        ax.plot(
            [p.checks for p in f.sweep],
            [p.lag for p in f.sweep],
            "-",
            color="#d62728",
            label="optimum (DP, λ sweep)",
        )
        for label, r in f.rows.items():
            if label.startswith("optimum"):
                ax.plot(r.checks, r.lag_mean, ".", color="#d62728")
                ax.annotate(label.split()[-1], (r.checks, r.lag_mean), fontsize=7)
                continue
            marker, color = markers.get(label, ("^", "black"))
            ax.plot(r.checks, r.lag_mean, marker, color=color, label=label, markersize=8)
        ax.set_xscale("log")
        ax.set_xlabel("checks per job (log)")
        ax.set_ylabel("mean detection lag, s")
        ax.set_title(f.name, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("B2: checks against detection lag (lower left is better)", fontsize=10)
    _save(fig, name)


def b4_rates(
    name: str, series: Sequence[tuple[str, Sequence[tuple[float, float]]]], rpm: int
) -> None:
    """batchpoll's budget rate over time, per scenario, against the limit."""
    fig, axes = _figure(9, 3.6)
    ax = axes[0]
    for label, samples in series:
        ax.step([t for t, _ in samples], [r for _, r in samples], where="post", label=label)
    ax.axhline(rpm, color="#d62728", linestyle="--", linewidth=1, label=f"limit {rpm} RPM")
    ax.axhline(rpm * 0.7, color="#7f7f7f", linestyle=":", linewidth=1, label="70 % of the limit")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("batchpoll budget rate, RPM")
    ax.set_ylim(0, rpm * 1.1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("B4: batchpoll's rate, alone and with a competing client", fontsize=10)
    _save(fig, name)
