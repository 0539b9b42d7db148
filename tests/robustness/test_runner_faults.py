"""Faults in the runner, caused for real: a model that trains to NaN, the run index
corrupted, deleted or locked mid-run, a disk that fills up, a worker that never starts or
is killed at each stage. The run folder stays the truth: every outcome is right, every run
is listed, and what can resume does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import modelforge_nb.rundir as rundir
from modelforge_nb.config import FinetuneConfig
from modelforge_nb.errors import ModelForgeWarning, RunError
from modelforge_nb.registry import REGISTRY_FILE
from modelforge_nb.runs import Run, Workspace
from tests.repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow


def _config(model: Path, data: Path, **training: Any) -> FinetuneConfig:
    settings = {"max_steps": 30, "batch_size": 2, "save_steps": 10, "logging_steps": 1}
    return FinetuneConfig(model=str(model), dataset=str(data), training={**settings, **training})


def _wait_for(run: Run, kind: str, timeout: float = 120) -> dict[str, Any]:
    """The first event of ``kind`` in the run's log, once the worker has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in rundir.read_events(run.output_dir)[0] if e["type"] == kind]
        if found:
            return found[0]
        assert run.status in rundir.ACTIVE, f"the run ended {run.status} before {kind}"
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event within {timeout} s")


def _ends(run: Run) -> list[str]:
    return [e["status"] for e in rundir.read_events(run.output_dir)[0] if e["type"] == "end"]


