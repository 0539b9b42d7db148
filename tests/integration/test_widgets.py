"""The panels driven through the widget API: form, dashboard, Stop button, bounded updates."""

from __future__ import annotations

import json
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

import modelforge_nb.rundir as rundir
from modelforge_nb.config import FinetuneConfig
from modelforge_nb.runs import Run, Workspace
from modelforge_nb.widgets.compat import titles, tooltip, uploaded_files
from modelforge_nb.widgets.dashboard import Dashboard
from modelforge_nb.widgets.form import ConfigForm
from modelforge_nb.widgets.plot import MAX_POINTS, count_points, downsample, line_chart

FAST = {
    "max_steps": 16,
    "learning_rate": 1e-2,
    "batch_size": 8,
    "grad_accum": 1,
    "logging_steps": 2,
    "save_steps": 8,
}


def test_form_validates_each_change_and_gates_train(
    tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    form = ConfigForm({"model": str(tiny_causal)})
    assert form.train_button.disabled
    # Nothing red before the user has touched anything: the field to fill is counted.
    assert form.controls["dataset"].message.value == ""
    assert "1 field to fill in" in form.problems.value and "error" not in form.problems.value
    assert form.check() is None  # Check shows every problem, touched or not
    assert "Field required" in form.controls["dataset"].message.value
    # A path to a file that is not there is said beside the field as it is typed.
    form.controls["dataset"].widget.value = str(tiny_data["sft"].with_name("nope.jsonl"))
    assert "does not exist" in form.controls["dataset"].message.value
    assert form.train_button.disabled and "Config is valid" not in form.problems.value
    form.controls["dataset"].widget.value = str(tiny_data["sft"])
    assert form.config is not None and not form.train_button.disabled
    assert form.controls["dataset"].message.value == ""
    form.accordion.selected_index = form.section_titles.index("training")
    form.controls["lora.alpha"].widget.value = 0
    assert "greater than 0" in form.controls["lora.alpha"].message.value
    assert form.train_button.disabled
    # The section holding the error says so in its header, and opens.
    lora = form.section_titles.index("lora")
    assert titles(form.accordion)[lora] == "lora (1 to fix)"
    assert form.accordion.selected_index == lora
    form.controls["lora.alpha"].widget.value = 8
    assert not form.train_button.disabled
    # What was typed stays typed, with the error beside it; nothing is clamped.
    for field, typed, words in (
        ("training.warmup_ratio", -0.001, "greater than or equal to 0"),
        ("lora.r", 0, "greater than or equal to 1"),
        ("lora.dropout", 1.5, "less than 1"),
    ):
        control = form.controls[field]
        before = control.widget.value
        control.widget.value = typed
        assert control.widget.value == typed and control.value() == typed
        assert words in control.message.value and form.train_button.disabled
        control.widget.value = before
    assert not form.train_button.disabled
    form.controls["adapter"].widget.value = "qlora"
    report = form.check()
    assert [p.code for p in report.problems] == ["quant.needs_cuda"]
    assert form.train_button.disabled and "CUDA" in tooltip(form.train_button)
    assert "quant.needs_cuda" in form.preflight_view.value
    form.controls["adapter"].widget.value = "lora"
    form.controls["training.max_steps"].widget.value = "12"
    report = form.check()
    assert report.ok and not form.train_button.disabled
    assert report.estimate is not None
    shown = form.preflight_view.value
    assert "Ready to train." in shown
    peak = f"{report.estimate.peak_bytes / 1e9:.2f} GB"
    assert f"<b>peak RAM</b></td><td style='text-align: right'><b>{peak}" in shown
    for term, value in report.estimate.terms().items():
        assert f"<tr><td>{term}</td><td style='text-align: right'>{value / 1e9:.2f} GB" in shown
    assert "[" not in shown.split("How sure")[0]  # no bracketed codes: a table
    cell = form.cell_text()
    assert cell.startswith("%%modelforge finetune\n") and "max_steps: 12" in cell
    rebuilt = FinetuneConfig.from_yaml(cell.split("\n", 1)[1])
    assert rebuilt == form.config


def _upload(upload: Any, name: str, content: bytes) -> None:
    """What the browser sends when a file is chosen: ipywidgets 8 sets ``value``; 7 sets
    ``metadata`` and ``data``, then bumps ``_counter``, which makes the kernel's ``value``."""
    from datetime import datetime

    now = datetime.now(UTC)
    meta = {"name": name, "type": "", "size": len(content), "last_modified": now}
    if isinstance(upload.value, dict):
        upload.metadata, upload.data = [meta], [content]
        upload._counter += 1
    else:
        upload.value = ({**meta, "content": memoryview(content)},)


def test_pick_or_upload_a_dataset_see_its_examples_and_copy_the_cell(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    import html
    import shutil

    notebook = tmp_path / "notebook"
    for folder in ("sets", ".cache", "old-run"):
        (notebook / folder).mkdir(parents=True)
        shutil.copy(tiny_data["sft"], notebook / folder / "train.jsonl")
    (notebook / "old-run" / "run.json").write_text("{}")  # a run's files are not data
    (notebook / "data").mkdir()
    (notebook / "data" / "mine.jsonl").write_text("keep me\n")
    form = ConfigForm({"model": str(tiny_causal)}, base_dir=str(notebook))
    assert form.data_picker.options[1:] == ("data/mine.jsonl", "sets/train.jsonl")
    form.data_picker.value = "sets/train.jsonl"
    assert form.controls["dataset"].widget.value == "sets/train.jsonl"
    first = tiny_data["sft"].read_text().splitlines()[0]
    assert "What trains" in form.preview_view.value
    assert html.escape(json.loads(first)["input"]) in form.preview_view.value
    # An upload lands in data/, beside (never over) a different file of the same name.
    content = tiny_data["sft_eval"].read_bytes()
    _upload(form.upload, "mine.jsonl", content)
    assert (notebook / "data" / "mine.jsonl").read_text() == "keep me\n"
    assert (notebook / "data" / "mine-1.jsonl").read_bytes() == content
    assert form.controls["dataset"].widget.value == "data/mine-1.jsonl"
    assert "data/mine-1.jsonl" in form.data_picker.options
    assert uploaded_files(form.upload) == []
    assert form.data_picker.value == "data/mine-1.jsonl"  # the picker follows the field
    form.controls["dataset"].widget.value = "elsewhere.jsonl"
    assert form.data_picker.value == form.data_picker.options[0]
    form.data_picker.value = "data/mine-1.jsonl"
    _upload(form.upload, "mine.jsonl", content)  # the same again
    assert sorted(p.name for p in (notebook / "data").iterdir()) == ["mine-1.jsonl", "mine.jsonl"]
    _upload(form.upload, "notes.txt", b"x")
    assert "not a data file" in form.preview_view.value
    assert not (notebook / "data" / "notes.txt").exists()
    # The copied cell: paths under the notebook's folder relative, integers as integers;
    # the extension inserts it from the hidden copy the form keeps up to date.
    form.controls["training.max_steps"].widget.value = "12"  # typed text
    cell = form.cell_text()
    assert "dataset: data/mine-1.jsonl\n" in cell and "max_steps: 12\n" in cell
    assert f"model: {tiny_causal}\n" in cell  # outside the notebook's folder: absolute
    assert FinetuneConfig.from_yaml(cell.split("\n", 1)[1], base_dir=notebook) == form.config
    assert html.unescape(form.cell_source.value) == cell
    assert "modelforge-copy-cell" in form.cell_button._dom_classes


def test_form_fields_follow_the_schema() -> None:
    import ipywidgets as widgets

    form = ConfigForm({})
    assert isinstance(form.controls["adapter"].widget, widgets.Dropdown)
    assert set(form.controls["adapter"].widget.options) == {"lora", "qlora", "full"}
    assert isinstance(form.controls["training.gradient_checkpointing"].widget, widgets.Checkbox)
    # A plain number box: the schema's bounds are checked, not enforced by clamping.
    assert type(form.controls["lora.r"].widget) is widgets.IntText
    assert type(form.controls["training.warmup_ratio"].widget) is widgets.FloatText
    # Empty: the method's default learning rate applies (config/methods.py).
    rate = form.controls["training.learning_rate"]
    assert rate.widget.value == "" and rate.value() is None
    assert "LoRA rank" in tooltip(form.controls["lora.r"].widget)
    shown = titles(form.accordion)
    assert "training" in shown and "advanced" in shown
    assert form.accordion.selected_index == shown.index("training")


@pytest.mark.slow
def test_train_from_the_form_and_watch_the_dashboard(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    workspace = Workspace(tmp_path)
    started: list[Run] = []

    def on_train(config: FinetuneConfig) -> Run:
        run = workspace.finetune(config)
        started.append(run)
        return run

    form = ConfigForm(
        {"model": str(tiny_causal), "dataset": str(tiny_data["sft"]), "training": FAST},
        on_train=on_train,
    )
    form.train()
    assert form.train() is None  # a double click, or a click queued behind the first
    (run,) = started
    assert f"Already started as run {run.id}" in form.problems.value
    assert form.train_button.disabled
    board = Dashboard(run)
    assert board.follow() == "completed"
    assert count_points(board.plots.value) > 3
    assert "Final metrics" in board.metrics.value
    assert board.progress.value == board.progress.max == FAST["max_steps"]
    assert board.stop_button.disabled and board.resume_button.disabled
    assert "completed" in board.static_html() and "<svg" in board.static_html()
    drawn = count_points(board.plots.value)
    board.smoothing.value = 0.9  # TensorBoard's smoothing, over the faint raw curve
    assert 'class="raw"' in board.plots.value and count_points(board.plots.value) == drawn
    board.log_scale.value = True
    assert "loss (log)" in board.plots.value


@pytest.mark.slow
def test_stop_button_stops_with_a_checkpoint(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = Workspace(tmp_path).finetune(
        FinetuneConfig(
            model=str(tiny_causal),
            dataset=str(tiny_data["sft"]),
            training={**FAST, "max_steps": 400, "batch_size": 2, "logging_steps": 1},
        )
    )
    board = Dashboard(run)
    deadline = time.monotonic() + 120
    while board.curves.step < 3 and time.monotonic() < deadline:
        board.update(force=True)
        time.sleep(0.2)
    board.stop_button.click()
    assert run.wait(timeout=120) == "stopped"
    board.update(force=True)
    assert board.curves.status == "stopped"
    assert not board.resume_button.disabled
    assert list((run.output_dir / "checkpoints").glob("checkpoint-*/.modelforge-complete"))


class SyntheticRun:
    """A run that logs every step, driven by the test: the dashboard only reads these."""

    id = "synthetic"
    name = "synthetic"
    error = None
    error_details = None
    stop_requested = False
    metrics: dict[str, Any] = {}  # noqa: RUF012 (read-only here)

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.events: list[dict[str, Any]] = []
        self.status = "running"
        self.reads = 0

    def events_after(self, count: int) -> list[dict[str, Any]]:
        self.reads += 1
        return self.events[count:]

    def log(self, step: int, total: int) -> None:
        event = {"type": "log", "step": step, "total_steps": total, "loss": 3 / step, "time": step}
        self.events.append(event)
        with (self.output_dir / rundir.EVENTS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")  # what the dashboard watches grows


def test_every_step_logged_but_updates_stay_bounded(tmp_path: Path) -> None:
    steps, seconds_per_step, min_interval = 3000, 0.01, 0.3
    now = [0.0]
    run = SyntheticRun(tmp_path)
    board = Dashboard(run, min_interval=min_interval, clock=lambda: now[0])  # type: ignore[arg-type]
    sent: list[Any] = []
    board.plots.observe(sent.append, names="value")
    for step in range(1, steps + 1):
        run.log(step, steps)
        now[0] += seconds_per_step
        board.update()
    elapsed = steps * seconds_per_step
    # One redraw per interval at most, and no fewer: the plots keep up with the run.
    assert elapsed / min_interval - 2 <= len(sent) <= elapsed / min_interval + 2, len(sent)
    assert count_points(board.plots.value) <= 3 * MAX_POINTS
    run.status = "completed"
    board.update(force=True)
    assert board.progress.value == steps and f"{steps}/{steps}" in board.progress_label.value


def test_slow_drawing_stretches_the_interval(tmp_path: Path) -> None:
    now = [0.0]
    run = SyntheticRun(tmp_path)
    board = Dashboard(run, min_interval=0.3, clock=lambda: now[0])  # type: ignore[arg-type]
    draw = board._draw

    def slow_draw() -> None:
        now[0] += 0.5  # drawing takes half a second
        draw()

    board._draw = slow_draw  # type: ignore[method-assign]
    redraws = 0
    for step in range(1, 101):
        run.log(step, 100)
        now[0] += 0.1
        redraws += board.update()
    # A redraw that costs 0.5 s makes the next one wait 4 x 0.5 s, so drawing never takes
    # more than a quarter of the notebook's time.
    assert board.interval == pytest.approx(2.0)
    assert redraws <= now[0] / 2.0 + 1, redraws


def test_a_poll_with_nothing_new_reads_nothing(tmp_path: Path) -> None:
    """While the run's files stand still the follow loop only looks at them (``stat``), and
    reads them again once a second (a worker that died changes no file)."""
    now = [0.0]
    run = SyntheticRun(tmp_path)
    board = Dashboard(run, clock=lambda: now[0])  # type: ignore[arg-type]
    run.log(1, 10)
    now[0] += 0.2
    board.update()
    reads = run.reads
    for _ in range(4):  # four polls within the second, nothing new on disk
        now[0] += 0.2
        assert not board.update()
    assert run.reads == reads
    run.log(2, 10)
    now[0] += 0.2
    board.update()
    assert run.reads == reads + 1 and board.curves.step == 2
    now[0] += 1.0
    board.update()
    assert run.reads == reads + 2  # the once-a-second full read
    (tmp_path / rundir.STOP_REQUEST).write_text("now", encoding="utf-8")
    now[0] += 0.2
    board.update()
    assert run.reads == reads + 3  # a stop asked for elsewhere is seen at the next poll


def test_downsampling_keeps_shape_and_bounds_points() -> None:
    points = [(float(i), float(i % 97)) for i in range(100_000)]
    points[50_000] = (50_000.0, 1e6)
    kept = downsample(points)
    assert len(kept) <= MAX_POINTS
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert (50_000.0, 1e6) in kept, "a spike survives downsampling"
    svg = line_chart({"loss": points}, title="Loss")
    assert count_points(svg) <= MAX_POINTS


@pytest.mark.slow
def test_detached_training_returns_at_once_and_the_dashboard_keeps_up(
    tmp_path: Path,
    tiny_causal: Path,
    tiny_data: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys
    import types

    from modelforge_nb.session import Session

    session = Session(tmp_path / "home")
    session._display = lambda *_objects: None  # type: ignore[method-assign]
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]), training=FAST)
    run = session.train(config, detach=True)
    assert run.status in {"queued", "running"}
    assert "Colab" not in capsys.readouterr().out
    board = session.dashboards[run.id]
    assert run.wait(timeout=300) == "completed"
    deadline = time.monotonic() + 10
    while "completed" not in board.header.value and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "completed" in board.header.value and board.stop_button.disabled
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    second = session.train(config, detach=True)
    assert f"%modelforge show {second.id}" in capsys.readouterr().out
    assert second.wait(timeout=300) == "completed"


def test_the_form_previews_what_trains(tiny_causal: Path, tmp_path: Path) -> None:
    from repo_paths import REPO_ROOT

    alpaca = REPO_ROOT / "tests" / "data" / "formats" / "alpaca.jsonl"
    form = ConfigForm({"model": str(tiny_causal), "dataset": str(alpaca)})
    shown = form.preview()
    assert shown is not None and [s.line for s in shown] == [1, 2, 3]
    assert "What trains" in form.preview_view.value
    assert "Give three tips for staying healthy." in form.preview_view.value
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nWhat is 2+2?,4\n")
    form.controls["dataset"].widget.value = str(faq)
    assert form.preview() is None and "dataset" in form.preview_view.value.lower()
    form.controls["columns"].widget.value = "{prompt: question, completion: answer}"
    assert form.preview() is not None and "What is 2+2?" in form.preview_view.value


def test_the_form_plans_for_another_machine(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    form = ConfigForm(
        {
            "model": str(tiny_causal),
            "dataset": str(tiny_data["sft"]),
            "training": {"precision": "bf16"},
        }
    )
    form.plan_for.value = "colab-t4"
    assert form.report is not None
    assert "precision.bf16_unsupported" in {p.code for p in form.report.problems}
    assert "Checked for colab-t4" in form.preflight_view.value
    assert form.train_button.disabled and form.train() is None
    form.plan_for.value = "a100-80gb"
    assert form.report.ok and form.train_button.disabled
    form.plan_for.value = "this machine"
    assert form.hardware is None and not form.train_button.disabled


def test_a_recommendation_click_fills_the_form(tiny_data: dict[str, Path]) -> None:
    from modelforge_nb.plan import recommend
    from modelforge_nb.widgets.form import recommendation_buttons

    picks = recommend("text-generation")
    assert len(picks) >= 2
    form = ConfigForm({"dataset": str(tiny_data["sft"])})
    box = recommendation_buttons("text-generation", picks, form)
    buttons = [c for c in box.children if hasattr(c, "click")]
    assert [b.description for b in buttons] == [str(p) for p in picks]
    buttons[1].click()
    wanted = picks[1].config_fields()
    assert form.controls["model"].widget.value == wanted["model"]
    assert form.controls["training.batch_size"].widget.value == wanted["training"]["batch_size"]
    assert form.controls["dataset"].widget.value == str(tiny_data["sft"])  # kept


def test_copy_as_cell_without_the_extension_shows_a_block_to_select(
    tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """Where no extension inserts the cell, the click shows the whole cell text, unclipped,
    with a hint saying what to do with it."""
    import html

    form = ConfigForm({"model": str(tiny_causal), "dataset": str(tiny_data["sft"])})
    assert form.cell_text_area.value == ""
    form.cell_button.click()
    shown = form.cell_text_area.value
    assert "Select this text and copy it into a new cell" in shown
    assert html.escape(form.cell_text()) in shown and "<pre" in shown
    assert form.cell_text().startswith("%%modelforge finetune")
