"""The report's figures: throughput vs batch, speed-ups with intervals, first-call cost."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from benchmarks.matrix import PHASES
from benchmarks.output.files import replace_atomically
from impls.registry import ENGINES, MODES

COLORS = dict(zip(MODES, plt.get_cmap("tab10").colors, strict=False))
ENGINE_COLORS = {name: engine.color for name, engine in ENGINES.items()}
STYLES = {name: mode.line for name, mode in MODES.items()}


def _save(fig, path: Path) -> Path:
    try:
        return replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight",
                                                                format="png"))
    finally:
        plt.close(fig)


def _grid(frame: pd.DataFrame, rows: tuple[str, list], columns: tuple[str, list], width: float):
    """A figure with one panel per (row value, column value) of two of ``frame``'s columns;
    returns it, its axes and (axes, that panel's rows, (row value, column value)) per panel."""
    (row_key, row_values), (column_key, column_values) = rows, columns
    fig, axes = plt.subplots(len(row_values), len(column_values),
                             figsize=(width * len(column_values), 3.4 * len(row_values)), squeeze=False)
    panels = [(axes[i][j], frame[(frame[row_key] == r) & (frame[column_key] == c)], (r, c))
              for i, r in enumerate(row_values) for j, c in enumerate(column_values)]
    return fig, axes, panels


def _legend_below(fig, axes, below: float) -> None:
    """One legend for the whole figure, under the panels: every label once, in first-seen order."""
    legend = {}
    for ax in np.ravel(axes):
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=max(len(legend), 1),
               frameon=False, bbox_to_anchor=(0.5, below))


def throughput(steps: pd.DataFrame, device: str, path: Path) -> Path:
    models = list(dict.fromkeys(steps["model"]))
    phases = [p for p in PHASES if p in set(steps["phase"])]
    fig, axes, panels = _grid(steps, ("model", models), ("phase", phases), 4.2)
    for ax, part, (model, phase) in panels:
        for mode, rows in part.groupby("mode", sort=False):
            rows = rows.sort_values("batch")
            batch = rows.batch.to_numpy(float)
            ips = batch / rows.median_s.to_numpy(float)
            err = np.vstack([ips - batch / rows.q3_s.to_numpy(float),
                             batch / rows.q1_s.to_numpy(float) - ips])  # the IQR
            line = ax.errorbar(batch, ips, yerr=err, label=mode, color=COLORS.get(mode),
                               linestyle=STYLES.get(mode, "-"), marker="o", markersize=3, capsize=2)
            busy = rows.contended.to_numpy(bool) if "contended" in rows else np.zeros(len(rows), bool)
            if busy.any():  # contended cases: hollow, larger markers over the line
                ax.plot(batch[busy], ips[busy], linestyle="none", marker="o", markersize=8,
                        markerfacecolor="none", markeredgecolor=line[0].get_color(),
                        label="_contended")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(steps.batch)), [str(b) for b in sorted(set(steps.batch))])
        ax.set_yscale("log")
        ax.set_title(f"{model} · {phase} · {device}", fontsize=10)
        ax.set_xlabel("batch size")
        ax.set_ylabel("images / s (higher is better)")
        ax.grid(True, which="both", alpha=0.3)
    busy = int(steps.contended.sum()) if "contended" in steps else 0
    fig.suptitle("Throughput from the median step time (bars: IQR; log scales)"
                 + (f"\nhollow rings: {busy} contended cases (timed beside other processes; "
                    "no verdict)" if busy else ""))
    _legend_below(fig, axes, -0.04)
    fig.tight_layout()
    return _save(fig, path)