@pytest.fixture(scope="module")
def nan_model(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with one infinite weight, as a damaged download leaves one."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("nan") / "model"
    shutil.copytree(tiny_causal, folder)
    weights = next(folder.glob("*.safetensors"))
    tensors = load_file(weights)
    tensors["model.layers.0.input_layernorm.weight"][0] = float("inf")
    save_file(tensors, weights, metadata={"format": "pt"})
    return folder


def test_issue_a_run_that_trains_to_nan_ends_failed_with_its_reason(
    tmp_path: Path, nan_model: Path, tiny_data: dict[str, Path]
) -> None:
    run = Workspace(tmp_path / "home").finetune(_config(nan_model, tiny_data["sft"]))
    assert run.wait(timeout=300) == "failed"
    status = rundir.read_json(run.output_dir / "status.json")
    assert status["error_code"] == "train.non_finite"
    assert "became nan at step 1" in str(run.error)
    assert "base model's weights" in str(run.error)
    assert run.weights_dir() is None  # nothing with NaN weights was saved as the result
    assert rundir.last_complete_checkpoint(run.output_dir) is None
    assert _ends(run) == ["failed"]
    # The log keeps the NaN as text a browser's JSON parser takes.
    logged = [e for e in rundir.read_events(run.output_dir)[0] if e["type"] == "log"]
    assert logged[-1]["loss"] == "nan"
    assert "last_loss" not in status  # the sidebar's number stays a number
    for line in (run.output_dir / rundir.EVENTS_FILE).read_text(encoding="utf-8").splitlines():
        json.loads(line, parse_constant=_refuse)  # strict JSON: no NaN or Infinity


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def _readable(index: Path) -> bool:
    """Whether SQLite can read every run in ``index`` (read-only: the check writes nothing)."""
    try:
        with closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as conn:
            conn.execute("SELECT * FROM runs").fetchall()
    except sqlite3.DatabaseError:
        return False
    return True


def test_issue_a_registry_corrupted_mid_run_changes_no_outcome(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    workspace = Workspace(home)
    run = workspace.finetune(_config(tiny_causal, tiny_data["sft"], max_steps=120))
    _wait_for(run, "log")
    for part in home.glob(f"{REGISTRY_FILE}*"):
        part.write_bytes(b"this is not a database " * 200)
    assert run.wait(timeout=300) == "completed"
    assert _ends(run) == ["completed"]
    assert rundir.read_json(run.output_dir / "status.json")["status"] == "completed"
    # A worker write already under way when the file was overwritten can leave SQLite's
    # own header on it; the kernel then finds the runs table damaged or sound, both real.
    damaged = not _readable(home / REGISTRY_FILE)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ModelForgeWarning)
        summaries = workspace.summaries()
    assert [(s["id"], s["status"]) for s in summaries] == [(run.id, "completed")]
    assert summaries[0]["metrics"]["global_step"] == 120
    if damaged:  # the user is told, and the damaged file is kept
        assert any("kept as" in str(w.message) for w in seen), [str(w.message) for w in seen]
        assert list(home.glob(f"{REGISTRY_FILE}.unreadable-*"))
    assert Workspace(home).get_run(run.id).status == "completed"


def test_issue_a_registry_deleted_mid_run_is_rebuilt_with_every_run(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    workspace = Workspace(home)
    earlier = workspace.create_run(
        _config(tiny_causal, tiny_data["sft"]).model_copy(update={"run_name": "earlier"})
    )
    run = workspace.finetune(_config(tiny_causal, tiny_data["sft"], max_steps=120))
    _wait_for(run, "log")
    for part in home.glob(f"{REGISTRY_FILE}*"):
        part.unlink()
    assert run.wait(timeout=300) == "completed"
    for listing in (workspace, Workspace(home)):  # a long-lived one, and a new one
        statuses = {s["id"]: s["status"] for s in listing.summaries()}
        assert statuses[run.id] == "completed"
        assert earlier.id in statuses
        assert {r.id for r in listing.list_runs()} == {run.id, earlier.id}
        assert listing.get_run(run.id).status == "completed"


@pytest.fixture
def locked_index(tmp_path: Path) -> Iterator[Path]:
    """The run index held under an exclusive lock by another program."""
    home = tmp_path / "home"
    Workspace(home)
    with closing(sqlite3.connect(home / REGISTRY_FILE, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        yield home
        holder.execute("ROLLBACK")


def test_issue_a_registry_locked_during_a_run_leaves_every_run_listed(
    locked_index: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    workspace = Workspace(locked_index)
    with pytest.warns(ModelForgeWarning, match="could not be written"):
        run = workspace.finetune(_config(tiny_causal, tiny_data["sft"], max_steps=40))
    assert run.wait(timeout=300) == "completed"
    assert _ends(run) == ["completed"]
    assert [(s["id"], s["status"]) for s in workspace.summaries()] == [(run.id, "completed")]
    assert workspace.get_run(run.id).status == "completed"
    log = (run.output_dir / "worker.log").read_text(encoding="utf-8")
    assert "The run index was not updated" in log


def test_issue_a_disk_that_fills_mid_run_ends_disk_full_and_resumes(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """On a real tmpfs, in a mount namespace of its own (``unshare``; no root needed)."""
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed to make a real small disk"
    probe = subprocess.run([unshare, "-Urm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this kernel refuses user and mount namespaces: {probe.stderr!r}")
    command = [
        unshare,
        "-Urm",
        sys.executable,
        "-m",
        "tests.robustness.disk_full",
        str(tmp_path / "mnt"),
        str(tiny_causal),
        str(tiny_data["sft"]),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    full = result["full"]
    assert (full["status"], full["error_code"]) == ("failed", "disk.full")
    assert "is full" in full["error"] and "bytes free" in full["error"]
    assert full["checkpoint"] and f"continues from {full['checkpoint']}" in full["error"]
    assert full["partial_left"] == []  # the half-written checkpoint is gone
    assert full["free_bytes"] == 0  # and the reads below ran on a disk with no byte free
    assert full["listed"] == ["failed"] and full["summaries"] == ["failed"]
    assert result["resumed"] == "completed", result["resumed_error"]
    assert result["resumed_from"].endswith(full["checkpoint"])
    assert result["final_step"] == 40


def test_issue_a_queued_run_no_worker_took_up_fails_after_the_grace_period(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """The kernel died between creating the run and launching its worker."""
    workspace = Workspace(tmp_path / "home")
    run = workspace.create_run(_config(tiny_causal, tiny_data["sft"], max_steps=4))
    assert run.status == "queued"  # within the grace period
    status = rundir.read_json(run.output_dir / "status.json")
    status["queued_at"] -= rundir.HEARTBEAT_STALE_SECONDS + 1  # as if created 31 s ago
    rundir.write_json_atomic(run.output_dir / "status.json", status)
    assert (run.status, run.error) == ("failed", rundir.NEVER_STARTED)
    assert run.stop() == "failed"
    started = time.monotonic()
    assert run.wait(timeout=60) == "failed" and time.monotonic() - started < 5
    assert [s["status"] for s in workspace.summaries()] == ["failed"]
    run.resume()
    assert run.wait(timeout=300) == "completed"


def test_issue_a_worker_that_cannot_be_launched_ends_failed_at_once(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    from modelforge_nb.tuner.launcher import start_worker

    workspace = Workspace(tmp_path / "home")
    run = workspace.create_run(_config(tiny_causal, tiny_data["sft"], max_steps=4))
    (run.output_dir / "worker.log").mkdir()  # the log cannot be opened: the launch fails
    with pytest.raises(RunError) as caught:
        start_worker(run.output_dir)
    assert caught.value.code == "run.launch_failed"
    assert run.status == "failed" and "could not be started" in str(run.error)
    assert workspace.registry.get(run.id)["status"] == "failed"  # type: ignore[index]


@pytest.mark.parametrize("stage", ["start", "log", "checkpoint"])
def test_sigkill_at_each_stage_ends_failed_and_resume_completes(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path], stage: str
) -> None:
    workspace = Workspace(tmp_path / "home")
    run = workspace.finetune(_config(tiny_causal, tiny_data["sft"], max_steps=60, save_steps=5))
    _wait_for(run, stage)
    os.kill(int(rundir.read_json(run.output_dir / rundir.PID_FILE)["pid"]), signal.SIGKILL)
    assert run.wait(timeout=60) == "failed"
    assert run.error == rundir.DEAD_WORKER
    checkpoint = rundir.last_complete_checkpoint(run.output_dir)
    if stage == "checkpoint":
        assert checkpoint is not None
    run.resume()
    assert run.wait(timeout=300) == "completed", run.error
    starts = [e for e in rundir.read_events(run.output_dir)[0] if e["type"] == "start"]
    assert starts[-1]["resumed_from"] == (str(checkpoint) if checkpoint else None)
    assert run.metrics["global_step"] == 60
