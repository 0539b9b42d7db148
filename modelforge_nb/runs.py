"""Runs: a handle to follow one, and the workspace that checks, creates and starts them.

The run folder's format lives in ``modelforge_nb.rundir``; the folder is the source of
truth and the registry indexes it. Reading a run (status, error, events) never writes: a
worker that died is reported ``failed`` at once, and the cleanup (partial files removed,
the status and the index rewritten) is done by the launcher's reaper or by ``reconcile()``.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.environment import default_home, runs_root
from modelforge_nb.errors import ConfigError, ModelForgeWarning, PreflightError, RunError
from modelforge_nb.registry import (
    COLUMNS,
    REGISTRY_FILE,
    Registry,
    open_index,
    repair_index,
    update_index,
)
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
    "attach",
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

STATUSES = ("queued", "running", "completed", "failed", "stopped", "damaged")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Tries at a fresh id when a folder of the same name appeared in between.
_ID_TRIES = 8
#: How long the notebook waits for a busy index: its writes are a row each, so longer
#: means locked, and the run folder is the record anyway.
_INDEX_TIMEOUT_S = 5.0


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return slug[:40] or "run"


def new_run_id(config: FinetuneConfig) -> str:
    """A readable, unique, filesystem-safe id: name, time and a random suffix."""
    base = config.run_name or f"{_slug(Path(config.model).name)}-{config.method}"
    return f"{_slug(base)}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def run_identity(config: FinetuneConfig, run_dir: Path, **extra: Any) -> dict[str, Any]:
    """A new run's ``run.json``: its id (the folder's name), name, what it trains, where."""
    return {
        "id": run_dir.name,
        "name": config.run_name or run_dir.name,
        "task": config.task,
        "model": config.model,
        "method": config.method,
        "adapter": config.adapter,
        "run_dir": str(run_dir),
        "created_at": time.time(),
        **extra,
    }


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
        if not rundir.is_run_folder(self.output_dir):
            raise RunError("run.unknown", f"{self.output_dir} is not a run folder.", field="run")
        identity = rundir.read_identity(self.output_dir)
        self.id: str = str(identity.get("id") or self.output_dir.name)
        self.name: str = str(identity.get("name") or self.id)
        self._registry = registry
        self._registry_path = identity.get("registry")
        self._offset = 0
        self._history: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, status={self.status!r})"

    @cached_property
    def damage(self) -> str | None:
        """What is wrong with a damaged run folder (its identity or config unreadable, or a
        config that no longer validates); None when it is whole. Read once."""
        problem = rundir.damage(self.output_dir)
        if problem is None:
            try:
                _ = self.config
            except RunError as error:
                problem = error.message
        return problem

    @property
    def config(self) -> FinetuneConfig:
        """The run's config; ``RunError`` (``run.damaged``) when config.json does not hold
        one."""
        return rundir.read_config(self.output_dir)

    @property
    def status(self) -> str:
        return str(self._status().get("status", "queued"))

    @property
    def error(self) -> str | None:
        error = self._status().get("error")
        return str(error) if error else None

    @property
    def error_details(self) -> str | None:
        """More about a failure than its one line: for a GRPO reward that raised, the
        traceback of the reward function itself."""
        details = self._status().get("error_details")
        return str(details) if details else None

    @property
    def metrics(self) -> dict[str, Any]:
        return rundir.read_metrics(self.output_dir)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event so far (read incrementally)."""
        new, self._offset = read_events(self.output_dir, self._offset)
        self._history.extend(new)
        return list(self._history)

    def events_after(self, count: int) -> list[dict[str, Any]]:
        """The events after the first ``count``: what a follower has not seen yet. Reads only
        the bytes logged since the last read, and copies only the new events."""
        new, self._offset = read_events(self.output_dir, self._offset)
        self._history.extend(new)
        return self._history[count:]

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
        identity = {**rundir.read_identity(self.output_dir), "id": self.id, "name": self.name}
        return _summary(
            {**identity, **self._status()},
            self.metrics,
            self.output_dir,
        )

    def _status(self) -> dict[str, Any]:
        """status.json, with a dead worker's run read as ``failed`` and a damaged folder as
        ``damaged``. Writes nothing."""
        if self.damage:
            return {"status": "damaged", "error": self.damage}
        status, gone = rundir.read_status(self.output_dir)
        return {**status, "status": "failed", "error": gone} if gone else status

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

    @property
    def stop_requested(self) -> bool:
        """Whether a stop was asked for (here, in the sidebar or over REST) and the run has
        not ended yet."""
        return rundir.stop_requested(self.output_dir) and self.status in ACTIVE

    def stop(self, *, wait: bool = False, timeout: float | None = None) -> str:
        """Ask the worker to stop at the next step; it saves a checkpoint and ends ``stopped``."""
        status = self._status()
        if status.get("status") not in ACTIVE:
            return str(status.get("status"))
        from modelforge_nb.tuner.launcher import request_stop

        request_stop(self.output_dir)
        return self.wait(timeout) if wait else self.status

    def resume(self) -> Run:
        """Continue a stopped or failed run from its last complete checkpoint.

        ``RunError`` ``run.active`` when a worker has it already (another kernel's resume,
        or two at once: ``rundir.requeue`` lets one of them through)."""
        from modelforge_nb.tuner.launcher import start_worker

        if self.damage:
            raise RunError(
                "run.damaged", f"Run {self.id} cannot be resumed: {self.damage}", field="run"
            )
        self.reconcile()
        rundir.requeue(self.output_dir, run_id=self.id)
        index = self._registry.path if self._registry else self._registry_path
        if index:
            update_index(index, self.id, status="queued", error=None)
        start_worker(
            self.output_dir, num_processes=self.config.distributed.num_processes, resume=True
        )
        return self


