"""The event log of a run: one JSON object per line in ``events.jsonl``.

The worker appends; the kernel, widgets and the server extension read. A reader keeps
its byte offset and only takes complete lines, so it never sees half an event.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"

#: Event types: start (versions, data hash, total steps), log (step, loss, learning rate,
#: grad norm, tokens per second, GPU memory), eval (eval metrics), checkpoint (a complete
#: checkpoint), end (final status and metrics).
EVENT_TYPES = ("start", "log", "eval", "checkpoint", "end")


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
    """Events after byte ``offset`` and the offset to continue from."""
    path = run_dir / EVENTS_FILE
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        try:
            events.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return events, offset + end
