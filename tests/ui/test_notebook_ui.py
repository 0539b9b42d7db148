"""The form and the live dashboard rendered in a real JupyterLab, in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import (
    SCREENSHOTS,
    STOP_FEEDBACK,
    Lab,
    copy_as_cell,
    endless_run_cell,
    open_and_run_all,
    set_theme,
    write_notebook,
)

pytestmark = pytest.mark.slow
ALPACA = Path(__file__).parents[1] / "data" / "formats" / "alpaca.jsonl"


def test_dashboard_and_form_render_in_jupyterlab(
    lab: Lab, browser: Any, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    cells = write_notebook(
        lab.root / "ui.ipynb",
        [
            "%load_ext modelforge_nb",
            "%%modelforge finetune --name lab-run\n"
            f"model: {tiny_causal}\ndataset: {tiny_data['sft']}\n"
            f"eval_dataset: {tiny_data['sft_eval']}\n"
            "training: {max_steps: 24, learning_rate: 0.01, batch_size: 8, grad_accum: 1, "
            "logging_steps: 2, eval_steps: 8, save_steps: 12}",
            "%%modelforge finetune --name lab-run-2\n"
            f"model: {tiny_causal}\ndataset: {tiny_data['sft']}\n"
            "training: {max_steps: 12, learning_rate: 0.02, batch_size: 8, grad_accum: 1, "
            "logging_steps: 2, save_steps: 12}",
            "%modelforge compare lab-run lab-run-2",
            "%modelforge panel",
            f"%%modelforge preview 2\nmodel: {tiny_causal}\ndataset: {ALPACA}\n",
        ],
    )
    (lab.root / "sets").mkdir(exist_ok=True)  # a data file in the notebook's folder to pick
    shutil.copy(tiny_data["sft"], lab.root / "sets" / "train.jsonl")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    open_and_run_all(page, lab, "ui.ipynb", cells, workspace="notebook-ui")
    dashboard = page.locator(".modelforge-dashboard").first
    try:
        dashboard.wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "failure.png"))
        raise
    page.wait_for_selector(".modelforge-dashboard :text('completed')", timeout=240_000)
    form = page.locator(".modelforge-form").first
    form.wait_for(timeout=120_000)
    assert dashboard.locator("svg").count() >= 3
    assert dashboard.locator("button:has-text('Stop')").count() == 1
    assert page.locator(".modelforge-hardware").count() >= 1
    assert form.locator("button:has-text('Train')").count() == 1
    assert form.locator("select").count() >= 3
    _the_dashboards_controls_work(dashboard)
    compare = page.locator("div.modelforge-compare").first
    compare.wait_for(timeout=120_000)
    assert "training.learning_rate" in compare.inner_text()
    assert compare.locator("th").all_inner_texts()[1:] == ["lab-run", "lab-run-2"]
    compare.scroll_into_view_if_needed()
    compare.screenshot(path=str(SCREENSHOTS / "compare-light.png"))
    dashboard.scroll_into_view_if_needed()
    dashboard.screenshot(path=str(SCREENSHOTS / "dashboard.png"))
    form.scroll_into_view_if_needed()
    form.screenshot(path=str(SCREENSHOTS / "form.png"))
    page.screenshot(path=str(SCREENSHOTS / "notebook.png"))
    preview = page.locator(".modelforge-preview")
    preview.first.wait_for(timeout=120_000)
    assert preview.count() == 2
    assert "Give three tips for staying healthy." in preview.first.inner_text()
    preview.first.scroll_into_view_if_needed()
    page.locator(".jp-OutputArea:has(.modelforge-preview)").screenshot(
        path=str(SCREENSHOTS / "preview-light.png")
    )
    _the_forms_items_work(page, form, tiny_data["sft_eval"])
    form.screenshot(path=str(SCREENSHOTS / "form-light.png"))
    set_theme(page, "JupyterLab Dark", light=False)
    form.scroll_into_view_if_needed()
    form.screenshot(path=str(SCREENSHOTS / "form-dark.png"))
    page.locator(".jp-OutputArea:has(.modelforge-preview)").last.screenshot(
        path=str(SCREENSHOTS / "preview-dark.png")
    )
    # The plots take the theme's background: no glaring white boxes in the dark theme.
    dashboard.scroll_into_view_if_needed()
    backgrounds = dashboard.locator("svg").evaluate_all(
        "nodes => nodes.map(n => getComputedStyle(n).backgroundColor)"
    )
    assert backgrounds and "rgb(255, 255, 255)" not in backgrounds, backgrounds
    dashboard.screenshot(path=str(SCREENSHOTS / "dashboard-dark.png"))
    compare.scroll_into_view_if_needed()
    compare.screenshot(path=str(SCREENSHOTS / "compare-dark.png"))
    set_theme(page, "JupyterLab Light", light=True)  # the lab's setting outlives this page
    page.close()


def _the_dashboards_controls_work(dashboard: Any) -> None:
    """Log scale and TensorBoard's smoothing redraw the plots; each step's values show on
    hover (the strips' tooltips)."""
    from playwright.sync_api import expect

    dashboard.locator(".widget-checkbox:has-text('log scale') input").check()
    expect(dashboard.locator("svg").first).to_contain_text("(log)")
    handle = dashboard.locator(".widget-hslider:has-text('smoothing') .noUi-handle")
    handle.focus()
    for _ in range(10):
        handle.press("ArrowRight")
    expect(dashboard.locator("polyline.raw").first).to_be_attached()  # faint raw curve
    tips = dashboard.locator("rect.hover title").all_text_contents()
    assert any(t.startswith("step 2: train ") for t in tips), tips[:3]


def _field(form: Any, label: str) -> Any:
    """The input of the form's field labelled ``label``."""
    return form.locator(f".widget-hbox:has(> .widget-html span:text-is('{label}')) input")


def _the_forms_items_work(page: Any, form: Any, upload: Path) -> None:
    """Each item of the form, driven as a user would: nothing red untouched, a typed value
    kept with its error and its section marked, a missing file said as it is typed, a data
    file picked or uploaded and previewed, a recommendation filling the form, and Copy as
    cell inserting the cell below."""
    from playwright.sync_api import expect

    expect(form.locator(".widget-html :text('1 field to fill in')")).to_be_visible()
    assert form.locator(":text('to fix')").count() == 0  # nothing red before a touch
    rate = _field(form, "learning rate")
    before = rate.input_value()
    rate.fill("-0.001")
    rate.press("Tab")
    expect(form.locator(":text('greater than 0')")).to_be_visible()
    expect(form.locator(":text('training (1 to fix)')")).to_be_visible()
    assert rate.input_value() == "-0.001"  # kept as typed, not clamped to 0
    rate.fill(before)
    rate.press("Tab")
    expect(form.locator(":text('greater than 0')")).to_have_count(0)
    dataset = _field(form, "dataset")
    dataset.fill("sets/nope.jsonl")
    expect(form.locator(":text('does not exist')")).to_be_visible()
    form.locator("select:has(option:text-is('sets/train.jsonl'))").select_option("sets/train.jsonl")
    expect(dataset).to_have_value("sets/train.jsonl")
    expect(form.locator(".modelforge-preview").first).to_be_visible(timeout=60_000)
    with page.expect_file_chooser() as chooser:
        form.locator("button:has-text('Upload')").click()
    chooser.value.set_files(str(upload))
    expect(dataset).to_have_value(f"data/{upload.name}", timeout=30_000)
    model = _field(form, "model")
    picks = page.locator(".modelforge-recommend button")
    picks.nth(1).click()
    expect(model).to_have_value("HuggingFaceTB/SmolLM2-360M-Instruct")
    picks.nth(0).click()
    expect(model).to_have_value("modelforge:smollm2-135m-instruct")
    inserted = copy_as_cell(page, form)
    assert inserted.startswith("%%modelforge finetune"), inserted
    assert f"dataset: data/{upload.name}" in inserted, inserted
    assert "model: modelforge:smollm2-135m-instruct" in inserted, inserted
    assert not form.locator("textarea").is_visible()  # no text box to copy from
    form.locator("button:has-text('Check (preflight)')").click()
    verdict = form.locator(".modelforge-preflight")
    expect(verdict).to_contain_text("Ready to train.", timeout=60_000)
    expect(verdict.locator("table.modelforge-estimate")).to_contain_text("peak RAM")


def test_the_dashboards_stop_works_while_its_cell_follows_the_run(
    lab: Lab, browser: Any, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """A foreground cell keeps the kernel busy, so the button's own click waits; the
    extension sends the stop to the server at once, the cell's loop shows it, and the run
    ends stopped at the next step. A cell queued behind it runs afterwards, in order."""
    import json
    import time

    cells = write_notebook(
        lab.root / "stop.ipynb",
        [
            "%load_ext modelforge_nb",
            endless_run_cell("stop-me", tiny_causal, tiny_data["sft"]),
            "print('the next cell ran')",
        ],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    open_and_run_all(page, lab, "stop.ipynb", cells, workspace="stop-ui")
    dashboard = page.locator(".modelforge-dashboard").first
    dashboard.wait_for(timeout=120_000)
    page.wait_for_selector(".modelforge-dashboard :text('it/s')", timeout=120_000)  # stepping
    clicked = time.monotonic()
    dashboard.locator("button:has-text('Stop')").click()
    page.wait_for_selector(STOP_FEEDBACK, timeout=1000)
    answered = time.monotonic() - clicked
    page.wait_for_selector(".modelforge-dashboard :text('Stopped at step')", timeout=60_000)
    page.wait_for_selector(":text('the next cell ran')", timeout=60_000)
    assert answered <= 1.0
    (folder,) = (lab.root / "home" / "runs").glob("stop-me-*")
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "stopped" and status["step"] < 100000
    assert any((folder / "checkpoints").glob("checkpoint-*"))
    page.close()