def speedups(table: pd.DataFrame, path: Path) -> Path:
    """table: comparison, model, phase, batch, speedup, low, high."""
    pairs = list(dict.fromkeys(table["comparison"]))
    cols = min(3, len(pairs))  # a grid, so more frameworks add rows, not an unreadable strip
    rows_n = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 3.6 * rows_n), squeeze=False,
                             sharey=True)
    flat = list(axes.flat)
    for ax in flat[len(pairs):]:
        ax.set_visible(False)
    for ax, pair in zip(flat, pairs, strict=False):
        part = table[table.comparison == pair]
        for (model, phase), rows in part.groupby(["model", "phase"], sort=False):
            rows = rows.sort_values("batch")
            speedup = rows.speedup.to_numpy(float)
            err = np.vstack([speedup - rows.low.to_numpy(float), rows.high.to_numpy(float) - speedup])
            ax.errorbar(rows.batch.to_numpy(float), speedup, yerr=np.nan_to_num(err), marker="o",
                        markersize=3, capsize=2, label=f"{model} {phase}",
                        linestyle="-" if model == "examples" else "--")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(table.batch)), [str(b) for b in sorted(set(table.batch))])
        ax.set_yscale("log")
        ax.set_title(pair, fontsize=10)
        ax.set_xlabel("batch size")
        ax.grid(True, which="both", alpha=0.3)
    for row in axes:
        row[0].set_ylabel("speed-up (> 1: first mode faster)")
    flat[len(pairs) - 1].legend(fontsize=7, loc="best")
    noise = " and ".join(dict.fromkeys(table["interval"])) if "interval" in table else "rounds"
    fig.suptitle(f"Speed-ups with 95% intervals from {noise} (log scale; 1 = same speed)")
    fig.tight_layout()
    return _save(fig, path)


