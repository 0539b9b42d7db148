"""The run index: SQLite with a rollback journal, one short connection per operation.

The run folders are the source of truth; the registry indexes them (identity, status,
progress, final metrics) so a listing of hundreds of runs is one query, and
``Registry.rebuild`` recreates it from the folders. Repairing the index lives here too:
``open_index`` builds a new or lost one from the folders, and ``repair_index`` keeps a
damaged one aside and rebuilds it. Each operation opens and closes its own connection (no
pool, no shared handle), with a busy timeout, so the kernel and a worker process can write
at once.

Not WAL: every WAL connection maps the shared-memory file ``-shm`` into its process, so a
damaged or truncated ``-shm`` (a sync client, a user cleaning up) kills the training
worker with SIGBUS in the middle of a progress write; WAL also does not work on network
filesystems. A rollback journal costs readers a few milliseconds' wait during a write,
which the busy timeout absorbs; a damaged file is then only an error, never a crash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb.environment import default_home
from modelforge_nb.errors import ModelForgeWarning

__all__ = [
    "COLUMNS",
    "REGISTRY_FILE",
    "Registry",
    "default_home",
    "open_index",
    "repair_index",
    "update_index",
]

log = logging.getLogger("modelforge_nb.registry")

REGISTRY_FILE = "registry.sqlite3"
_BUSY_TIMEOUT_S = 30.0
COLUMNS = (
    "id",
    "name",
    "status",
    "task",
    "model",
    "method",
    "adapter",
    "run_dir",
    "created_at",
    "updated_at",
    "step",
    "total_steps",
    "last_loss",
    "error",
    "started_at",
    "metrics",
)
#: Columns added after the first release; an older index gains them when opened.
_ADDED = {"started_at": "REAL", "metrics": "TEXT"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    task TEXT, model TEXT, method TEXT, adapter TEXT,
    run_dir TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    step INTEGER DEFAULT 0,
    total_steps INTEGER,
    last_loss REAL,
    error TEXT,
    started_at REAL,
    metrics TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
"""


