"""The registry: short connections, a rollback journal, concurrent writers, rebuildable,
isolated, and a damaged file never kills the process writing it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.errors import RunError
from modelforge_nb.registry import Registry
from modelforge_nb.runs import Workspace, new_run_id
from modelforge_nb.tuner.launcher import worker_command


def _open_files() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def test_audit_06_thousands_of_operations_leak_no_file(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.sqlite3")
    registry.add({"id": "warm", "name": "warm", "status": "queued", "run_dir": str(tmp_path)})
    before = _open_files()
    for i in range(250):
        registry.add({"id": f"r{i}", "name": "n", "status": "queued", "run_dir": str(tmp_path)})
        registry.update(f"r{i}", status="running", step=i)
        assert registry.get(f"r{i}")["status"] == "running"  # type: ignore[index]
        registry.list() if i % 50 == 0 else None
    assert _open_files() == before
    assert len(registry.list()) == 251


WRITER = """
import sys
from modelforge_nb.registry import Registry
registry = Registry(sys.argv[1])
for i in range(300):
    registry.update("shared", step=i, last_loss=float(i))
print("done")
"""


def test_audit_12_worker_and_kernel_write_at_once_without_locking(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    registry = Registry(path)
    registry.add({"id": "shared", "name": "s", "status": "running", "run_dir": str(tmp_path)})
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for i in range(300):
        registry.add({"id": f"k{i}", "name": "k", "status": "queued", "run_dir": str(tmp_path)})
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert "locked" not in err and out.strip() == "done"
    journal = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; print(sqlite3.connect({str(path)!r})"
            ".execute('PRAGMA journal_mode').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert journal.stdout.strip() == "delete"


def test_an_index_left_in_wal_mode_is_turned_to_the_rollback_journal(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
    Registry(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not path.with_name(path.name + "-shm").exists()


DAMAGED_WRITER = """
import sys, time
from modelforge_nb.registry import update_index
for i in range(400):
    update_index(sys.argv[1], "a", timeout=0.1, step=i)
    time.sleep(0.005)
print("done")
"""


def test_an_index_damaged_while_a_worker_writes_it_does_not_kill_the_worker(
    tmp_path: Path,
) -> None:
    """Overwriting the index files while the kernel holds the index open and a worker
    writes progress: in WAL mode the worker died of SIGBUS (its mapped ``-shm`` cut short);
    now each write only fails and says so."""
    path = tmp_path / "registry.sqlite3"
    Registry(path).add({"id": "a", "name": "a", "status": "running", "run_dir": str(tmp_path)})
    with closing(sqlite3.connect(path)) as held:
        held.execute("SELECT * FROM runs").fetchall()
        writer = subprocess.Popen(
            [sys.executable, "-c", DAMAGED_WRITER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and writer.poll() is None:
            for part in tmp_path.glob("registry.sqlite3*"):
                part.write_bytes(b"this is not a database " * 200)
            time.sleep(0.001)
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, f"the writer ended with {writer.returncode}"
    assert out.strip() == "done"
    assert "The run index was not updated" in err


def test_audit_11_two_homes_never_see_each_other(tmp_path: Path) -> None:
    config = FinetuneConfig(model="org/m", dataset="d.jsonl")
    first, second = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    run = first.create_run(config)
    assert [r.id for r in first.list_runs()] == [run.id]
    assert second.list_runs() == []
    with pytest.raises(RunError) as caught:
        second.get_run(run.id)
    assert caught.value.code == "run.unknown"


def test_a_lost_index_is_rebuilt_from_the_run_folders(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    made = [
        workspace.create_run(FinetuneConfig(model="org/m", dataset="d.jsonl")) for _ in range(3)
    ]
    (tmp_path / "registry.sqlite3").unlink()
    again = Workspace(tmp_path)
    assert {r.id for r in again.list_runs()} == {r.id for r in made}
    assert {s["status"] for s in again.summaries()} == {"queued"}


def test_an_index_from_an_older_release_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,"
            " task TEXT, model TEXT, method TEXT, adapter TEXT, run_dir TEXT NOT NULL,"
            " created_at REAL NOT NULL, updated_at REAL NOT NULL, step INTEGER DEFAULT 0,"
            " total_steps INTEGER, last_loss REAL, error TEXT)"
        )
        conn.execute(
            "INSERT INTO runs VALUES ('old', 'old', 'completed', 'text-generation', 'm', 'sft',"
            " 'lora', '/nowhere', 1.0, 2.0, 10, 10, 0.5, NULL)"
        )
    registry = Registry(path)
    assert registry.get("old")["metrics"] == {}  # type: ignore[index]
    registry.update("old", metrics={"train_loss": 0.5}, started_at=1.5)
    row = registry.get("old")
    assert row is not None and row["metrics"] == {"train_loss": 0.5} and row["step"] == 10


@pytest.mark.parametrize("name", ["../../etc", "a b;rm -rf ~", "$(reboot)", "x" * 200])
def test_audit_09_user_strings_never_reach_a_shell_or_an_unsafe_path(
    name: str, tmp_path: Path
) -> None:
    config = FinetuneConfig(model=str(tmp_path / name), dataset="d.jsonl")
    run_id = new_run_id(config)
    assert "/" not in run_id and ".." not in run_id.split("-")[0]
    assert all(c.isalnum() or c in "._-" for c in run_id)
    command = worker_command(tmp_path / run_id)
    assert isinstance(command, list) and command[0] == sys.executable
    assert command[-1] == str(tmp_path / run_id)
    with pytest.raises(RunError):
        Workspace(tmp_path).get_run(name)
