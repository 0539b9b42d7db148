"""A read-only workspace (the server's GETs): it lists and finds runs and never writes the
index, whether that is there, lost or damaged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.registry import REGISTRY_FILE
from modelforge_nb.runs import Run, Workspace


def _made(home: Path, count: int = 2) -> list[Run]:
    workspace = Workspace(home)
    config = FinetuneConfig(model="org/m", dataset="d.jsonl")
    return [workspace.create_run(config) for _ in range(count)]


def _index_files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in home.glob(f"{REGISTRY_FILE}*")}


def test_it_reads_the_index_where_the_folder_name_needs_escaping(tmp_path: Path) -> None:
    home = tmp_path / "my runs #1?"
    made = _made(home)
    reader = Workspace(home, read_only=True)
    assert {s["id"] for s in reader.summaries()} == {r.id for r in made}
    assert reader.get_run(made[0].id).id == made[0].id
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.registry.update(made[0].id, status="failed")
    assert Workspace(home).get_run(made[0].id).status == "queued"


def test_a_lost_index_is_listed_from_the_folders_and_not_rebuilt(tmp_path: Path) -> None:
    made = _made(tmp_path)
    (tmp_path / REGISTRY_FILE).unlink()
    reader = Workspace(tmp_path, read_only=True)
    assert {s["id"] for s in reader.summaries()} == {r.id for r in made}
    assert reader.get_run(made[1].id).id == made[1].id
    assert _index_files(tmp_path) == {}


def test_a_damaged_index_is_left_as_it_is(tmp_path: Path) -> None:
    made = _made(tmp_path)
    (tmp_path / REGISTRY_FILE).write_bytes(b"not a database" * 100)
    before = _index_files(tmp_path)
    reader = Workspace(tmp_path, read_only=True)
    assert {s["id"] for s in reader.summaries()} == {r.id for r in made}
    assert reader.get_run(made[0].id).id == made[0].id
    assert _index_files(tmp_path) == before  # not repaired, not moved aside
