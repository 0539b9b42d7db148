"""Start the worker process, and clean up after one that died: argument lists only.

``python -m modelforge_nb.worker RUN_DIR`` for one process, or ``accelerate launch
--num_processes N -m modelforge_nb.worker RUN_DIR`` for several. Standard input is closed
so nothing can ever wait on a prompt; output goes to ``worker.log``. A reaper thread waits
for the process and, if it ended without recording an outcome (killed, crashed),
``reconcile`` marks the run failed: the one place that cleans up a dead run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.errors import RunError


def worker_command(
    run_dir: Path,
    *,
    num_processes: int = 1,
    resume: bool = False,
    probe: bool = False,
    config_file: Path | None = None,
    port: int | None = None,
) -> list[str]:
    """The worker's command line: the worker alone, or under ``accelerate launch`` with the
    run's accelerate config file (``strategies.accelerate_config``) for several processes.
    DDP there is accelerate's MULTI_GPU type, whose torchrun launcher also runs several CPU
    processes (the trainer then uses gloo)."""
    flags = (["--resume"] if resume else []) + (["--probe"] if probe else [])
    tail = ["-m", "modelforge_nb.worker", str(run_dir), *flags]
    if num_processes <= 1 and config_file is None:
        return [sys.executable, *tail]
    launch = [sys.executable, "-m", "accelerate.commands.launch"]
    if config_file is not None:
        launch += ["--config_file", str(config_file)]
    launch += ["--num_processes", str(num_processes), "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(port or _free_port())]
    return launch + tail


def write_accelerate_config(run_dir: Path, config: FinetuneConfig) -> Path:
    """The run's accelerate config file, for the strategy in ``config.distributed``."""
    import yaml

    from modelforge_nb.hardware import detect_hardware, resolve_precision
    from modelforge_nb.tuner.strategies import CONFIG_FILE, accelerate_config, block_classes

    blocks: tuple[str, ...] = ()
    if config.distributed.strategy == "fsdp":
        blocks = block_classes(config.model, trust_remote_code=config.trust_remote_code)
    precision = resolve_precision(config.training.precision, detect_hardware())
    path = run_dir / CONFIG_FILE
    settings = accelerate_config(config, precision=precision, block_classes=blocks)
    path.write_text(yaml.safe_dump(settings, sort_keys=True), encoding="utf-8")
    return path


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_environment(config: FinetuneConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if config.report_to == "none":
        env["WANDB_MODE"] = "disabled"
        env["WANDB_DISABLED"] = "true"
    return env


def start_worker(
    run_dir: Path, *, num_processes: int = 1, resume: bool = False, probe: bool = False
) -> int:
    """Start the worker for ``run_dir``; return its pid. A thread reaps it when it exits."""
    config = rundir.read_config(run_dir)
    spread = config.distributed
    several = num_processes > 1 or spread.num_machines > 1
    config_file = write_accelerate_config(run_dir, config) if several else None
    command = worker_command(
        run_dir,
        num_processes=num_processes,
        resume=resume,
        probe=probe,
        config_file=config_file,
        port=spread.main_process_port if spread.num_machines > 1 else None,
    )
    try:
        with rundir.worker_log(run_dir).open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - an argument list, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=run_dir,
                env=worker_environment(config),
                start_new_session=True,
            )
    except OSError as error:
        reason = f"The worker process could not be started: {error.strerror or error}."
        _record_failed(run_dir, reason)
        raise RunError(
            "run.launch_failed", reason, field="run", hint="Fix the cause, then resume the run."
        ) from None
    import psutil

    try:
        started = psutil.Process(process.pid).create_time()
    except psutil.Error:
        started = None
    rundir.write_pid(
        run_dir,
        {
            "pid": process.pid,
            "started": started,
            "namespace": rundir.process_namespace(),
            "written_at": time.time(),
            "command": command,
        },
    )

    def reap() -> None:
        process.wait()
        reconcile(run_dir)

    threading.Thread(target=reap, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid


def _record_failed(run_dir: Path, reason: str, **extra: Any) -> None:
    """Record the run as failed: the folder first (the record), then the index."""
    rundir.set_status(run_dir, "failed", error=reason, ended_at=time.time(), **extra)
    identity = rundir.read_identity(run_dir)
    if identity.get("registry") and identity.get("id"):
        from modelforge_nb.registry import update_index

        update_index(identity["registry"], identity["id"], status="failed", error=reason)


def reconcile(run_dir: Path) -> bool:
    """If the run's worker is gone but its status still says queued/running, record it as
    failed (folder first, then the index) and remove its half-written files. Idempotent;
    returns whether it changed anything."""
    _status, gone = rundir.read_status(run_dir)
    if not gone:
        return False
    removed = rundir.remove_partial_outputs(run_dir)
    _record_failed(run_dir, gone, removed_partial=removed)
    return True


def request_stop(run_dir: Path) -> None:
    """Ask the worker to stop: the stop file (read at its next step), and SIGTERM where its
    pid means something here. The worker saves a checkpoint and ends ``stopped``."""
    rundir.request_stop_file(run_dir)
    process = rundir.read_pid(run_dir)
    if process.get("pid") and process.get("namespace") == rundir.process_namespace():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(process["pid"]), signal.SIGTERM)
