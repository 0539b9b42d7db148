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

from modelforge_nb.config.models import FinetuneConfig, resolve_ref
from modelforge_nb.errors import ConfigError

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
OPEN_SECTIONS = ("lora", "training")
ADVANCED = ("output_root", "report_to", "trust_remote_code")
_LABEL = widgets.Layout(width="150px")


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
        elif kind == "integer" and "minimum" in node and "maximum" in node:
            self.widget = widgets.BoundedIntText(
                value=default, min=node["minimum"], max=node["maximum"]
            )
        elif kind == "number" and not optional:
            low = node.get("minimum", node.get("exclusiveMinimum", -1e12))
            high = node.get("maximum", node.get("exclusiveMaximum", 1e12))
            self.widget = widgets.BoundedFloatText(value=default, min=low, max=high, step=None)
        else:
            self.as_yaml = not (kind == "string" or (optional and _string_or_null(node)))
            self.widget = widgets.Text(
                value="" if default is None else _text(default),
                placeholder="(empty)" if optional else "",
            )
        self.widget.tooltip = help_text
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


def _string_or_null(node: dict[str, Any]) -> bool:
    return all(o.get("type") in {"string", "null"} for o in node.get("anyOf", []))


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
        self.report: Any = None
        self.controls: dict[str, FieldControl] = {}
        schema = FinetuneConfig.model_json_schema()
        defaults = FinetuneConfig.model_construct(model="", dataset="").model_dump()
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
        self.accordion = widgets.Accordion(
            children=[widgets.VBox(sections[t]) for t in sections] + [widgets.VBox(advanced)],
            titles=tuple(titles),
        )
        self.accordion.selected_index = titles.index("training")
        self.problems = widgets.HTML()
        self.preflight_view = widgets.HTML()
        self.train_button = widgets.Button(
            description="Train", icon="play", button_style="success", disabled=True
        )
        self.check_button = widgets.Button(description="Check (preflight)", icon="check")
        self.cell_button = widgets.Button(description="Copy as cell", icon="copy")
        from modelforge_nb.hardware import profile_names

        self.here = hardware
        self.plan_for = widgets.Dropdown(
            options=["this machine", *profile_names()],
            value="this machine",
            description="plan for",
            tooltip="Check the config against another machine (mf.hardware_profile).",
        )
        self.plan_for.observe(lambda _change: self._plan_for(), names="value")
        self.preview_button = widgets.Button(description="Preview data", icon="eye")
        self.preview_view = widgets.HTML()
        self.preview_button.on_click(lambda _b: self.preview())
        self.cell_text_area = widgets.Textarea(
            layout=widgets.Layout(width="100%", height="0px", display="none")
        )
        self.train_button.on_click(lambda _b: self.train())
        self.check_button.on_click(lambda _b: self.check())
        self.cell_button.on_click(lambda _b: self.show_cell_text())
        self.output = widgets.Output()
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Fine-tuning config</b>"),
                widgets.VBox(basic),
                self.accordion,
                self.problems,
                widgets.HBox(
                    [self.check_button, self.train_button, self.preview_button, self.cell_button]
                ),
                self.plan_for,
                self.preflight_view,
                self.preview_view,
                self.cell_text_area,
                self.output,
            ]
        )
        self.widget.add_class("modelforge-form")
        if initial:
            self.set_values(initial)
        for control in self.controls.values():
            control.widget.observe(lambda _change: self.validate(), names="value")
        self.validate()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

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

    def validate(self) -> FinetuneConfig | None:
        """Validate through the schema; show each message beside its field."""
        for each in self.controls.values():
            each.message.value = ""
        self.report = None
        self.preflight_view.value = ""
        try:
            self.config = FinetuneConfig.from_dict(self.data(), base_dir=self.base_dir)
        except ConfigError as error:
            self.config = None
            unplaced = []
            for problem in error.problems or [error]:
                field = problem.field or ""
                control = self.controls.get(field) or self.controls.get(field.split(".")[0])
                text = html.escape(problem.message + (" " + problem.hint if problem.hint else ""))
                if control is not None:
                    control.message.value = f"<span style='color: #b00'>{text}</span>"
                else:
                    unplaced.append(f"{html.escape(field)}: {text}" if field else text)
            count = len(error.problems) or 1
            self.problems.value = (
                f"<span style='color: #b00'>{count} field"
                f"{'s' if count != 1 else ''} to fix"
                + ("".join(f"<br>{u}" for u in unplaced))
                + "</span>"
            )
            self.train_button.disabled = True
            self.train_button.tooltip = "Fix the fields marked in red first."
            return None
        self.problems.value = "<span style='color: #2a2'>Config is valid.</span>"
        self.train_button.disabled = self.plan_for.value != "this machine"
        self.train_button.tooltip = "Run preflight, then start training."
        return self.config

    def check(self) -> Any:
        """Run preflight on the current config and show the verdict."""
        config = self.validate()
        if config is None:
            return None
        from modelforge_nb.plan import preflight

        self.report = preflight(config, hardware=self.hardware)
        self.preflight_view.value = preflight_html(self.report)
        elsewhere = self.plan_for.value != "this machine"
        if elsewhere:
            self.preflight_view.value += (
                f"<div style='color: #888'>Checked for {html.escape(self.plan_for.value)} "
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
            return None
        from modelforge_nb.errors import ModelForgeError
        from modelforge_nb.plan import preview

        try:
            shown = preview(config, n=n)
        except ModelForgeError as error:
            self.preview_view.value = f"<pre style='color: #b00'>{html.escape(str(error))}</pre>"
            return None
        head = "<b>What trains</b> (the loss is on the highlighted tokens)"
        self.preview_view.value = head + "".join(example._repr_html_() for example in shown)
        return shown

    def train(self) -> Any:
        if self.plan_for.value != "this machine":
            return None  # a check for another machine is not a verdict for this one
        report = self.check()
        if report is None or not report.ok or self.config is None:
            return None
        if self.on_train is None:
            return self.config
        with self.output:
            return self.on_train(self.config)

    def cell_text(self) -> str:
        """The ``%%modelforge finetune`` cell that reproduces this config."""
        data = self.data()
        config = self.config or FinetuneConfig.model_construct(**data)
        minimal = config.model_dump(mode="json", exclude_defaults=True)
        return "%%modelforge finetune\n" + yaml.safe_dump(minimal, sort_keys=False)

    def show_cell_text(self) -> None:
        self.cell_text_area.value = self.cell_text()
        self.cell_text_area.layout.display = None
        self.cell_text_area.layout.height = "160px"


def preflight_html(report: Any) -> str:
    verdict = (
        "<b style='color: #2a2'>Ready to train.</b>"
        if report.ok
        else "<b style='color: #b00'>This run would fail:</b>"
    )
    items = "".join(
        f"<li style='color: #b00'>[{html.escape(p.code)}] {html.escape(str(p))}</li>"
        for p in report.problems
    )
    items += "".join(
        f"<li style='color: #a60'>[{html.escape(w.code)}] {html.escape(str(w))}</li>"
        for w in report.warnings
    )
    estimate = (
        f"<div>{html.escape(report.estimate.summary())}</div>"
        if report.estimate is not None
        else ""
    )
    return f"<div class='modelforge-preflight'>{verdict}<ul>{items}</ul>{estimate}</div>"
