"""THE run folder format: file names, atomic JSON, the event log, liveness, checkpoints,
and every change of a run's status.

A run folder holds ``run.json`` (identity), ``config.json``, ``status.json`` (written
atomically, only through ``set_status`` and ``requeue``), ``events.jsonl`` (append-only),
``heartbeat`` (the worker's clock, rewritten every few seconds), ``pid.json``,
``worker.log``, ``checkpoints/``, ``adapter/`` or ``model/``, ``metrics.json``,
``effective_args.json`` and ``prompt_format.json``. Everyone who reads or writes a run folder
does it through here, by the names below; the folder is the source of truth and the registry
only indexes it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.errors import ConfigError, RunError

ACTIVE = frozenset({"queued", "running"})
COMPLETE_MARKER = ".modelforge-complete"
RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
EVENTS_FILE = "events.jsonl"
HEARTBEAT_FILE = "heartbeat"
PID_FILE = "pid.json"
STOP_REQUEST = "stop.request"
WORKER_LOG = "worker.log"
EFFECTIVE_ARGS_FILE = "effective_args.json"
PROMPT_FORMAT_FILE = "prompt_format.json"
#: What the probe run (``preflight(config, probe=True)``) measured.
PROBE_FILE = "probe.json"
#: GRPO's reward functions, packed for the worker (``rewards.ship``).
REWARDS_FILE = "rewards.pkl"
#: Held (``flock``) while a status is checked and changed in one step (``requeue``).
LOCK_FILE = ".status.lock"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
MODEL_DIR = "model"
#: transformers' own description of a saved model: what makes ``model/`` (or any folder
#: ``save_pretrained`` wrote) a model folder. Not the run's ``CONFIG_FILE``, though the name
#: is the same.
MODEL_CONFIG_FILE = "config.json"
#: How often the worker rewrites its heartbeat, and how old one may be before the worker
#: counts as gone (a few missed beats, so a busy machine is not taken for a dead one).
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_STALE_SECONDS = 30.0

#: The error a run gets when its worker ended without recording an outcome.
DEAD_WORKER = (
    f"The worker process ended without reporting (killed or crashed); see {WORKER_LOG}. "
    "Resume continues from the last complete checkpoint."
)
#: The error a queued run gets when no worker took it up within the grace period.
NEVER_STARTED = (
    "No worker process took this run up (the kernel ended or the launch failed before it "
    "started). Resume starts it."
)
#: Space kept free in the run folder while the worker trains, so that on a full disk it
#: can still record why it failed. A ``.partial`` name: the cleanup removes it.
RESERVE_FILE = ".disk-reserve.partial"
RESERVE_BYTES = 256 * 1024

#: A job folder (``mf.export_job``) names the run it trains into here; the run folder is
#: ``runs/<run_id>/`` beside it.
JOB_FILE = "job.json"

#: Every file name in a run (or job) folder that this module owns: no other module of the
#: package spells one (tests/unit/test_one_rule.py holds them to these names).
FILE_NAMES = frozenset(
    {
        RUN_FILE,
        CONFIG_FILE,
        STATUS_FILE,
        METRICS_FILE,
        EVENTS_FILE,
        HEARTBEAT_FILE,
        PID_FILE,
        STOP_REQUEST,
        WORKER_LOG,
        EFFECTIVE_ARGS_FILE,
        PROMPT_FORMAT_FILE,
        PROBE_FILE,
        REWARDS_FILE,
        LOCK_FILE,
        RESERVE_FILE,
        JOB_FILE,
    }
)

#: Event types: stage (what the worker does before the first step: reading the data,
#: loading the model, tokenizing, training), start (versions, data hash, total steps), log
#: (step, loss, learning rate, grad norm, tokens per second, GPU memory), eval (eval
#: metrics), checkpoint (a complete checkpoint), end (final status and metrics).
#: ``samples``: GRPO's completions of the first prompts, each with its rewards.
EVENT_TYPES = ("stage", "start", "log", "eval", "checkpoint", "samples", "end")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    partial.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def run_folder(run_or_path: Any) -> Path:
    """The folder of a ``Run``, or of a path given instead (a run folder or a model folder)."""
    return Path(getattr(run_or_path, "output_dir", run_or_path)).expanduser().resolve()


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a run folder (it has a ``run.json``), not a model folder."""
    return (path / RUN_FILE).is_file()


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` holds a saved model (transformers' ``config.json``) and is not a run
    folder."""
    return not is_run_folder(path) and (path / MODEL_CONFIG_FILE).is_file()


def read_identity(run_dir: Path) -> dict[str, Any]:
    """``run.json``: the run's id, name, what it trains, its registry; ``{}`` when missing."""
    return read_json(run_dir / RUN_FILE)


def read_config(run_dir: Path) -> FinetuneConfig:
    """The run's config; ``RunError`` (``run.damaged``) when config.json does not hold one."""
    path = run_dir / CONFIG_FILE
    try:
        return FinetuneConfig.from_dict(read_json(path), base_dir=run_dir)
    except ConfigError as error:
        first = error.problems[0] if error.problems else error
        raise RunError(
            "run.damaged",
            f"{path} does not hold a valid config ({first}).",
            field="config",
            hint="Restore the file from a copy, or start a new run.",
        ) from None


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The final metrics (``metrics.json``); ``{}`` before the run has completed."""
    return read_json(run_dir / METRICS_FILE)


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    write_json_atomic(run_dir / METRICS_FILE, metrics)


def read_prompt_format(run_dir: Path) -> dict[str, Any]:
    """How the worker formatted prompts (``prompt_format.json``); ``{}`` when not recorded."""
    return read_json(run_dir / PROMPT_FORMAT_FILE)


def write_prompt_format(run_dir: Path, prompt_format: dict[str, Any]) -> None:
    write_json_atomic(run_dir / PROMPT_FORMAT_FILE, prompt_format)


def read_status_file(run_dir: Path) -> dict[str, Any]:
    """``status.json`` exactly as recorded (``read_status`` also says whether its worker
    is gone)."""
    return read_json(run_dir / STATUS_FILE)


def set_status(run_dir: Path, status: str | None = None, **fields: Any) -> dict[str, Any]:
    """Change the recorded status (and any other ``fields``) in one atomic write; returns
    the new ``status.json``. ``status=None`` changes only the fields (progress)."""
    current = read_status_file(run_dir)
    if status is not None:
        current["status"] = status
    current.update(fields)
    write_json_atomic(run_dir / STATUS_FILE, current)
    return current


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock: one process at a time checks and changes its status.

    ``flock`` is let go when its process dies, so a killed caller never leaves the folder
    locked. A filesystem that cannot lock (some FUSE mounts) goes on unlocked, as before.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; nothing to hold
        yield
        return
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}:
                raise
        yield
    finally:
        os.close(fd)  # closing the descriptor lets go of the lock


def requeue(run_dir: Path, *, run_id: str | None = None) -> dict[str, Any]:
    """Queue a stopped or failed run again, to continue from its last complete checkpoint.

    One step under the folder's lock: check that no worker has it (``run.active``) and that
    it has not completed (``run.completed``), remove the old worker's stop request, pid and
    heartbeat and its half-written files, set ``resume_from`` and write ``queued``. Of two
    callers at once exactly one wins; the other sees the run queued and gets ``run.active``.
    Returns the new ``status.json``; starting the worker is the caller's next step.
    """
    name = run_id or run_dir.name
    with _locked(run_dir):
        status, gone = read_status(run_dir)
        current = status.get("status", "queued")
        if current in ACTIVE and not gone:
            raise RunError(
                "run.active",
                f"Run {name} is {current}; it cannot be resumed.",
                field="run",
                hint="Wait for it to end, or stop it first.",
            )
        if current == "completed":
            raise RunError(
                "run.completed",
                f"Run {name} already completed.",
                field="run",
                hint="Start a new run to train further.",
            )
        for leftover in (STOP_REQUEST, PID_FILE, HEARTBEAT_FILE):  # the old worker's
            (run_dir / leftover).unlink(missing_ok=True)
        removed = remove_partial_outputs(run_dir) if gone else []
        checkpoint = last_complete_checkpoint(run_dir)
        return set_status(
            run_dir,
            "queued",
            queued_at=time.time(),
            error=None,
            error_details=None,
            resume_from=str(checkpoint) if checkpoint else None,
            **({"removed_partial": removed} if removed else {}),
        )


def request_stop_file(run_dir: Path) -> None:
    """Leave the stop request the worker reads at its next step."""
    (run_dir / STOP_REQUEST).write_text(str(time.time()), encoding="utf-8")


def stop_requested(run_dir: Path) -> bool:
    return (run_dir / STOP_REQUEST).exists()


def read_pid(run_dir: Path) -> dict[str, Any]:
    """``pid.json``: the worker's pid, start time and process namespace, as launched."""
    return read_json(run_dir / PID_FILE)


def write_pid(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / PID_FILE, record)


def worker_log(run_dir: Path) -> Path:
    """The worker's output, appended to by every attempt."""
    return run_dir / WORKER_LOG


def run_folders(root: Path) -> list[Path]:
    """The run folders directly under ``root`` (those with a ``run.json``), by name."""
    return [p.parent for p in sorted(root.glob(f"*/{RUN_FILE}"))]


def create(run_dir: Path, identity: dict[str, Any], config: dict[str, Any]) -> None:
    """Make a new run folder: identity, config, status ``queued``, an empty checkpoints/."""
    run_dir.mkdir(parents=True)
    (run_dir / CHECKPOINTS_DIR).mkdir()
    write_json_atomic(run_dir / RUN_FILE, identity)
    write_json_atomic(run_dir / CONFIG_FILE, config)
    write_json_atomic(run_dir / STATUS_FILE, {"status": "queued", "queued_at": time.time()})


def append_event(run_dir: Path, kind: str, **fields: Any) -> dict[str, Any]:
    """Append one event; one ``write`` call per line so concurrent readers see whole lines."""
    event = {"type": kind, "time": time.time(), **fields}
    line = (json.dumps(event, default=str) + "\n").encode("utf-8")
    fd = os.open(run_dir / EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def read_events(run_dir: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events after byte ``offset`` and the offset to continue from (whole lines only)."""
    path = run_dir / EVENTS_FILE
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    return _parse_lines(data[:end]), offset + end


def read_tail_events(run_dir: Path, max_bytes: int = 256 * 1024) -> list[dict[str, Any]]:
    """The newest events, from at most the last ``max_bytes`` of the log: whole lines only,
    so the cost of a read does not grow with the length of the run."""
    path = run_dir / EVENTS_FILE
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return []
    if start:
        data = data[data.find(b"\n") + 1 :]  # the first line is cut: skip it
    return _parse_lines(data[: data.rfind(b"\n") + 1])


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    """The events in whole lines of the log; a line that is not JSON is passed over."""
    events = []
    for raw in data.splitlines():
        try:
            events.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return events


def beat(run_dir: Path) -> None:
    """The worker's sign of life: the time now, in ``heartbeat``."""
    (run_dir / HEARTBEAT_FILE).write_text(str(time.time()), encoding="utf-8")


def heartbeat_age(run_dir: Path, now: float | None = None) -> float | None:
    """Seconds since the worker last wrote its heartbeat; None when it never has."""
    try:
        written = float((run_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (time.time() if now is None else now) - written


def process_namespace() -> str:
    """This host and PID namespace: where a pid written here means the same process."""
    import socket

    try:
        namespace = str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}:{namespace}"


def _process_alive(pid: int, started: float | None) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 2.0
    except psutil.Error:
        return False


def worker_alive(run_dir: Path, now: float | None = None) -> bool:
    """Whether the run's worker is still working. Reads only.

    Where the worker's pid means something here (same host and PID namespace as the
    launcher that wrote ``pid.json``), the process decides, at once. Elsewhere (a container,
    a Jupyter server on another host over a shared folder) the heartbeat decides: the worker
    rewrites it every ``HEARTBEAT_SECONDS``, and one older than ``HEARTBEAT_STALE_SECONDS``
    (or none that long after launch) means the worker is gone. A run launched a moment ago,
    before the launcher has written the pid, counts as alive.
    """
    process = read_json(run_dir / PID_FILE)
    if not process:
        # Launched elsewhere (a job folder's launch.sh): the heartbeat decides once there is
        # one; before it, the run is not launched yet and ``read_status`` gives a queued run
        # its grace period.
        age = heartbeat_age(run_dir, now)
        return age is None or age < HEARTBEAT_STALE_SECONDS
    if process.get("namespace") == process_namespace() and process.get("pid"):
        return _process_alive(int(process["pid"]), process.get("started"))
    age = heartbeat_age(run_dir, now)
    if age is None:
        launched = float(process.get("written_at") or 0)
        age = (time.time() if now is None else now) - launched
    return age < HEARTBEAT_STALE_SECONDS


def _never_launched(run_dir: Path, status: dict[str, Any], now: float) -> bool:
    """A queued run that no launcher has taken up for longer than the grace period."""
    if status.get("status") != "queued" or (run_dir / PID_FILE).exists():
        return False
    queued_at = status.get("queued_at")
    if not isinstance(queued_at, int | float):
        try:
            queued_at = (run_dir / STATUS_FILE).stat().st_mtime
        except OSError:
            return False
    return now - float(queued_at) > HEARTBEAT_STALE_SECONDS


def read_status(run_dir: Path, now: float | None = None) -> tuple[dict[str, Any], str | None]:
    """``status.json`` as recorded, and why its worker is gone (``DEAD_WORKER``,
    ``NEVER_STARTED``) although it still says queued or running; None while it works.
    Reads only: a reader shows such a run as failed, the launcher's ``reconcile`` records
    it."""
    now = time.time() if now is None else now
    status = read_json(run_dir / STATUS_FILE)
    if status.get("status") not in ACTIVE:
        return status, None
    if _never_launched(run_dir, status, now):
        return status, NEVER_STARTED
    if worker_alive(run_dir, now):
        return status, None
    status = read_json(run_dir / STATUS_FILE)  # the worker may just have finished
    return status, DEAD_WORKER if status.get("status") in ACTIVE else None


def job_run_folder(job: Path) -> Path:
    """The run folder a job folder trains into."""
    run_id = read_json(job / JOB_FILE).get("run_id")
    if not isinstance(run_id, str) or "/" in run_id or run_id in {"", ".", ".."}:
        raise RunError(
            "job.not_a_job",
            f"{job} is not a job folder ({JOB_FILE} is missing or unreadable).",
            field="folder",
            hint="Give a folder written by mf.export_job.",
        )
    return job / "runs" / run_id


def damage(run_dir: Path) -> str | None:
    """What makes a run folder unreadable (its identity or config lost, emptied or not
    JSON), or None. A damaged run is listed as such; the others are not held up by it."""
    for name, needed in ((RUN_FILE, "id"), (CONFIG_FILE, "model")):
        path = run_dir / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"{name} is missing."
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return f"{name} is empty or not JSON."
        if not isinstance(data, dict) or needed not in data:
            return f"{name} does not hold a run's {'identity' if needed == 'id' else 'config'}."
    return None


def weights_folder(run_dir: Path) -> Path | None:
    """The run's saved weights: ``adapter/`` (LoRA, QLoRA) or ``model/`` (full); None before
    the run has completed."""
    return next((run_dir / n for n in (ADAPTER_DIR, MODEL_DIR) if (run_dir / n).is_dir()), None)


def last_complete_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint the worker finished writing."""
    done = [
        p
        for p in (run_dir / CHECKPOINTS_DIR).glob("checkpoint-*")
        if (p / COMPLETE_MARKER).exists()
    ]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[-1]), default=None)


def remove_partial_outputs(run_dir: Path) -> list[str]:
    """Remove half-written files; keep config, logs, events and complete checkpoints."""
    removed = []
    for checkpoint in (run_dir / CHECKPOINTS_DIR).glob("checkpoint-*"):
        if not (checkpoint / COMPLETE_MARKER).exists():
            shutil.rmtree(checkpoint, ignore_errors=True)
            removed.append(checkpoint.name)
    for partial in list(run_dir.glob("*.partial")) + list(run_dir.glob(".*.partial")):
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        removed.append(partial.name)
    return removed
