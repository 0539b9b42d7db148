"""The config form, generated from ``FinetuneConfig``'s JSON schema.

Choices become dropdowns, booleans checkboxes, bounded numbers bounded inputs, and
everything else a text box read as YAML; descriptions become tooltips and help. Each
change is validated through the one schema at once, the message shows beside the field,
preflight shows its problems and estimate, and Train stays disabled while anything blocks.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import yaml

from modelforge_nb.config.models import DATA_FILE_SUFFIXES, FinetuneConfig, resolve_ref
from modelforge_nb.data.files import (
    UPLOAD_FOLDER,
    data_folders,
    find_data_files,
    save_upload,
    shown_path,
)
from modelforge_nb.errors import ConfigError, ModelForgeError
from modelforge_nb.widgets.compat import clear_upload, set_titles, set_tooltip, uploaded_files
from modelforge_nb.widgets.panels import ERROR_COLOR, GOOD_COLOR, preflight_html

BASIC = (
    "task",
    "model",
    "dataset",
    "eval_dataset",
    "eval_fraction",
    "run_name",
    "method",
    "adapter",
)
_LABEL = widgets.Layout(width="150px")
#: Shown above the cell text where Copy as cell could not insert the cell itself.
COPY_HINT = (
    "Select this text and copy it into a new cell (the JupyterLab extension inserts the "
    "cell for you)."
)
_PICK = "(a data file from this folder, Drive or /kaggle/input)"
#: Fields holding a local path, written relative to the notebook's folder in a copied cell.
_PATH_FIELDS = ("model", "dataset", "eval_dataset", "output_root")


def _choices(node: dict[str, Any]) -> list[Any] | None:
    if "enum" in node:
        return list(node["enum"])
    options = node.get("anyOf", [])
    if options and all("const" in o or "enum" in o for o in options):
        return [v for o in options for v in (o.get("enum") or [o["const"]])]
    return None


class FieldControl:
    """One field: its widget, how to read it, and where its message shows."""

    def __init__(self, path: str, node: dict[str, Any], default: Any) -> None:
        self.path = path
        self.node = node
        help_text = node.get("description", "")
        name = path.split(".")[-1].replace("_", " ")
        choices = _choices(node)
        kind = node.get("type")
        optional = any(o.get("type") == "null" for o in node.get("anyOf", []))
        self.as_yaml = False
        if choices is not None:
            self.widget: widgets.Widget = widgets.Dropdown(options=choices, value=default)
        elif kind == "boolean":
            self.widget = widgets.Checkbox(value=bool(default), indent=False)
        # Plain number boxes, not bounded ones: a bounded box silently changes what was
        # typed (-0.001 into 0); here the value stays and the schema's bound is the error.
        elif kind == "integer" and "minimum" in node and "maximum" in node:
            self.widget = widgets.IntText(value=default)
        elif kind == "number" and not optional:
            self.widget = widgets.FloatText(value=default, step=None)
        else:
            self.as_yaml = not (kind == "string" or (optional and _string_or_null(node)))
            self.widget = widgets.Text(
                value="" if default is None else _text(default),
                placeholder="(empty)" if optional else "",
            )
        set_tooltip(self.widget, help_text)
        self.widget.layout = widgets.Layout(width="320px")
        self.message = widgets.HTML()
        label = widgets.HTML(
            f"<span title='{html.escape(help_text, quote=True)}'>{html.escape(name)}</span>",
            layout=_LABEL,
        )
        self.box = widgets.HBox([label, self.widget, self.message])

    def value(self) -> Any:
        raw = self.widget.value
        if isinstance(self.widget, widgets.Text):
            text = str(raw).strip()
            if not text:
                return None
            if self.as_yaml:
                try:
                    return yaml.safe_load(text)
                except yaml.YAMLError:
                    return text
            return text
        return raw

    def set(self, value: Any) -> None:
        if isinstance(self.widget, widgets.Text):
            self.widget.value = "" if value is None else _text(value)
        else:
            self.widget.value = value


def _paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted field paths a (nested) dict of values sets."""
    out = []
    for key, value in values.items():
        out.append(f"{prefix}{key}")
        if isinstance(value, dict):
            out += _paths(value, f"{prefix}{key}.")
    return out


