"""The dashboard's words: the progress line as transformers' notebook bar shows it (the stage
before the first step, then step, elapsed < remaining, speed, epoch, loss), and the final
metrics with human names and units."""

from __future__ import annotations

from typing import Any

from modelforge_nb.widgets.curves import RunCurves

T0 = 1_800_000_000.0


def _log(step: int, at: float, **extra: Any) -> dict[str, Any]:
    return {"type": "log", "time": T0 + at, "step": step, "total_steps": 100, **extra}


def test_before_the_first_step_the_line_says_what_the_worker_is_doing() -> None:
    curves = RunCurves()
    assert curves.progress_text(now=T0) == "queued: waiting for the worker to start"
    curves.apply([{"type": "stage", "time": T0, "name": "reading the data"}])
    assert curves.progress_text(now=T0 + 3) == "reading the data… 00:03"
    curves.apply(
        [
            {"type": "start", "time": T0 + 4, "device": "cpu"},
            {"type": "stage", "time": T0 + 5, "name": "loading the model"},
        ]
    )
    assert curves.progress_text(now=T0 + 72) == "loading the model… 01:12"


def test_during_training_elapsed_is_less_than_remaining_with_speed_epoch_and_loss() -> None:
    curves = RunCurves()
    curves.apply(
        [
            {"type": "stage", "time": T0, "name": "reading the data"},
            {"type": "start", "time": T0 + 2},
            _log(1, 10, loss=2.5, epoch=0.01),
            _log(10, 28, loss=1.5, epoch=0.1),
        ]
    )
    # 9 steps in 18 s: 2 s a step, 90 steps left: 3 minutes.
    line = curves.progress_text(now=T0 + 30)
    assert line == "step 10/100 · 00:30 < 03:00, 2.00 s/step · epoch 0.10 · loss 1.5000"
    fast = RunCurves()
    fast.apply([{"type": "start", "time": T0}, _log(1, 1.0), _log(41, 5.0, loss=0.25)])
    assert "10.00 it/s" in fast.progress_text(now=T0 + 5)


def test_an_ended_run_shows_its_whole_time_and_no_remaining() -> None:
    curves = RunCurves()
    curves.apply(
        [
            {"type": "start", "time": T0},
            _log(1, 10, loss=2.0, epoch=0.5),
            _log(100, 3610, loss=1.0, epoch=1.0),
            {"type": "end", "time": T0 + 3700, "status": "completed", "metrics": {}},
        ]
    )
    line = curves.progress_text(now=T0 + 99_999)
    # The whole run, evaluation and saving after the last step included.
    assert line.startswith("step 100/100 · 1:01:40, ") and "<" not in line


def test_final_metrics_have_human_names_and_units_and_the_loss_difference_is_explained() -> None:
    import re

    curves = RunCurves()
    curves.apply(
        [
            {"type": "start", "time": T0},
            _log(1, 1, loss=3.0),
            _log(8, 8, loss=1.25),
            {
                "type": "end",
                "time": T0 + 80,
                "status": "completed",
                "metrics": {
                    "train_loss": 2.0123,
                    "eval_mean_token_accuracy": 0.4567,
                    "exact_match": 62.5,
                    "runtime_s": 75.4,
                    "global_step": 8,
                    "peak_memory_bytes": 123,
                },
            },
        ]
    )
    page = curves.metrics_html()
    rows = re.findall(r"<td>([^<]+)</td><td style='text-align: right'>([^<]+)</td>", page)
    assert rows == [
        ("average train loss", "2.012"),
        ("eval token accuracy", "45.7%"),
        ("exact match", "62.5%"),
        ("optimizer steps", "8"),
        ("run time", "01:15"),
    ]
    assert "the last logged loss (step 8) is 1.2500" in page