class Workspace:
    """Runs under one home folder: the registry and the run folders beside it.

    The run folders are the record and the registry an index of them, so no index fault
    loses a run: a damaged or deleted index is kept aside and rebuilt from the folders, and
    while one cannot be read or written (locked, a full disk) the runs are read from their
    folders. Every listing also takes in run folders the index does not hold yet.
    """

    def __init__(self, home: str | Path | None = None, *, read_only: bool = False) -> None:
        self.home = Path(home).expanduser().resolve() if home else default_home()
        index = self.home / REGISTRY_FILE
        #: Reads never write: a read-only workspace lists and finds runs (from their folders
        #: where the index is missing, damaged or locked) and never creates, migrates,
        #: repairs or rebuilds the index.
        self.read_only = read_only
        if read_only:
            self.registry = Registry.reader(index, timeout=_INDEX_TIMEOUT_S)
            return
        self.registry = open_index(index, self._runs_folder(), timeout=_INDEX_TIMEOUT_S)

    def _runs_folder(self) -> Path:
        return runs_root(None, self.home)

    def _repair(self, error: sqlite3.DatabaseError) -> bool:
        """Rebuild a damaged or deleted index from the run folders (``repair_index``);
        False when it is only unavailable for now or cannot be rebuilt, and always for a
        read-only workspace."""
        if self.read_only:
            return False
        repaired = repair_index(
            self.registry.path, self._runs_folder(), error, timeout=_INDEX_TIMEOUT_S
        )
        if repaired is None:
            return False
        self.registry = repaired
        return True

    def _indexed(self) -> list[dict[str, Any]]:
        """The index's rows, newest first; after a repair if it was damaged; [] when it
        cannot be read now."""
        for _attempt in range(2):
            try:
                return self.registry.list()
            except sqlite3.DatabaseError as error:
                if not self._repair(error):
                    break
        return []

    def _rows(self) -> list[dict[str, Any]]:
        """Every run: the index's rows, and a row read from each run folder the index does
        not hold (made while it was locked, or before it was rebuilt). Reads only."""
        rows = self._indexed()
        known = {row["id"] for row in rows} | {Path(row["run_dir"]).name for row in rows}
        extra = []
        for folder in rundir.run_folders(self._runs_folder()):
            if folder.name in known:
                continue
            identity = rundir.read_identity(folder)
            if identity.get("id") in known:
                continue
            run = Run(folder)
            extra.append({**run.summary(), "run_dir": str(folder), "metrics": run.metrics})
        return sorted(rows + extra, key=lambda row: float(row.get("created_at") or 0), reverse=True)

    def _index(self, write: Callable[[], Any]) -> None:
        """Write to the index; a damaged one is repaired, then written again (a folder
        outside the runs folder, attached, is not in the rebuild); one that cannot be written
        now is left to the listing's folder scan, with a warning."""
        try:
            write()
        except sqlite3.DatabaseError as error:
            if self._repair(error):
                with contextlib.suppress(sqlite3.Error):
                    write()
                return
            warnings.warn(
                f"The run index could not be written ({error}); the run is in its folder "
                "and listed from there.",
                ModelForgeWarning,
                stacklevel=3,
            )

    def create_run(self, config: FinetuneConfig) -> Run:
        """Make the run folder and its registry row, status ``queued``."""
        root = runs_root(config.output_root, self.home)
        for attempt in range(_ID_TRIES):
            run_id = new_run_id(config)
            run_dir = root / run_id
            identity = run_identity(config, run_dir, registry=str(self.registry.path))
            try:
                rundir.create(run_dir, identity, config.to_dict())
                break
            except FileExistsError:
                if attempt == _ID_TRIES - 1:
                    raise RunError(
                        "run.id_taken",
                        f"Could not find a free run id under {root} in {_ID_TRIES} tries.",
                        field="run_name",
                        hint="Give another run_name.",
                    ) from None
            except OSError as error:
                raise RunError(
                    "run.cannot_create",
                    f"Cannot make the run folder {run_dir}: {error.strerror or error}.",
                    field="output_root",
                    hint="Free disk space there, or set output_root to a writable folder.",
                ) from None
        self._index(lambda: self.registry.add({**identity, "status": "queued"}))
        return Run(run_dir, self.registry)

    def finetune(
        self,
        config: FinetuneConfig,
        *,
        wait: bool = False,
        hardware: HardwareInfo | None = None,
        rewards: Sequence[Any] | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> Run:
        """Preflight ``config`` and start it in a worker; ``wait`` follows it to the end.

        GRPO's ``rewards`` are functions (``grpo.rewards`` may name them, and the
        built-ins); names are also looked up in ``namespace`` (a notebook's variables).
        They are checked and packed for the worker before anything starts.
        """
        from modelforge_nb.tuner.launcher import start_worker

        shipped = None
        if config.method == "grpo":
            from modelforge_nb.rewards import ship

            config, shipped = ship(config, rewards, namespace)
        elif rewards:
            raise ConfigError(
                "grpo.rewards_unused",
                f"Reward functions were given, but method is {config.method!r}.",
                field="method",
                hint="Set method: grpo to train with them, or leave rewards out.",
            )
        report = self.preflight(config, hardware=hardware)
        if not report.ok:
            raise PreflightError("preflight.failed", report.summary(), report=report)
        run = self.create_run(config)
        if shipped is not None:
            (run.output_dir / rundir.REWARDS_FILE).write_bytes(shipped)
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
        for row in self._rows():
            try:
                runs.append(Run(row["run_dir"], self.registry))
            except RunError:
                continue
        return runs

    def summaries(self) -> list[dict[str, Any]]:
        """Every run's summary (``Run.summary``), newest first, read from the index.

        One query for all runs; only a run the index calls queued or running has its
        folder read, for its latest progress and whether its worker still lives. A damaged
        run folder is listed with status ``damaged`` and what is wrong.
        """
        found = []
        for row in self._rows():
            folder = Path(row["run_dir"])
            if row["status"] in ACTIVE or row["status"] == "damaged":
                try:
                    found.append(Run(folder, self.registry).summary())
                except RunError:
                    continue
            elif folder.is_dir():
                found.append(_summary(row, row["metrics"], folder))
        return found

    def attach(self, folder: str | Path) -> Run:
        """Adopt a run folder trained elsewhere (copied back, or on a shared filesystem), or
        the run of a job folder (``mf.export_job``): it is listed, shown, chatted with,
        merged and pushed like a local run. The folder stays where it is."""
        path = Path(folder).expanduser().resolve()
        if (path / rundir.JOB_FILE).is_file():
            path = rundir.job_run_folder(path)
        if not rundir.is_run_folder(path):
            raise RunError(
                "run.not_a_run_folder",
                f"{path} is not a run folder (it has no {rundir.RUN_FILE}).",
                field="folder",
                hint="Give a folder under a job's runs/, or a run folder copied back whole.",
            )
        run = Run(path)
        if run.damage:
            raise RunError("run.damaged", f"Cannot attach {path}: {run.damage}", field="folder")
        self._index(lambda: self.registry.add_folder(path))
        return Run(path, self.registry)

    def get_run(self, run_id: str) -> Run:
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise RunError(
                "run.bad_id",
                f"{run_id!r} is not a run id.",
                field="run",
                hint="Use an id from list_runs().",
            )
        try:
            row = self.registry.get(run_id)
        except sqlite3.DatabaseError as error:
            row = self.registry.get(run_id) if self._repair(error) else None
        folder = Path(row["run_dir"]) if row else self._runs_folder() / run_id
        if not rundir.is_run_folder(folder):
            return self._run_named(run_id)
        return Run(folder, self.registry)

    def _run_named(self, name: str) -> Run:
        """The one run called ``name`` (its ``run_name``), for commands given a name."""
        named = [row for row in self._rows() if row.get("name") == name]
        if len(named) > 1:
            ids = ", ".join(str(row["id"]) for row in named[:5])
            raise RunError(
                "run.ambiguous",
                f"{len(named)} runs are named {name!r}: {ids}.",
                field="run",
                hint="Give the run's id instead.",
            )
        if not named or not rundir.is_run_folder(Path(named[0]["run_dir"])):
            raise RunError(
                "run.unknown",
                f"There is no run {name!r} in {self.home}.",
                field="run",
                hint="Use an id or a name from list_runs().",
            )
        return Run(named[0]["run_dir"], self.registry)


def finetune(
    config: FinetuneConfig,
    *,
    wait: bool = False,
    home: str | Path | None = None,
    rewards: Sequence[Any] | None = None,
) -> Run:
    """Preflight ``config``, then train it in a worker process; returns the run handle.

    ``rewards``: GRPO's reward functions (docs/methods.md). Raises ``PreflightError`` (with
    ``.report``) when preflight finds a blocking problem.
    """
    return Workspace(home).finetune(config, wait=wait, rewards=rewards)


def attach(folder: str | Path, *, home: str | Path | None = None) -> Run:
    """Adopt a run folder (or a job folder's run) trained elsewhere; see ``Workspace.attach``."""
    return Workspace(home).attach(folder)


def list_runs(*, home: str | Path | None = None) -> list[Run]:
    """Every run under ``home`` (``MODELFORGE_HOME`` by default), newest first."""
    return Workspace(home).list_runs()


def get_run(run_id: str, *, home: str | Path | None = None) -> Run:
    """The run with this id."""
    return Workspace(home).get_run(run_id)
