"""The measured dry run: the worker launched with ``--probe`` trains two real steps on the
data's longest batch and writes ``probe.json`` (peak memory, seconds per step).

``run_probe`` launches it (in a temporary run folder with an index of its own, so a probe
never shows up among the user's runs); ``probe_setup`` and ``probe_measure`` are the
worker's side.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.environment import runs_root
from modelforge_nb.registry import REGISTRY_FILE, Registry
from modelforge_nb.tuner.launcher import reconcile, request_stop, start_worker


def _wait(run_dir: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reconcile(run_dir)  # a worker that died ends failed here, not after the timeout
        status = str(rundir.read_status_file(run_dir).get("status", "queued"))
        if status not in rundir.ACTIVE:
            return status
        time.sleep(0.2)
    request_stop(run_dir)  # too long: the worker stops at its next step
    return "running"


def _until_exited(pid: int, timeout: float) -> None:
    """Wait for the worker process to be gone: its last writes (the run index, its log)
    come after the status it reports, and its folder is removed after this."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


def run_probe(config: FinetuneConfig, *, timeout: float = 900) -> dict[str, Any]:
    """Train two steps on the longest batch in a worker; return what it measured."""
    with tempfile.TemporaryDirectory(prefix="modelforge-probe-") as home:
        registry = Registry(Path(home) / REGISTRY_FILE)
        run_dir = runs_root(None, Path(home)) / "probe"
        identity = {"id": "probe", "name": "probe", "run_dir": str(run_dir)}
        identity["registry"] = str(registry.path)
        probe_config = config.model_copy(update={"output_root": None, "run_name": "probe"})
        rundir.create(run_dir, identity, probe_config.to_dict())
        registry.add({**identity, "status": "queued", "created_at": time.time()})
        pid = start_worker(run_dir, probe=True)
        status = _wait(run_dir, timeout)
        if status in rundir.ACTIVE:
            _wait(run_dir, 60)
        _until_exited(pid, 60)
        result = rundir.read_status_file(run_dir)
        if status != "completed":
            error = result.get("error")
            if status in rundir.ACTIVE:
                error = f"no result within {timeout:.0f} s"
            return {"probe_status": status, "probe_error": error or f"ended {status}"}
        measured = rundir.read_json(run_dir / rundir.PROBE_FILE)
        measured["probe_status"] = status
        return measured


PROBE_STEPS = 2


def probe_setup(config: FinetuneConfig, data: Any) -> tuple[Any, FinetuneConfig]:
    """The longest rows, enough for two full optimizer steps, and a two-step config."""
    from modelforge_nb.data.lengths import example_text

    per_step = config.training.batch_size * config.training.grad_accum
    longest = sorted(
        data.train, key=lambda row: len(example_text(data.data_format, row)), reverse=True
    )[: per_step * PROBE_STEPS]
    data.train, data.eval = longest, None
    training = config.training.model_copy(
        update={
            "max_steps": PROBE_STEPS,
            "logging_steps": 1,
            "eval_steps": None,
            "save_steps": 10**9,
            "warmup_ratio": 0.0,
        }
    )
    return data, config.model_copy(
        update={"training": training, "eval_dataset": None, "eval_fraction": None}
    )


def probe_measure(run_dir: Path, on_gpu: bool, started: float) -> dict[str, Any]:
    """Peak memory and seconds per step of the probe, from the trainer's own events."""
    from modelforge_nb.tuner.effective import peak_memory_bytes

    peak = peak_memory_bytes(on_gpu)
    logs = [e for e in rundir.read_events(run_dir)[0] if e["type"] == "log"]
    times = {int(e["step"]): float(e["time"]) for e in logs}
    if 1 in times and PROBE_STEPS in times:
        step_seconds = (times[PROBE_STEPS] - times[1]) / (PROBE_STEPS - 1)
    else:
        step_seconds = (time.perf_counter() - started) / PROBE_STEPS
    measured = {
        "probe_peak_bytes": peak,
        "probe_step_seconds": step_seconds,
        "probe_device": "cuda" if on_gpu else "cpu",
    }
    rundir.write_json_atomic(run_dir / rundir.PROBE_FILE, measured)
    return measured
