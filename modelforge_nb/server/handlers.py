"""REST handlers for the sidebar: list runs, one run, stop a run, hardware.

Inputs are validated (an unknown run id is a 404, malformed input a 400) and every error
is JSON of one shape: ``{"error": {"code": ..., "message": ...}}``. All workspace work runs
in a thread, off the server's event loop, opening the workspace included: the index may be
locked by a worker or a notebook, and the loop must go on answering meanwhile. The handlers
open it read-only (``Workspace(read_only=True)``), so a request never creates, repairs or
rebuilds the index; a missing or damaged one is listed from the run folders, and the next
notebook workspace repairs it. The list comes from the run index (one query; only active
runs' folders are read) and each run's event log is read from its tail, so a poll costs the
same for a run of ten steps and of a hundred thousand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from tornado.ioloop import IOLoop

from modelforge_nb.errors import ModelForgeError, RunError
from modelforge_nb.rundir import read_tail_events
from modelforge_nb.runs import Run, Workspace

_TAIL = 200
RUN_ID_PATTERN = r"[^/]+"


def run_summary(
    summary: dict[str, Any], events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What the sidebar lists for a run: its summary (``Run.summary``), progress and the
    last losses (``events``: the tail of its log, when read already)."""
    folder = Path(summary["run_dir"])
    # 32 KiB of log lines hold the last 50 losses: a listing of hundreds of runs stays cheap.
    tail = read_tail_events(folder, 32 * 1024) if events is None else events
    losses = [
        e["loss"] for e in tail if e.get("type") == "log" and isinstance(e.get("loss"), int | float)
    ]
    total, step = summary.get("total_steps"), summary.get("step") or 0
    shown = {k: v for k, v in summary.items() if k not in {"run_dir", "metrics"}}
    return {**shown, "progress": (step / total) if total else None, "loss_tail": losses[-50:]}


def run_detail(run: Run) -> dict[str, Any]:
    """A run's summary with its recent history, final metrics and config."""
    events = read_tail_events(run.output_dir)
    detail = run_summary(run.summary(), events)
    detail["history"] = [e for e in events if e.get("type") in {"log", "eval"}][-_TAIL:]
    detail["metrics"] = run.metrics
    try:
        detail["config"] = run.config.to_dict()
    except RunError as error:  # a damaged run is shown with what is wrong, not a 500
        detail["config"] = None
        detail["error"] = str(error)
    return detail


async def _off_loop(work: Callable[[], Any]) -> Any:
    """Run blocking reads in a thread, so the server's event loop never waits on a disk."""
    return await IOLoop.current().run_in_executor(None, work)


class ModelForgeHandler(APIHandler):
    """Base: one JSON error shape for expected and unexpected failures."""

    def workspace(self) -> Workspace:
        """The runs, read-only; blocking (it may wait on a locked index), so call it only
        inside the work given to ``_off_loop``."""
        return Workspace(self.settings.get("modelforge_home"), read_only=True)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        reason = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(reason, ModelForgeError):
            body = {"code": reason.code, "message": str(reason)}
        elif isinstance(reason, tornado.web.HTTPError) and reason.log_message:
            body = {"code": f"http.{status_code}", "message": reason.log_message % reason.args}
        else:
            body = {"code": f"http.{status_code}", "message": self._reason}
        self.finish(json.dumps({"error": body}))

    def fail(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    async def find_run(self, run_id: str) -> Run | None:
        """The run, looked up off the loop; None after answering 400 or 404."""

        def lookup() -> Run | RunError:
            try:
                return self.workspace().get_run(run_id)
            except RunError as error:
                return error

        found: Run | RunError = await _off_loop(lookup)
        if isinstance(found, RunError):
            # Said without the server's folders: a browser has no business knowing them.
            message = (
                f"There is no run {run_id!r}."
                if found.code == "run.unknown"
                else f"{run_id[:80]!r} is not a run id."
            )
            self.fail(400 if found.code == "run.bad_id" else 404, found.code, message)
            return None
        return found


class RunsHandler(ModelForgeHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        runs = await _off_loop(lambda: [run_summary(s) for s in self.workspace().summaries()])
        self.finish(json.dumps({"runs": runs}))


class RunHandler(ModelForgeHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        run = await self.find_run(run_id)
        if run is None:
            return
        detail = await _off_loop(lambda: run_detail(run))
        self.finish(json.dumps(detail, default=str))


class StopHandler(ModelForgeHandler):
    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        body = self.request.body or b"{}"
        try:
            options = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep, too long a number
            self.fail(
                400, "request.bad_json", "The request body is not valid JSON; send {} or nothing."
            )
            return
        if not isinstance(options, dict) or options:
            self.fail(
                400,
                "request.bad_body",
                f"Stop takes no options (got {body[:60]!r}); send {{}} or nothing.",
            )
            return
        run = await self.find_run(run_id)
        if run is None:
            return
        # Never wait here: the worker stops at its next step and the sidebar polls.
        status = await _off_loop(run.stop)
        self.finish(json.dumps({"id": run.id, "status": status}))


class HardwareHandler(ModelForgeHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        from modelforge_nb.hardware import detect_hardware

        hardware = await _off_loop(lambda: detect_hardware(refresh=True).to_dict())
        self.finish(json.dumps(hardware))


def routes() -> list[tuple[str, type[ModelForgeHandler]]]:
    return [
        ("runs", RunsHandler),
        (f"runs/({RUN_ID_PATTERN})", RunHandler),
        (f"runs/({RUN_ID_PATTERN})/stop", StopHandler),
        ("hardware", HardwareHandler),
    ]
