"""Stop, resume, kill and failure of real worker processes; several processes at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from run_helpers import resume_at_once

import modelforge_nb.rundir as rundir
from modelforge_nb.config import FinetuneConfig
from modelforge_nb.runs import COMPLETE_MARKER, Run, Workspace, last_complete_checkpoint

pytestmark = pytest.mark.slow

LONG = {
    "max_steps": 400,
    "learning_rate": 1e-2,
    "batch_size": 4,
    "grad_accum": 1,
    "logging_steps": 1,
    "save_steps": 1000,
}


def _until_step(run: Run, step: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["type"] == "log" and e["step"] >= step for e in run.history):
            return
        assert run.status in {"queued", "running"}, (run.error, run.status)
        time.sleep(0.2)
    raise AssertionError(f"run never reached step {step}")


def _config(tiny_causal: Path, tiny_data: dict[str, Path], **training: int) -> FinetuneConfig:
    return FinetuneConfig(
        model=str(tiny_causal), dataset=str(tiny_data["sft"]), training={**LONG, **training}
    )


def test_stop_saves_a_checkpoint_and_resume_finishes(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    workspace = Workspace(tmp_path)
    run = workspace.finetune(_config(tiny_causal, tiny_data, max_steps=60))
    _until_step(run, 5)
    assert run.stop(wait=True, timeout=120) == "stopped"
    checkpoint = last_complete_checkpoint(run.output_dir)
    assert checkpoint is not None and (checkpoint / COMPLETE_MARKER).exists()
    stopped_at = int(checkpoint.name.split("-")[-1])
    assert 5 <= stopped_at < 60
    assert not (run.output_dir / "adapter").exists()
    run.resume()
    assert run.wait(timeout=300) == "completed", run.error
    steps = [e["step"] for e in run.history if e["type"] == "log"]
    after = steps[steps.index(stopped_at) + 1 :]
    assert after[0] == stopped_at + 1 and after[-1] == 60
    starts = [e for e in run.events if e["type"] == "start"]
    assert starts[-1]["resumed_from"] == str(checkpoint)
    assert (run.output_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_two_resumes_at_once_start_one_worker(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """Two processes resume one failed run at the same moment: one gets it back queued or
    running, the other ``run.active``, and a single worker trains it. Checking the status
    and writing ``queued`` were two steps, so both callers often started a worker."""
    context = multiprocessing.get_context("spawn")
    workspace = Workspace(tmp_path)
    config = _config(tiny_causal, tiny_data, max_steps=2, batch_size=2)
    for trial in range(5):
        run = workspace.create_run(config)
        rundir.set_status(run.output_dir, "failed", error="The worker was lost.")
        barrier, results = context.Barrier(2), context.Queue()
        callers = [
            context.Process(target=resume_at_once, args=(str(run.output_dir), barrier, results))
            for _ in range(2)
        ]
        for caller in callers:
            caller.start()
        outcomes = [results.get(timeout=120) for _ in callers]
        for caller in callers:
            caller.join(timeout=60)
        won = [o for o in outcomes if o in {"queued", "running"}]
        assert len(won) == 1 and outcomes.count("run.active") == 1, (trial, outcomes)
        assert run.wait(timeout=300) == "completed", run.error
        starts = [e for e in run.events if e["type"] == "start"]
        assert len(starts) == 1, (trial, [e["pid"] for e in starts])


def test_audit_08_sigkill_ends_failed_with_partial_files_removed(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    workspace = Workspace(tmp_path)
    run = workspace.finetune(_config(tiny_causal, tiny_data))
    _until_step(run, 3)
    # A checkpoint the worker was still writing when it died (it has no completion mark).
    half = run.output_dir / "checkpoints" / "checkpoint-3"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"half")
    os.kill(json.loads((run.output_dir / "pid.json").read_text())["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while run.status != "failed" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.status == "failed"
    assert "ended without reporting" in (run.error or "")
    # Reading the status only reports it; the launcher's reaper records it and cleans up.
    recorded = run.output_dir / "status.json"
    while json.loads(recorded.read_text())["status"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.2)
    # The worker may have been mid-way through files of its own too; ours is among them.
    assert "checkpoint-3" in json.loads(recorded.read_text())["removed_partial"]
    assert not half.exists()
    for kept in ("config.json", "events.jsonl", "worker.log", "run.json"):
        assert (run.output_dir / kept).is_file()
    assert workspace.registry.get(run.id)["status"] == "failed"  # type: ignore[index]


def test_an_exception_in_the_worker_ends_failed_with_a_clear_reason(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(tiny_data["sft"].read_text())
    workspace = Workspace(tmp_path / "home")
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(data), training=LONG)
    assert workspace.preflight(config).ok
    run = workspace.create_run(config)
    data.unlink()  # after preflight, before the worker reads it
    from modelforge_nb.tuner.launcher import start_worker

    start_worker(run.output_dir)
    assert run.wait(timeout=180) == "failed"
    assert "train.jsonl" in (run.error or "") and "does not exist" in (run.error or "")
    assert "Traceback" in (run.output_dir / "worker.log").read_text()
    assert len((run.error or "").splitlines()) == 1


def test_two_process_accelerate_run_completes(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    workspace = Workspace(tmp_path)
    config = FinetuneConfig(
        model=str(tiny_causal),
        dataset=str(tiny_data["sft"]),
        distributed={"num_processes": 2},
        training={**LONG, "max_steps": 8, "logging_steps": 2, "save_steps": 4},
    )
    run = workspace.finetune(config)
    assert run.wait(timeout=300) == "completed", (run.output_dir / "worker.log").read_text()
    (start,) = [e for e in run.events if e["type"] == "start"]
    assert start["world_size"] == 2
    command = json.loads((run.output_dir / "pid.json").read_text())["command"]
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert "--num_processes" in command and "2" in command