def first_call(rows: pd.DataFrame, path: Path, batch: int = 64) -> Path:
    """Bars per model and first-call series (see report.first_call_rows), train phase."""
    part = rows[(rows.batch == batch) & (rows.phase == "train")]
    if part.empty:
        batch = int(rows.batch.max())
        part = rows[(rows.batch == batch) & (rows.phase == "train")]
        part = part if not part.empty else rows[rows.batch == batch]
    pivot = part.pivot_table(index="model", columns="series", values="seconds", aggfunc="first")
    order = {m: i for i, m in enumerate(MODES)}
    pivot = pivot[sorted(pivot.columns, key=lambda s: (order.get(s.split(" ")[0], 99), s))]
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    width = 0.8 / max(len(pivot.columns), 1)
    x = np.arange(len(pivot.index))
    for k, series in enumerate(pivot.columns):
        ax.bar(x + k * width, pivot[series], width, label=series,
               color=COLORS.get(series.split(" ")[0]), hatch="//" if "cold" in series else None,
               alpha=0.6 if "warm" in series else 1.0)
    ax.set_xticks(x + width * (len(pivot.columns) - 1) / 2, pivot.index)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log)")
    ax.set_title(f"First call on a fresh instance (trace / compile + one step), train, batch {batch}\n"
                 "compiled modes labelled by what their compile cache did", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return _save(fig, path)


def accuracy_curves(curves: pd.DataFrame, target: float, path: Path) -> Path:
    """Per model: test accuracy against wall time (what time-to-accuracy measures) and
    against epochs, one line per mode and seed, the target as a dashed line."""
    models = list(dict.fromkeys(curves["model"]))
    fig, axes = plt.subplots(len(models), 3, figsize=(14, 3.6 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        part = curves[curves.model == model]
        for (mode, seed), rows in part.groupby(["mode", "seed"], sort=False):
            style = {"color": COLORS.get(mode), "linestyle": STYLES.get(mode, "-"), "marker": ".",
                     "label": mode if seed == part.seed.min() else None, "alpha": 0.85}
            axes[i][0].plot(rows.elapsed_s, rows.test_accuracy * 100, **style)
            axes[i][1].plot(rows.epoch, rows.test_accuracy * 100, **style)
            axes[i][2].plot(rows.epoch, rows.train_loss, **style)
        for ax, xlabel, ylabel in zip(axes[i], ("wall seconds since build (pipeline, tracing and "
                                                "evaluation included)", "epoch", "epoch"),
                                      ("test accuracy (%)", "test accuracy (%)", "train loss (NLL)"),
                                      strict=True):
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        for ax in axes[i][:2]:
            ax.axhline(target * 100, color="grey", linestyle="--", linewidth=1)
        axes[i][1].xaxis.get_major_locator().set_params(integer=True)
        axes[i][2].xaxis.get_major_locator().set_params(integer=True)
        axes[i][0].set_title(f"{model}: time to {target:.0%} (dashed)")
        axes[i][1].set_title(f"{model}: accuracy per epoch")
        axes[i][2].set_title(f"{model}: training loss")
        axes[i][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Time to accuracy: one line per mode and seed ({part.seed.nunique()} seeds); "
                 "each run stops at the target", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


LINK_STYLES = ("-", "--", "-.", ":")  # one per link speed in the scaling figure


def scaling(frame: pd.DataFrame, path: Path) -> Path:
    """Images/s against workers, per model (rows) and scaling series (columns)."""
    reduced = frame[frame["allreduce"]]
    models = sorted(set(reduced.model))
    series = [s for s in ("weak", "strong") if s in set(reduced.scaling)]
    fig, _, panels = _grid(reduced, ("model", models), ("scaling", series), 4.5)
    links = list(dict.fromkeys(reduced.link))  # summarize names every case's link
    for ax, part, (model, scaling) in panels:
        for (engine, link), rows in part.groupby(["engine", "link"], sort=False):
            rows = rows.sort_values("workers")
            ax.plot(rows.workers, rows.images_per_s, marker="o",
                    linestyle=LINK_STYLES[links.index(link) % len(LINK_STYLES)],
                    label=f"{engine}, {link}" if len(links) > 1 else engine,
                    color=ENGINE_COLORS.get(engine))
            one = rows[rows.workers == 1].images_per_s
            if not one.empty:  # perfect scaling from this engine's 1-worker rate
                ax.plot(rows.workers, one.iloc[0] * rows.workers, linestyle=":",
                        color=ENGINE_COLORS.get(engine), alpha=0.6)
        ax.set_xticks(sorted(set(reduced.workers)))
        ax.set_title(f"{model} · {scaling} scaling", fontsize=10)
        ax.set_xlabel("workers")
        ax.set_ylabel("global images / s")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle("Data-parallel throughput (dotted: perfect scaling from 1 worker)")
    fig.tight_layout()
    return _save(fig, path)


BREAKDOWN_PARTS = {"kernels_s": ("kernels", "tab:green"), "framework_s": ("framework", "tab:orange"),
                   "python_s": ("Python", "tab:red")}


def breakdown(rows: list[dict], path: Path) -> Path:
    """Stacked bars: each mode's profiled train step split into kernels, framework, Python,
    per model and batch (one panel each), in milliseconds."""
    frame = pd.DataFrame(rows)
    panels = list(dict.fromkeys(zip(frame.model, frame.batch, strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (model, batch) in zip(axes[0], panels, strict=True):
        part = frame[(frame.model == model) & (frame.batch == batch)]
        bottom = np.zeros(len(part))
        for column, (label, color) in BREAKDOWN_PARTS.items():
            values = part[column].to_numpy(float) * 1e3
            ax.bar(part["mode"], values, bottom=bottom, color=color, label=label)
            bottom += values
        ax.scatter(part["mode"], part["unprofiled_s"].to_numpy(float) * 1e3, marker="_", s=400,
                   color="black", label="unprofiled step", zorder=3)
        ax.set_title(f"{model} · train · batch {batch}", fontsize=10)
        ax.set_ylabel("ms per step")
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(True, axis="y", alpha=0.3)
    _legend_below(fig, axes, -0.06)
    fig.suptitle("Where a train step's time goes (one profiled step, after warm-up)")
    fig.tight_layout()
    return _save(fig, path)
