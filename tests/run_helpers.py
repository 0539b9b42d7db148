"""Runs that several test modules need: one finished, one still training."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.runs import Run, Workspace


@contextmanager
def finished_and_live(home: Path, model: Path, data: Path) -> Iterator[dict[str, Run]]:
    """A completed 8-step run ("done") and a long one still training ("live").

    The live run is stopped when the block ends, so no worker outlives the tests.
    """
    workspace = Workspace(home)
    done = workspace.finetune(
        FinetuneConfig(
            model=str(model),
            dataset=str(data),
            run_name="finished-run",
            training={"max_steps": 8, "batch_size": 4, "logging_steps": 1, "save_steps": 100},
        )
    )
    assert done.wait(timeout=300) == "completed", done.error
    live = workspace.finetune(
        FinetuneConfig(
            model=str(model),
            dataset=str(data),
            run_name="live-run",
            training={"max_steps": 3000, "batch_size": 2, "logging_steps": 1, "save_steps": 5000},
        )
    )
    try:
        yield {"done": done, "live": live}
    finally:
        live.stop(wait=True, timeout=120)
