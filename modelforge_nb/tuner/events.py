"""The event log of a run (``events.jsonl``); its format lives in ``modelforge_nb.rundir``."""

from __future__ import annotations

from modelforge_nb.rundir import EVENT_TYPES, EVENTS_FILE, append_event, read_events

__all__ = ["EVENTS_FILE", "EVENT_TYPES", "append_event", "read_events"]
