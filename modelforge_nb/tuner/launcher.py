"""Start the worker process: argument lists only, never a shell.

``python -m modelforge_nb.worker RUN_DIR`` for one process, or ``accelerate launch
--num_processes N -m modelforge_nb.worker RUN_DIR`` for several. Standard input is closed
so nothing can ever wait on a prompt; output goes to ``worker.log``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from modelforge_nb.config.models import FinetuneConfig


def worker_command(
    run_dir: Path, *, num_processes: int = 1, resume: bool = False, probe: bool = False
) -> list[str]:
    flags = (["--resume"] if resume else []) + (["--probe"] if probe else [])
    tail = ["-m", "modelforge_nb.worker", str(run_dir), *flags]
    if num_processes <= 1:
        return [sys.executable, *tail]
    # --multi_gpu selects accelerate's torchrun launcher, which also runs several CPU
    # processes (the trainer then uses gloo); --cpu alone would start a single process.
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
    ]
    return launch + tail


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
    from modelforge_nb.runs import PID_FILE, read_json, write_json_atomic

    config = FinetuneConfig.model_validate(read_json(run_dir / "config.json"))
    command = worker_command(run_dir, num_processes=num_processes, resume=resume, probe=probe)
    with (run_dir / "worker.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - an argument list, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            env=worker_environment(config),
            start_new_session=True,
        )
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    import psutil

    try:
        started = psutil.Process(process.pid).create_time()
    except psutil.Error:
        started = None
    write_json_atomic(
        run_dir / PID_FILE, {"pid": process.pid, "started": started, "command": command}
    )
    return process.pid
