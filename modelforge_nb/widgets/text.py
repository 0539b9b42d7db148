"""Follow a run as plain text lines (terminals, CI, ``nbconvert``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelforge_nb.runs import Run


def describe_event(event: dict[str, object]) -> str | None:
    """One line for an event, or None for events not worth a line."""
    kind = event.get("type")
    if kind == "log" and "loss" in event:
        total = event.get("total_steps") or "?"
        line = f"step {event['step']}/{total}  loss {float(event['loss']):.4f}"  # type: ignore[arg-type]
        if event.get("learning_rate") is not None:
            line += f"  lr {float(event['learning_rate']):.2e}"  # type: ignore[arg-type]
        if event.get("tokens_per_second"):
            line += f"  {float(event['tokens_per_second']):,.0f} tok/s"  # type: ignore[arg-type]
        return line
    if kind == "eval" and "eval_loss" in event:
        return f"step {event['step']}  eval loss {float(event['eval_loss']):.4f}"  # type: ignore[arg-type]
    if kind == "start":
        return (
            f"started on {event.get('device')} ({event.get('precision')}), "
            f"{event.get('rows')} training rows"
        )
    if kind == "checkpoint":
        return f"checkpoint saved at step {event['step']}"
    if kind == "end":
        return f"run {event.get('status')}" + (f": {event['error']}" if event.get("error") else "")
    return None


def follow(run: Run, *, write: Callable[[str], None] = print, poll: float = 0.5) -> str:
    """Print the run's progress until it ends; return its final status."""
    seen = 0
    while True:
        events = run.events
        for event in events[seen:]:
            line = describe_event(event)
            if line:
                write(line)
        seen = len(events)
        status = run.status
        if status not in {"queued", "running"}:
            for event in run.events[seen:]:
                line = describe_event(event)
                if line:
                    write(line)
            return status
        time.sleep(poll)
