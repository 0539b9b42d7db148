"""Runs that several test modules need (one finished, one still training) and the one
bounded wait for a run to get somewhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import modelforge_nb.rundir as rundir
from modelforge_nb.config import FinetuneConfig
from modelforge_nb.runs import Run, Workspace


def wait_until(run: Run, condition: Callable[[], object], what: str, timeout: float = 180) -> None:
    """Poll ``condition`` until it holds; fail at once if the run ends first, and after
    ``timeout`` seconds saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert run.status in rundir.ACTIVE, f"the run ended {run.status} before {what}: {run.error}"
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@contextmanager
def one_thread_per_worker() -> Iterator[None]:
    """Worker processes started in this block use one CPU thread each.

    Several runs training at once, each with torch's default of one thread per core, spend
    much of their time in OpenMP's spin-waits: tests/integration/test_training.py's six runs
    took 129 s on two cores, against 66 s with one thread each. A single run keeps the
    default (the quickstart's SmolLM2 trains faster on both cores).
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")  # a worker inherits the environment it starts in
        yield


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


def greedy_answer(
    model: Any,
    tokenizer: Any,
    prompt: str,
    *,
    max_new_tokens: int,
    skip_special_tokens: bool = False,
) -> str:
    """A model's greedy answer to one user turn, through its chat template, without our code."""
    import torch

    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = output[0][inputs["input_ids"].shape[1] :]
    return str(tokenizer.decode(new, skip_special_tokens=skip_special_tokens))


def resume_at_once(run_dir: str, barrier: Any, results: Any) -> None:
    """Resume the run in ``run_dir`` the moment the other callers are ready too (a process
    of its own, started by ``multiprocessing``); put what came of it on ``results``: the
    run's status, or the code of the ``RunError`` it raised."""
    from modelforge_nb.errors import RunError

    run = Run(run_dir)
    barrier.wait(timeout=60)
    try:
        results.put(run.resume().status)
    except RunError as error:
        results.put(error.code)
