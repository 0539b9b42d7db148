"""The measured dry run: two real training steps on the longest batch, in the worker.

An estimate is only a model of memory; this runs the real thing (same worker, same
trainer, same precision) on the data's longest rows and reports the measured peak (GPU
memory on CUDA, the process's peak RSS on the CPU) and the time per step, from which
it derives the run's ETA.
"""

from __future__ import annotations

import math
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig
    from modelforge_nb.preflight.checks import PreflightReport


def total_steps(config: FinetuneConfig, rows: int) -> int:
    """Optimizer steps the run will take, from the config and the training rows."""
    training = config.training
    if training.max_steps:
        return training.max_steps
    per_step = training.batch_size * training.grad_accum * config.distributed.num_processes
    return max(1, math.ceil(training.epochs * math.ceil(rows / per_step)))


def run_probe(config: FinetuneConfig, *, timeout: float = 900) -> dict[str, Any]:
    """Train two steps on the longest batch in a worker; return what it measured."""
    from modelforge_nb.runs import Workspace, read_json
    from modelforge_nb.tuner.launcher import start_worker

    with tempfile.TemporaryDirectory(prefix="modelforge-probe-") as home:
        workspace = Workspace(home)
        run = workspace.create_run(
            config.model_copy(update={"output_root": None, "run_name": "probe"})
        )
        start_worker(run.output_dir, probe=True)
        status = run.wait(timeout=timeout)
        if status != "completed":
            if status in {"queued", "running"}:
                run.stop(wait=True, timeout=60)
            return {"probe_status": status, "probe_error": run.error or f"ended {status}"}
        measured = read_json(run.output_dir / "probe.json")
        measured["probe_status"] = status
        return measured


def add_probe(config: FinetuneConfig, report: PreflightReport, budget: int) -> None:
    """Run the probe and fold its measurements into ``report``."""
    from modelforge_nb.preflight.checks import PreflightIssue

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
