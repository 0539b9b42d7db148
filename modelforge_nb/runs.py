"""Runs: a handle to follow one, and the workspace that checks, creates and starts them.

The run folder's format lives in ``modelforge_nb.rundir``; the folder is the source of
truth and the registry indexes it. Reading a run (status, error, events) never writes: a
worker that died is reported ``failed`` at once, and the cleanup (partial files removed,
the status and the index rewritten) is done by the launcher's reaper or by ``reconcile()``.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.environment import default_home, runs_root
from modelforge_nb.errors import ModelForgeWarning, PreflightError, RunError
from modelforge_nb.registry import COLUMNS, REGISTRY_FILE, Registry
from modelforge_nb.rundir import (
    ACTIVE,
    COMPLETE_MARKER,
    PID_FILE,
    STOP_REQUEST,
    last_complete_checkpoint,
    read_events,
    read_json,
    remove_partial_outputs,
    run_folder,
    write_json_atomic,
)

if TYPE_CHECKING:
    import pandas

    from modelforge_nb.hardware import HardwareInfo
    from modelforge_nb.plan.report import PreflightReport

# Still importable from here, as before the run folder format moved to rundir.
__all__ = [
    "ACTIVE",
    "COMPLETE_MARKER",
    "PID_FILE",
    "STATUSES",
    "STOP_REQUEST",
    "Run",
    "Workspace",
    "finetune",
    "get_run",
    "last_complete_checkpoint",
    "list_runs",
    "new_run_id",
    "read_json",
    "remove_partial_outputs",
    "run_folder",
    "write_json_atomic",
]

STATUSES = ("queued", "running", "completed", "failed", "stopped")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return slug[:40] or "run"


def new_run_id(config: FinetuneConfig) -> str:
    """A readable, unique, filesystem-safe id: name, time and a random suffix."""
    base = config.run_name or f"{_slug(Path(config.model).name)}-{config.method}"
    return f"{_slug(base)}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


#: What a listing shows of a run: the index's columns but for its folder and final metrics.
SUMMARY_FIELDS = tuple(c for c in COLUMNS if c not in {"run_dir", "metrics"})


def _summary(record: dict[str, Any], metrics: dict[str, Any], folder: Path) -> dict[str, Any]:
    summary = {name: record.get(name) for name in SUMMARY_FIELDS}
    summary["status"] = summary["status"] or "queued"
    summary["step"] = summary["step"] or 0
    return {**summary, "metrics": metrics, "run_dir": str(folder)}


class Run:
    """A handle on one run folder. Cheap to create; every property reads the folder."""

    def __init__(self, run_dir: str | Path, registry: Registry | None = None) -> None:
        self.output_dir = Path(run_dir)
        if not (self.output_dir / "run.json").is_file():
            raise RunError("run.unknown", f"{self.output_dir} is not a run folder.", field="run")
        identity = read_json(self.output_dir / "run.json")
        self.id: str = identity["id"]
        self.name: str = identity.get("name", self.id)
        self._registry = registry
        self._registry_path = identity.get("registry")
        self._offset = 0
        self._history: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, status={self.status!r})"

    @property
    def config(self) -> FinetuneConfig:
        return FinetuneConfig.model_validate(read_json(self.output_dir / "config.json"))

    @property
    def status(self) -> str:
        return str(self._status().get("status", "queued"))

    @property
    def error(self) -> str | None:
        error = self._status().get("error")
        return str(error) if error else None

    @property
    def metrics(self) -> dict[str, Any]:
        return read_json(self.output_dir / "metrics.json")

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event so far (read incrementally)."""
        new, self._offset = read_events(self.output_dir, self._offset)
        self._history.extend(new)
        return list(self._history)

    @property
    def history(self) -> list[dict[str, Any]]:
        """The logged training and evaluation events, oldest first."""
        return [e for e in self.events if e["type"] in {"log", "eval"}]

    def history_frame(self) -> pandas.DataFrame:
        import pandas

        return pandas.DataFrame(self.history)

    def weights_dir(self) -> Path | None:
        return rundir.weights_folder(self.output_dir)

    def summary(self) -> dict[str, Any]:
        """What a listing shows: identity, status and progress, final metrics. Pure."""
        return _summary(
            {**read_json(self.output_dir / "run.json"), **self._status()},
            self.metrics,
            self.output_dir,
        )

    def _status(self) -> dict[str, Any]:
        """status.json, with a dead worker's run read as ``failed``. Writes nothing."""
        status, gone = rundir.read_status(self.output_dir)
        return {**status, "status": "failed", "error": rundir.DEAD_WORKER} if gone else status

    def reconcile(self) -> Run:
        """Record a dead worker's run as failed and remove its half-written files.

        The launcher's reaper does this when the worker it started exits; call it for a run
        whose launcher is gone (another kernel, another host). Safe to call at any time.
        """
        from modelforge_nb.tuner.launcher import reconcile

        reconcile(self.output_dir)
        return self

    def refresh(self) -> Run:
        """Re-read status and events."""
        self._status()
        _ = self.events
        return self

    def wait(self, timeout: float | None = None, *, poll: float = 0.2) -> str:
        """Block until the run ends (or ``timeout`` seconds pass); return its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.status in ACTIVE:
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(poll)
        return self.status

    def stop(self, *, wait: bool = False, timeout: float | None = None) -> str:
        """Ask the worker to stop at the next step; it saves a checkpoint and ends ``stopped``."""
        status = self._status()
        if status.get("status") not in ACTIVE:
            return str(status.get("status"))
        from modelforge_nb.tuner.launcher import request_stop

        request_stop(self.output_dir)
        return self.wait(timeout) if wait else self.status

    def resume(self) -> Run:
        """Continue a stopped or failed run from its last complete checkpoint."""
        from modelforge_nb.tuner.launcher import start_worker

        self.reconcile()
        current = self.status
        if current in ACTIVE:
            raise RunError(
                "run.active",
                f"Run {self.id} is {current}; it cannot be resumed.",
                field="run",
                hint="Wait for it to end, or stop it first.",
            )
        if current == "completed":
            raise RunError(
                "run.completed",
                f"Run {self.id} already completed.",
                field="run",
                hint="Start a new run to train further.",
            )
        (self.output_dir / STOP_REQUEST).unlink(missing_ok=True)
        (self.output_dir / PID_FILE).unlink(missing_ok=True)
        checkpoint = last_complete_checkpoint(self.output_dir)
        write_json_atomic(
            self.output_dir / "status.json",
            {
                **read_json(self.output_dir / "status.json"),
                "status": "queued",
                "error": None,
                "resume_from": str(checkpoint) if checkpoint else None,
            },
        )
        if self._registry or self._registry_path:
            registry = self._registry or Registry(str(self._registry_path))
            registry.update(self.id, status="queued", error=None)
        start_worker(
            self.output_dir, num_processes=self.config.distributed.num_processes, resume=True
        )
        return self


def _move_aside(index: Path) -> None:
    """Keep an unreadable index (and its WAL files) beside a new one, and say so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = index.with_name(f"{index.name}.unreadable-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = index.with_name(index.name + suffix)
        if part.exists():
            part.replace(kept.with_name(kept.name + suffix))
    warnings.warn(
        f"The run index {index} could not be read; it was kept as {kept.name} and rebuilt "
        "from the run folders.",
        ModelForgeWarning,
        stacklevel=3,
    )


class Workspace:
    """Runs under one home folder: the registry and the run folders beside it."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home else default_home()
        index = self.home / REGISTRY_FILE
        fresh = not index.exists()
        try:
            self.registry = Registry(index)
        except sqlite3.DatabaseError:
            _move_aside(index)
            fresh = True
            self.registry = Registry(index)
        if fresh:  # a lost, deleted or unreadable index is rebuilt from the run folders
            self.registry.rebuild(runs_root(None, self.home))

    def create_run(self, config: FinetuneConfig) -> Run:
        """Make the run folder and its registry row, status ``queued``."""
        run_id = new_run_id(config)
        run_dir = runs_root(config.output_root, self.home) / run_id
        identity = {
            "id": run_id,
            "name": config.run_name or run_id,
            "task": config.task,
            "model": config.model,
            "method": config.method,
            "adapter": config.adapter,
            "run_dir": str(run_dir),
            "created_at": time.time(),
            "registry": str(self.registry.path),
        }
        rundir.create(run_dir, identity, config.to_dict())
        self.registry.add({**identity, "status": "queued"})
        return Run(run_dir, self.registry)

    def finetune(
        self,
        config: FinetuneConfig,
        *,
        wait: bool = False,
        hardware: HardwareInfo | None = None,
    ) -> Run:
        from modelforge_nb.tuner.launcher import start_worker

        report = self.preflight(config, hardware=hardware)
        if not report.ok:
            raise PreflightError("preflight.failed", report.summary(), report=report)
        run = self.create_run(config)
        start_worker(run.output_dir, num_processes=config.distributed.num_processes)
        if wait:
            run.wait()
        return run

    def preflight(
        self, config: FinetuneConfig, *, hardware: HardwareInfo | None = None
    ) -> PreflightReport:
        from modelforge_nb.plan import preflight

        # The free disk is checked where this workspace will make the run's folder.
        here = str(runs_root(config.output_root, self.home))
        return preflight(config.model_copy(update={"output_root": here}), hardware=hardware)

    def list_runs(self) -> list[Run]:
        runs = []
        for row in self.registry.list():
            try:
                runs.append(Run(row["run_dir"], self.registry))
            except RunError:
                continue
        return runs

    def summaries(self) -> list[dict[str, Any]]:
        """Every run's summary (``Run.summary``), newest first, read from the index.

        One query for all runs; only a run the index calls queued or running has its
        folder read, for its latest progress and whether its worker still lives.
        """
        found = []
        for row in self.registry.list():
            folder = Path(row["run_dir"])
            if row["status"] in ACTIVE:
                try:
                    found.append(Run(folder, self.registry).summary())
                except RunError:
                    continue
            elif folder.is_dir():
                found.append(_summary(row, row["metrics"], folder))
        return found

    def get_run(self, run_id: str) -> Run:
        if not _RUN_ID.match(run_id or ""):
            raise RunError(
                "run.bad_id",
                f"{run_id!r} is not a run id.",
                field="run",
                hint="Use an id from list_runs().",
            )
        row = self.registry.get(run_id)
        if row is None:
            raise RunError(
                "run.unknown",
                f"There is no run {run_id!r} in {self.home}.",
                field="run",
                hint="Use an id from list_runs().",
            )
        return Run(row["run_dir"], self.registry)


def finetune(config: FinetuneConfig, *, wait: bool = False, home: str | Path | None = None) -> Run:
    """Preflight ``config``, then train it in a worker process; returns the run handle.

    Raises ``PreflightError`` (with ``.report``) when preflight finds a blocking problem.
    """
    return Workspace(home).finetune(config, wait=wait)


def list_runs(*, home: str | Path | None = None) -> list[Run]:
    """Every run under ``home`` (``MODELFORGE_HOME`` by default), newest first."""
    return Workspace(home).list_runs()


def get_run(run_id: str, *, home: str | Path | None = None) -> Run:
    """The run with this id."""
    return Workspace(home).get_run(run_id)
