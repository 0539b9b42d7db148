"""The measured dry run folded into preflight's verdict.

An estimate is only a model of memory; the probe (``tuner.probe``) runs the real thing
(same worker, same trainer, same precision) on the data's longest rows and reports the
measured peak (GPU memory on CUDA, the process's peak RSS on the CPU) and the time per
step, from which this derives the run's ETA and a problem when the peak does not fit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from modelforge_nb.plan.report import PreflightIssue, PreflightReport
from modelforge_nb.tuner.probe import run_probe

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig

__all__ = ["add_probe", "run_probe", "total_steps"]


def total_steps(config: FinetuneConfig, rows: int) -> int:
    """Optimizer steps the run will take, from the config and the training rows."""
    training = config.training
    if training.max_steps:
        return training.max_steps
    per_step = training.batch_size * training.grad_accum * config.distributed.num_processes
    return max(1, math.ceil(training.epochs * math.ceil(rows / per_step)))


def add_probe(config: FinetuneConfig, report: PreflightReport, budget: int) -> None:
    """Run the probe and fold its measurements into ``report``."""
    measured = run_probe(config)
    report.probe = measured
    if measured.get("probe_status") != "completed":
        report.problems.append(
            PreflightIssue(
                "probe.failed",
                f"Two trial training steps failed: {measured.get('probe_error')}",
                None,
                "See the trial run's error; the full run would fail the same way.",
            )
        )
        return
    peak = int(measured["probe_peak_bytes"])
    rows = report.dataset.rows if report.dataset else 0
    steps = total_steps(config, rows)
    measured["total_steps"] = steps
    measured["eta_seconds"] = steps * float(measured["probe_step_seconds"])
    memory = "GPU memory" if measured.get("probe_device") == "cuda" else "RAM"
    if peak > budget:
        report.problems.append(
            PreflightIssue(
                "probe.memory",
                f"Two trial steps on the longest batch peaked at {peak / 1e9:.2f} GB of {memory}; "
                f"{budget / 1e9:.2f} GB can be used here.",
                "training.batch_size",
                "Lower batch_size or max_seq_length, or turn on gradient_checkpointing.",
            )
        )
