"""REST handlers for the sidebar: list runs, one run, stop a run, hardware.

Inputs are validated (an unknown run id is a 404, malformed input a 400) and every error
is JSON of one shape: ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler

from modelforge_nb.errors import ModelForgeError, RunError
from modelforge_nb.runs import Run, Workspace

_TAIL = 200
RUN_ID_PATTERN = r"[^/]+"


def run_summary(run: Run) -> dict[str, Any]:
    """What the sidebar lists for a run."""
    status = run._status()
    total = status.get("total_steps")
    step = status.get("step") or 0
    losses = [e["loss"] for e in run.history if e["type"] == "log" and "loss" in e]
    return {
        "id": run.id,
        "name": run.name,
        "status": status.get("status", "queued"),
        "task": run.config.task,
        "step": step,
        "total_steps": total,
        "progress": (step / total) if total else None,
        "last_loss": status.get("last_loss"),
        "loss_tail": losses[-50:],
        "error": status.get("error"),
        "created_at": status.get("started_at"),
        "updated_at": status.get("updated_at"),
    }


class ModelForgeHandler(APIHandler):
    """Base: one JSON error shape for expected and unexpected failures."""

    def workspace(self) -> Workspace:
        return Workspace(self.settings.get("modelforge_home"))

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

    def find_run(self, run_id: str) -> Run | None:
        try:
            return self.workspace().get_run(run_id)
        except RunError as error:
            status = 400 if error.code == "run.bad_id" else 404
            self.fail(status, error.code, str(error))
            return None


class RunsHandler(ModelForgeHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        runs = [run_summary(run) for run in self.workspace().list_runs()]
        self.finish(json.dumps({"runs": runs}))


class RunHandler(ModelForgeHandler):
    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        run = self.find_run(run_id)
        if run is None:
            return
        detail = run_summary(run)
        detail["history"] = run.history[-_TAIL:]
        detail["metrics"] = run.metrics
        detail["config"] = run.config.to_dict()
        self.finish(json.dumps(detail, default=str))


class StopHandler(ModelForgeHandler):
    @tornado.web.authenticated
    def post(self, run_id: str) -> None:
        body = self.request.body or b"{}"
        try:
            options = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
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
        run = self.find_run(run_id)
        if run is None:
            return
        # Never wait here: the worker stops at its next step and the sidebar polls.
        self.finish(json.dumps({"id": run.id, "status": run.stop()}))


class HardwareHandler(ModelForgeHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        from modelforge_nb.hardware import detect_hardware

        self.finish(json.dumps(detect_hardware(refresh=True).to_dict()))


def routes() -> list[tuple[str, type[ModelForgeHandler]]]:
    return [
        ("runs", RunsHandler),
        (f"runs/({RUN_ID_PATTERN})", RunHandler),
        (f"runs/({RUN_ID_PATTERN})/stop", StopHandler),
        ("hardware", HardwareHandler),
    ]
