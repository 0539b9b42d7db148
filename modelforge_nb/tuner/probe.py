"""The measured dry run: the worker launched with ``--probe`` trains two real steps on the
data's longest batch and writes ``probe.json`` (peak memory, seconds per step).

It runs in a temporary run folder with an index of its own, so a probe never shows up among
the user's runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.registry import REGISTRY_FILE, Registry
from modelforge_nb.tuner.launcher import reconcile, start_worker


def _wait(run_dir: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reconcile(run_dir)  # a worker that died ends failed here, not after the timeout
        status = str(rundir.read_json(run_dir / "status.json").get("status", "queued"))
        if status not in rundir.ACTIVE:
            return status
        time.sleep(0.2)
    # Too long: ask the worker to stop, by the stop file at the next step and by SIGTERM.
    (run_dir / rundir.STOP_REQUEST).write_text(str(time.time()), encoding="utf-8")
    process = rundir.read_json(run_dir / rundir.PID_FILE)
    if process.get("pid") and process.get("namespace") == rundir.process_namespace():
        import contextlib
        import os
        import signal

        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(process["pid"]), signal.SIGTERM)
    return "running"


def run_probe(config: FinetuneConfig, *, timeout: float = 900) -> dict[str, Any]:
    """Train two steps on the longest batch in a worker; return what it measured."""
    with tempfile.TemporaryDirectory(prefix="modelforge-probe-") as home:
        registry = Registry(Path(home) / REGISTRY_FILE)
        run_dir = Path(home) / "runs" / "probe"
        identity = {"id": "probe", "name": "probe", "run_dir": str(run_dir)}
        identity["registry"] = str(registry.path)
        probe_config = config.model_copy(update={"output_root": None, "run_name": "probe"})
        rundir.create(run_dir, identity, probe_config.to_dict())
        registry.add({**identity, "status": "queued", "created_at": time.time()})
        start_worker(run_dir, probe=True)
        status = _wait(run_dir, timeout)
        if status != "completed":
            error = rundir.read_json(run_dir / "status.json").get("error")
            if status in rundir.ACTIVE:
                _wait(run_dir, 60)
                error = f"no result within {timeout:.0f} s"
            return {"probe_status": status, "probe_error": error or f"ended {status}"}
        measured = rundir.read_json(run_dir / "probe.json")
        measured["probe_status"] = status
        return measured