class Registry:
    """The run index stored at ``path``; two registries at two paths never meet."""

    #: Set by ``reader``: every connection is opened read-only.
    read_only = False

    def __init__(self, path: str | Path, *, timeout: float = _BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                _leave_wal(conn)
            conn.executescript(_SCHEMA)
            present = {row["name"] for row in conn.execute("PRAGMA table_info(runs)")}
            for name, kind in _ADDED.items():
                if name not in present:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    @classmethod
    def unopened(cls, path: str | Path) -> Registry:
        """A handle on the index at ``path`` that touches nothing until used (for a home
        that cannot be written now)."""
        registry = cls.__new__(cls)
        registry.path, registry.timeout = Path(path), _BUSY_TIMEOUT_S
        return registry

    @classmethod
    def reader(cls, path: str | Path, *, timeout: float = _BUSY_TIMEOUT_S) -> Registry:
        """A handle that only reads the index at ``path``: it never creates, migrates or
        writes the file (a missing or damaged one raises ``sqlite3.DatabaseError`` on use),
        for listings that must not write, such as the server's GETs."""
        registry = cls.unopened(path)
        registry.timeout, registry.read_only = timeout, True
        return registry

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # mode=ro: SQLite neither creates a missing file nor lets a statement write.
        target = f"{self.path.resolve().as_uri()}?mode=ro" if self.read_only else self.path
        with closing(sqlite3.connect(target, timeout=self.timeout, uri=self.read_only)) as conn:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.row_factory = sqlite3.Row
            with conn:
                yield conn

    def add(self, record: dict[str, Any]) -> None:
        now = time.time()
        row = {c: record.get(c) for c in COLUMNS}
        row["created_at"] = row["created_at"] or now
        row["updated_at"] = now
        row["step"] = row["step"] or 0
        row["metrics"] = _dump(row["metrics"])
        names = ", ".join(COLUMNS)
        marks = ", ".join(f":{c}" for c in COLUMNS)
        with self._connect() as conn:
            conn.execute(f"INSERT OR REPLACE INTO runs ({names}) VALUES ({marks})", row)  # noqa: S608

    def update(self, run_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown registry columns: {sorted(unknown)}")
        fields.setdefault("updated_at", time.time())
        if "metrics" in fields:
            fields["metrics"] = _dump(fields["metrics"])
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        with self._connect() as conn:
            conn.execute(
                f"UPDATE runs SET {assignments} WHERE id = :run_id",  # noqa: S608
                {**fields, "run_id": run_id},
            )

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _load(row) if row else None

    def list(self) -> list[dict[str, Any]]:
        """Every row, newest first."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM runs ORDER BY created_at DESC").fetchall()
        return [_load(r) for r in rows]

    def add_folder(self, folder: Path) -> bool:
        """Index one run folder as it records itself (identity, status and progress, final
        metrics), wherever it lies; False when it holds a value SQLite cannot store (listings
        then read that run from its folder)."""
        record = rundir.read_identity(folder)
        status = rundir.read_status_file(folder) or {"status": "queued"}
        indexed = {k: status.get(k) for k in COLUMNS if k in status and k != "created_at"}
        metrics = rundir.read_metrics(folder)
        try:
            self.add({**record, **indexed, "run_dir": str(folder), "metrics": metrics or None})
        except (OverflowError, TypeError, ValueError, sqlite3.InterfaceError):
            return False
        return True

    def rebuild(self, runs_root: str | Path) -> int:
        """Re-index every run folder under ``runs_root``; returns how many were found."""
        count = 0
        for folder in rundir.run_folders(Path(runs_root)):
            if rundir.read_identity(folder).get("id") and rundir.read_status_file(folder):
                count += self.add_folder(folder)
        return count


def _rebuilt(registry: Registry, runs_root: Path) -> bool:
    try:
        registry.rebuild(runs_root)
    except (sqlite3.Error, OSError):
        return False
    return True


def _leave_wal(conn: sqlite3.Connection) -> None:
    """Turn an index kept in WAL mode (by an earlier release) to the rollback journal.
    While another process has it open the switch is refused; a later open makes it."""
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode=DELETE")


def _move_aside(index: Path) -> None:
    """Keep an unreadable index (and its journal files) beside a new one, and say so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = index.with_name(f"{index.name}.unreadable-{stamp}")
    for suffix in ("", "-journal", "-wal", "-shm"):
        part = index.with_name(index.name + suffix)
        if part.exists():
            part.replace(kept.with_name(kept.name + suffix))
    warnings.warn(
        f"The run index {index} could not be read; it was kept as {kept.name} and rebuilt "
        "from the run folders.",
        ModelForgeWarning,
        stacklevel=5,  # the caller of Workspace(), list_runs(), get_run()
    )


def _damaged_index(error: sqlite3.DatabaseError) -> bool:
    """Whether the index file itself is bad (not a database, malformed, emptied), rather
    than busy or on a disk that cannot be written now."""
    if not isinstance(error, sqlite3.OperationalError):
        return True
    return "no such table" in str(error)


def repair_index(
    index: Path, runs_root: Path, error: sqlite3.DatabaseError, *, timeout: float
) -> Registry | None:
    """The index at ``index`` rebuilt from the run folders under ``runs_root`` after
    ``error``: a damaged file is kept aside (``registry.sqlite3.unreadable-TIME``, with a
    warning), a deleted table recreated. None when the index is only unavailable for now
    (locked, a full disk) or cannot be rebuilt."""
    if not _damaged_index(error):
        return None
    try:
        if "no such table" not in str(error):
            _move_aside(index)
        registry = Registry(index, timeout=timeout)
    except (sqlite3.Error, OSError):
        return None
    return registry if _rebuilt(registry, runs_root) else None


def open_index(index: Path, runs_root: Path, *, timeout: float) -> Registry:
    """The index at ``index``, opened: a new or lost one is built from the run folders
    under ``runs_root``, a damaged one repaired (``repair_index``). Where it cannot be
    opened now (a home that cannot be written, a locked file) it comes back unopened and
    the runs are read from their folders."""
    fresh = not index.exists()
    try:
        registry = Registry(index, timeout=timeout)
    except sqlite3.DatabaseError as error:
        return repair_index(index, runs_root, error, timeout=timeout) or Registry.unopened(index)
    except OSError:
        return Registry.unopened(index)
    if fresh:
        _rebuilt(registry, runs_root)
    return registry


def update_index(path: str | Path, run_id: str, *, timeout: float = 2.0, **columns: Any) -> bool:
    """Write ``columns`` of one run to the index at ``path``; False (and a logged warning)
    when that fails for any reason: a locked, removed or damaged file, a full disk, a value
    SQLite cannot hold. The run folder is the record, so an index write never changes a
    run's outcome; the next listing catches the index up. The short ``timeout`` keeps a
    locked index from holding training up."""
    try:
        Registry(path, timeout=timeout).update(run_id, **columns)
    except Exception as error:  # bookkeeping: never let it end a run
        log.warning("The run index was not updated (%s); the run folder is.", error)
        return False
    return True


def _dump(metrics: Any) -> str | None:
    return None if metrics is None else json.dumps(metrics)


def _load(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    record["metrics"] = json.loads(record["metrics"]) if record.get("metrics") else {}
    return record