def _string_or_null(node: dict[str, Any]) -> bool:
    return all(o.get("type") in {"string", "null"} for o in node.get("anyOf", []))


def _differences(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The values that differ from the defaults, sections compared field by field."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        default = defaults.get(key)
        if isinstance(value, dict) and isinstance(default, dict):
            inner = _differences(value, default)
            if inner:
                out[key] = inner
        elif value != default:
            out[key] = value
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


class ConfigForm:
    """The whole form; ``widget`` is what the notebook displays."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        *,
        on_train: Callable[[FinetuneConfig], Any] | None = None,
        hardware: Any = None,
        base_dir: str | None = None,
    ) -> None:
        self.on_train = on_train
        self.hardware = hardware
        self.base_dir = base_dir or str(Path.cwd())
        self.config: FinetuneConfig | None = None
        #: The id of the run Train started from this config; None once a field changes.
        self.started: str | None = None
        self.report: Any = None
        self.controls: dict[str, FieldControl] = {}
        schema = FinetuneConfig.model_json_schema()
        blank = FinetuneConfig.model_construct(model="", dataset="")
        defaults = blank.model_dump()
        self._defaults: dict[str, Any] = blank.model_dump(mode="json")
        sections: dict[str, list[widgets.Widget]] = {}
        basic: list[widgets.Widget] = []
        advanced: list[widgets.Widget] = []
        for name, node in schema["properties"].items():
            resolved = resolve_ref(schema, node)
            if resolved.get("type") == "object" and "properties" in resolved:
                children = []
                for child, child_node in resolved["properties"].items():
                    section_default = (defaults.get(name) or {}).get(
                        child, child_node.get("default")
                    )
                    control = FieldControl(f"{name}.{child}", child_node, section_default)
                    self.controls[control.path] = control
                    children.append(control.box)
                sections[name] = children
                continue
            control = FieldControl(name, node, defaults.get(name, node.get("default")))
            self.controls[name] = control
            (basic if name in BASIC else advanced).append(control.box)
        basic.sort(
            key=lambda box: next(i for i, n in enumerate(BASIC) if self.controls[n].box is box)
        )
        titles = [*sections, "advanced"]
        self.section_titles = tuple(titles)
        #: The accordion section each field is in (None: the basic fields, always open).
        self.section_of: dict[str, int | None] = {
            path: titles.index(path.split(".")[0])
            if "." in path
            else (None if path in BASIC else titles.index("advanced"))
            for path in self.controls
        }
        self.accordion = widgets.Accordion(
            children=[widgets.VBox(sections[t]) for t in sections] + [widgets.VBox(advanced)],
        )
        set_titles(self.accordion, self.section_titles)
        self.accordion.selected_index = titles.index("training")
        self.problems = widgets.HTML()
        self.preflight_view = widgets.HTML()
        self.train_button = widgets.Button(
            description="Train", icon="play", button_style="success", disabled=True
        )
        self.check_button = widgets.Button(description="Check (preflight)", icon="check")
        self.cell_button = widgets.Button(
            description="Copy as cell",
            icon="copy",
            tooltip="Insert a %%modelforge finetune cell with this config below",
        )
        # The extension inserts the cell from this hidden copy of its text (the kernel
        # cannot add cells); without the extension the button shows the text instead.
        self.cell_button.add_class("modelforge-copy-cell")
        self.cell_source = widgets.HTML(layout=widgets.Layout(display="none"))
        self.cell_source.add_class("modelforge-cell-source")
        from modelforge_nb.hardware import profile_names

        self.here = hardware
        self.plan_for = widgets.Dropdown(
            options=["this machine", *profile_names()],
            value="this machine",
            description="plan for",
        )
        set_tooltip(
            self.plan_for, "Check the config against another machine (mf.hardware_profile)."
        )
        self.plan_for.observe(lambda _change: self._plan_for(), names="value")
        self.preview_button = widgets.Button(description="Preview data", icon="eye")
        self.preview_view = widgets.HTML()
        self.preview_button.on_click(lambda _b: self.preview())
        self.data_picker = widgets.Dropdown(
            options=[_PICK],
            value=_PICK,
            description="or pick a file",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="470px"),
        )
        set_tooltip(
            self.data_picker, "Data files in the notebook's folder, Drive (Colab) or /kaggle/input"
        )
        self._syncing = False  # the picker follows the field: not a pick of the user's
        self.data_picker.observe(lambda _change: self._picked(), names="value")
        self.upload = widgets.FileUpload(
            accept=",".join(DATA_FILE_SUFFIXES),
            multiple=False,
            description="Upload",
        )
        set_tooltip(
            self.upload, f"Saved in the notebook's {UPLOAD_FOLDER}/ folder, never over a file"
        )
        self.upload.observe(lambda _change: self._uploaded(), names="value")
        self.refresh_files()
        # Where no extension inserts the cell, the click shows its text here: a block to
        # select and copy, as tall as the text (a text box would clip it).
        self.cell_text_area = widgets.HTML()
        self.cell_text_area.add_class("modelforge-cell-text")
        self.train_button.on_click(lambda _b: self.train())
        self.check_button.on_click(lambda _b: self.check())
        self.cell_button.on_click(lambda _b: self.show_cell_text())
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Fine-tuning config</b>"),
                widgets.VBox(basic),
                widgets.HBox([self.data_picker, self.upload]),
                self.accordion,
                self.problems,
                widgets.HBox(
                    [self.check_button, self.train_button, self.preview_button, self.cell_button]
                ),
                self.plan_for,
                self.preflight_view,
                self.preview_view,
                self.cell_text_area,
                self.cell_source,
            ]
        )
        self.widget.add_class("modelforge-form")
        if initial:
            self.set_values(initial)
        #: Fields the user has changed: only their problems show until Check or Train.
        self.touched: set[str] = set(_paths(initial or {}))
        self.show_all = False
        for path, control in self.controls.items():
            control.widget.observe(lambda _change, path=path: self._edited(path), names="value")
        self.validate()

    def _ipython_display_(self) -> None:
        from modelforge_nb.widgets.live import LiveDisplay

        text = html.escape(self.cell_text())
        LiveDisplay(self.widget, "config form").show(
            f"<div class='modelforge-form-static'><b>Fine-tuning config</b> (an interactive "
            f"form: run the cell to use it)<pre>{text}</pre></div>"
        )

    def set_values(self, values: dict[str, Any], prefix: str = "") -> None:
        for key, value in values.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and not any(p == path for p in self.controls):
                self.set_values(value, prefix=f"{path}.")
            elif path in self.controls:
                self.controls[path].set(value)

    def data(self) -> dict[str, Any]:
        """The form's values as a config dict (empty optional fields left out)."""
        out: dict[str, Any] = {}
        for path, control in self.controls.items():
            value = control.value()
            if value is None:
                continue
            target = out
            *parents, leaf = path.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
        if out.get("adapter") != "qlora":
            out.pop("quantization", None)
        return out

    def _edited(self, path: str) -> None:
        self.started = None  # a changed config may be trained again
        self.touched.add(path)
        if path == "dataset":
            self._show_in_picker()
        self.validate()

    def _show_in_picker(self) -> None:
        """The picker shows the dataset field's file when it lists it, else its prompt."""
        value = str(self.controls["dataset"].widget.value).strip()
        shown = value if value in self.data_picker.options else _PICK
        if self.data_picker.value != shown:
            self._syncing = True
            try:
                self.data_picker.value = shown
            finally:
                self._syncing = False

    def _problems(self) -> list[ModelForgeError]:
        """What the schema refuses, and the cheap checks preflight would make: a local
        dataset file that is not there."""
        try:
            self.config = FinetuneConfig.from_dict(self.data(), base_dir=self.base_dir)
        except ConfigError as error:
            self.config = None
            return list(error.problems) or [error]
        found: list[ModelForgeError] = []
        for field in ("dataset", "eval_dataset"):
            value = getattr(self.config, field)
            if value and Path(value).is_absolute() and not Path(value).exists():
                found.append(
                    ModelForgeError(
                        "dataset.missing",
                        f"{value} does not exist.",
                        field=field,
                        hint="Check the path (relative to the notebook's folder).",
                    )
                )
        return found

    def validate(self) -> FinetuneConfig | None:
        """Validate through the schema; show each message beside its field (only the fields
        the user has touched, until Check or Train), and count them in the section headers,
        opening the first section that holds one."""
        for each in self.controls.values():
            each.message.value = ""
        self.report = None
        self.preflight_view.value = ""
        problems = self._problems()
        self.cell_source.value = html.escape(self.cell_text())
        shown, unplaced, waiting = [], [], 0
        per_section = [0] * len(self.section_titles)
        for problem in problems:
            field = problem.field or ""
            path = field if field in self.controls else field.split(".")[0]
            control = self.controls.get(path)
            if control is not None and not (self.show_all or path in self.touched):
                waiting += 1
                continue
            shown.append(problem)
            text = html.escape(problem.message + (" " + problem.hint if problem.hint else ""))
            if control is None:
                unplaced.append(f"{html.escape(field)}: {text}" if field else text)
                continue
            control.message.value = f"<span style='color: {ERROR_COLOR}'>{text}</span>"
            section = self.section_of.get(path)
            if section is not None:
                per_section[section] += 1
        set_titles(
            self.accordion,
            tuple(
                f"{title} ({count} to fix)" if count else title
                for title, count in zip(self.section_titles, per_section, strict=True)
            ),
        )
        selected = self.accordion.selected_index
        if any(per_section) and (selected is None or not per_section[selected]):
            self.accordion.selected_index = next(i for i, n in enumerate(per_section) if n)
        if shown:
            count = len(shown)
            self.problems.value = (
                f"<span style='color: {ERROR_COLOR}'>{count} field"
                f"{'s' if count != 1 else ''} to fix"
                + ("".join(f"<br>{u}" for u in unplaced))
                + "</span>"
            )
        elif waiting:
            self.problems.value = (
                f"<span>{waiting} field{'s' if waiting != 1 else ''} to fill in.</span>"
            )
        else:
            self.problems.value = f"<span style='color: {GOOD_COLOR}'>Config is valid.</span>"
        if problems:
            self.train_button.disabled = True
            self.train_button.tooltip = "Fix the fields marked in red first."
            return None
        self.train_button.disabled = self.plan_for.value != "this machine"
        self.train_button.tooltip = "Run preflight, then start training."
        return self.config

    def check(self) -> Any:
        """Run preflight on the current config and show the verdict."""
        self.show_all = True  # from now on every problem shows, touched or not
        config = self.validate()
        if config is None:
            return None
        from modelforge_nb.plan import preflight

        self.report = preflight(config, hardware=self.hardware)
        self.preflight_view.value = preflight_html(self.report)
        elsewhere = self.plan_for.value != "this machine"
        if elsewhere:
            self.preflight_view.value += (
                f"<div style='opacity: 0.7'>Checked for {html.escape(self.plan_for.value)} "
                f"({html.escape(self.hardware.notes[0])}); Train runs here.</div>"
            )
        self.train_button.disabled = not self.report.ok or elsewhere
        self.train_button.tooltip = (
            "Set plan for back to this machine to train here."
            if elsewhere
            else "Start training."
            if self.report.ok
            else "Blocked: " + "; ".join(p.message for p in self.report.problems)
        )
        return self.report

    def _plan_for(self) -> None:
        """Check against a profile instead of this machine; Train stays for this one."""
        from modelforge_nb.hardware import hardware_profile

        name = self.plan_for.value
        self.hardware = self.here if name == "this machine" else hardware_profile(name)
        self.preflight_view.value = ""
        if self.config is not None:
            self.check()

    def preview(self, n: int = 3) -> list[Any] | None:
        """Show the first ``n`` examples as the model will see them (``mf.preview``)."""
        config = self.validate()
        if config is None:
            self.preview_view.value = (
                "<span>The preview needs a model and a dataset, and the fields marked in red "
                "fixed.</span>"
            )
            return None
        from modelforge_nb.plan import preview

        try:
            shown = preview(config, n=n)
        except ModelForgeError as error:
            shown_error = html.escape(str(error))
            self.preview_view.value = f"<pre style='color: {ERROR_COLOR}'>{shown_error}</pre>"
            return None
        head = "<b>What trains</b> (the loss is on the highlighted tokens)"
        self.preview_view.value = head + "".join(example._repr_html_() for example in shown)
        return shown

    def train(self) -> Any:
        """Preflight, then start the run (``on_train``). Once per config: a second click
        (a double click, or one queued while the kernel followed the first run) starts
        nothing until a field changes."""
        if self.plan_for.value != "this machine":
            return None  # a check for another machine is not a verdict for this one
        if self.started is not None:
            self.problems.value = (
                f"<span>Already started as run {html.escape(self.started)}; change a field "
                "to train again.</span>"
            )
            return None
        report = self.check()
        if report is None or not report.ok or self.config is None:
            return None
        if self.on_train is None:
            return self.config
        self.started = "(starting)"
        self.train_button.disabled = True
        try:
            run = self.on_train(self.config)
        except ModelForgeError as error:  # refused after all (a reward missing, say): say so
            self.started, self.train_button.disabled = None, False
            self.preflight_view.value += (
                f"<pre style='color: {ERROR_COLOR}'>{html.escape(str(error))}</pre>"
            )
            return None
        except BaseException:
            self.started, self.train_button.disabled = None, False
            raise
        self.started = str(getattr(run, "id", None) or "(started)")
        self.train_button.tooltip = f"Started as run {self.started}; change a field to train again."
        return run

    def cell_text(self) -> str:
        """The ``%%modelforge finetune`` cell that reproduces this config: only what differs
        from the defaults, paths under the notebook's folder relative to it."""
        if self.config is not None:  # the config validate() just built
            minimal = self.config.model_dump(mode="json", exclude_defaults=True)
        else:  # the raw values while it has problems (a half-built model would warn)
            minimal = _differences(self.data(), self._defaults)
        for field in _PATH_FIELDS:
            value = minimal.get(field)
            if isinstance(value, str) and Path(value).is_absolute():
                minimal[field] = shown_path(Path(value), self.base_dir)
        return "%%modelforge finetune\n" + yaml.safe_dump(minimal, sort_keys=False)

    def refresh_files(self) -> list[str]:
        """List the data files at hand in the dataset picker again."""
        found = [
            shown_path(path, self.base_dir) for path in find_data_files(data_folders(self.base_dir))
        ]
        current = self.data_picker.value
        self.data_picker.options = [_PICK, *found]
        self.data_picker.value = current if current in found else _PICK
        return found

    def _choose_dataset(self, path: str) -> None:
        """Set the dataset field, then show its first examples (when the config is valid)."""
        self.controls["dataset"].set(path)
        self.preview()

    def _picked(self) -> None:
        if self.data_picker.value != _PICK and not self._syncing:
            self._choose_dataset(str(self.data_picker.value))

    def _uploaded(self) -> None:
        files = uploaded_files(self.upload)
        if not files:
            return
        name, content = files[0]
        try:
            saved = save_upload(name, content, self.base_dir)
        except ModelForgeError as error:
            self.preview_view.value = (
                f"<pre style='color: {ERROR_COLOR}'>{html.escape(str(error))}</pre>"
            )
            return
        finally:
            clear_upload(self.upload)  # the next upload of the same name is a change too
        path = shown_path(saved, self.base_dir)
        self.refresh_files()
        self._choose_dataset(path)

    def show_cell_text(self) -> None:
        self.cell_text_area.value = (
            f"<div style='opacity: 0.85'>{html.escape(COPY_HINT)}</div>"
            "<pre style='user-select: text; white-space: pre-wrap; margin: 4px 0; padding: 6px; "
            "background: var(--jp-layout-color2, #f4f4f4); color: var(--jp-ui-font-color1, #222)'>"
            f"{html.escape(self.cell_text())}</pre>"
        )


def recommendation_buttons(task: str, picks: list[Any], form: ConfigForm) -> Any:
    """The recommended models, each a button that fills the form with its settings."""
    if not picks:
        return widgets.HTML(
            f"<div>No catalog model for {html.escape(task)} fits this machine.</div>"
        )

    def choose(pick: Any) -> None:
        fields = pick.config_fields()
        fields.pop("task", None)
        form.set_values(fields)

    buttons = []
    for pick in picks:
        button = widgets.Button(
            description=str(pick),
            tooltip="Fill the form with this model and its settings",
            layout=widgets.Layout(width="auto"),
        )
        button.on_click(lambda _b, pick=pick: choose(pick))
        buttons.append(button)
    title = widgets.HTML(f"<b>Recommended for {html.escape(task)}</b> (click to fill the form)")
    box = widgets.VBox([title, *buttons])
    box.add_class("modelforge-recommend")
    return box
