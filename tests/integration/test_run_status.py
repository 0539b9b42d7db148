"""Reading a run never writes; liveness from the heartbeat where the pid means nothing here;
one owner (the reaper, or ``reconcile``) cleans up after a dead worker, once."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelforge_nb.rundir as rundir
from modelforge_nb.config import FinetuneConfig
from modelforge_nb.errors import ModelForgeWarning
from modelforge_nb.runs import Run, Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "home")


def _running_run(workspace: Workspace, tiny_causal: Path, tiny_data: dict[str, Path]) -> Run:
    """A run folder as a live worker leaves it: running, with a half-written checkpoint."""
    run = workspace.create_run(
        FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]))
    )
    rundir.write_json_atomic(run.output_dir / "status.json", {"status": "running", "step": 3})
    workspace.registry.update(run.id, status="running", step=3)
    half = run.output_dir / "checkpoints" / "checkpoint-3"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"half")
    return run


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _pid_file(run: Run, pid: int, namespace: str, written_at: float) -> None:
    rundir.write_json_atomic(
        run.output_dir / rundir.PID_FILE,
        {"pid": pid, "started": None, "namespace": namespace, "written_at": written_at},
    )


def test_reading_a_dead_run_changes_no_file(
    workspace: Workspace, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = _running_run(workspace, tiny_causal, tiny_data)
    _pid_file(run, _dead_pid(), rundir.process_namespace(), time.time())
    before = _snapshot(workspace.home)
    again = Run(run.output_dir)
    assert (again.status, again.error) == ("failed", rundir.DEAD_WORKER)
    assert [r.status for r in workspace.list_runs()] == ["failed"]
    assert [s["status"] for s in workspace.summaries()] == ["failed"]
    assert _snapshot(workspace.home) == before
    assert workspace.registry.get(run.id)["status"] == "running"  # type: ignore[index]

    # The one owner of the cleanup: recorded once, half-written files removed, idempotent.
    run.reconcile()
    status = rundir.read_json(run.output_dir / "status.json")
    assert status["status"] == "failed" and status["removed_partial"] == ["checkpoint-3"]
    assert not (run.output_dir / "checkpoints" / "checkpoint-3").exists()
    assert workspace.registry.get(run.id)["status"] == "failed"  # type: ignore[index]
    cleaned = _snapshot(workspace.home)
    run.reconcile()
    assert _snapshot(workspace.home) == cleaned


def test_a_fresh_heartbeat_keeps_a_run_alive_when_its_pid_is_not_visible(
    workspace: Workspace, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = _running_run(workspace, tiny_causal, tiny_data)
    # Launched from another host or container: the pid means nothing here.
    _pid_file(run, _dead_pid(), "another-host:pid:[4026531836]", time.time() - 3600)
    rundir.beat(run.output_dir)
    before = _snapshot(workspace.home)
    assert run.status == "running" and run.error is None
    assert _snapshot(workspace.home) == before
    (run.output_dir / rundir.HEARTBEAT_FILE).write_text(
        str(time.time() - rundir.HEARTBEAT_STALE_SECONDS - 1)
    )
    before = _snapshot(workspace.home)
    assert run.status == "failed"
    assert _snapshot(workspace.home) == before


def test_before_its_first_heartbeat_a_remote_worker_has_a_grace_period(
    workspace: Workspace, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = _running_run(workspace, tiny_causal, tiny_data)
    _pid_file(run, _dead_pid(), "another-host:pid:[4026531836]", time.time())
    assert run.status == "running"
    _pid_file(run, _dead_pid(), "another-host:pid:[4026531836]", time.time() - 3600)
    assert run.status == "failed"


@pytest.mark.slow
def test_a_broken_index_never_changes_how_a_run_ends(
    workspace: Workspace, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """The run index is bookkeeping: when it cannot be written the run still completes."""
    config = FinetuneConfig(
        model=str(tiny_causal),
        dataset=str(tiny_data["sft"]),
        training={"max_steps": 4, "batch_size": 4, "logging_steps": 1, "save_steps": 100},
    )
    run = workspace.finetune(config)
    index = workspace.registry.path
    for leftover in index.parent.glob(index.name + "-*"):
        leftover.unlink()
    index.write_bytes(b"this is not a database" * 100)
    assert Run(run.output_dir).wait(timeout=300) == "completed"
    assert (run.output_dir / "adapter").is_dir()
    assert Run(run.output_dir).metrics["global_step"] == 4
    assert "run index was not updated" in (run.output_dir / "worker.log").read_text()
    # Listing again: the unreadable index is kept aside and rebuilt from the run folders.
    with pytest.warns(ModelForgeWarning, match="could not be read"):
        again = Workspace(workspace.home)
    assert [s["status"] for s in again.summaries()] == ["completed"]
    (kept,) = workspace.home.glob("registry.sqlite3.unreadable-*[0-9]")
    assert kept.read_bytes().startswith(b"this is not a database")
