"""Datasets: read, check (file/line/column errors) and format them per task."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelforge_nb.config.tasks import TASKS, DataFormat
from modelforge_nb.data.checks import check_dataset, check_rows
from modelforge_nb.data.format import build_examples, prompt_format_for, render_prompt
from modelforge_nb.data.issues import DatasetIssue, DatasetReport
from modelforge_nb.errors import DatasetError

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig


@dataclass
class LoadedData:
    """Checked rows, split into train and eval, with the format they matched."""

    train: list[dict[str, Any]]
    eval: list[dict[str, Any]] | None
    data_format: DataFormat
    report: DatasetReport
    train_lines: list[int] = field(default_factory=list)
    """The line (or row) each training row came from, in the same order."""


def load_dataset_for(config: FinetuneConfig) -> LoadedData:
    """Read and check the data of ``config``; raise ``DatasetError`` on any error.

    ``eval_fraction`` holds out a seeded share of the training rows.
    """
    report, train, evaluation = check_rows(config)
    if not report.ok:
        first = report.errors[0]
        raise DatasetError("dataset.invalid", report.summary(), field=first.column or "dataset")
    task = TASKS[config.task]
    data_format = (
        task.match_format(config.method, train.rows[0], config.dataset_format)
        if train.rows
        else None
    )
    if data_format is None:
        raise DatasetError("dataset.columns", report.summary(), field="dataset")
    rows, lines = list(train.rows), list(train.lines)
    eval_rows = list(evaluation.rows) if evaluation is not None else None
    if config.eval_fraction is not None:
        order = list(range(len(rows)))
        random.Random(config.training.seed).shuffle(order)
        held = set(order[: report.eval_rows])
        eval_rows = [row for i, row in enumerate(rows) if i in held]
        lines = [line for i, line in enumerate(lines) if i not in held]
        rows = [row for i, row in enumerate(rows) if i not in held]
    return LoadedData(rows, eval_rows, data_format, report, lines)


__all__ = [
    "DatasetIssue",
    "DatasetReport",
    "LoadedData",
    "build_examples",
    "check_dataset",
    "load_dataset_for",
    "prompt_format_for",
    "render_prompt",
]
