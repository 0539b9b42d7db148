"""One Session per kernel: the workspace, and what is shown in the notebook.

The magics and the main panel are thin layers over this; it in turn calls the plain
Python API (``Workspace.finetune``, ``Run``, ``preflight``...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.environment import background_updates_shown
from modelforge_nb.runs import Run, Workspace


class Session:
    """Kernel-wide state, owned by the magics object (no module-level singleton)."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.workspace = Workspace(home)
        self.dashboards: dict[str, Any] = {}

    def _display(self, *objects: Any) -> None:
        from IPython.display import display

        display(*objects)

    def dashboard(self, run: Run) -> Any:
        from modelforge_nb.widgets.dashboard import Dashboard

        board = Dashboard(run)
        self.dashboards[run.id] = board
        return board

    def _follow_in_background(self, board: Any) -> None:
        board.follow_in_background()
        if not background_updates_shown():
            print(
                f"This front end does not refresh widgets from the background (Colab): use "
                f"%modelforge show {board.run.id} to follow it."
            )

    def train(
        self,
        config: FinetuneConfig,
        *,
        detach: bool = False,
        rewards: Any = None,
        namespace: Any = None,
    ) -> Run:
        """Preflight, start, and show the dashboard; follow in the foreground unless detached.
        GRPO's reward names are looked up in ``namespace`` (the notebook's variables)."""
        run = self.workspace.finetune(config, rewards=rewards, namespace=namespace)
        board = self.dashboard(run)
        board.show()
        if detach:
            self._follow_in_background(board)
        else:
            board.follow()
        return run

    def show(self, run_id: str, *, follow: bool = True) -> Any:
        run = self.workspace.get_run(run_id)
        board = self.dashboard(run)
        board.show()
        if run.status in {"queued", "running"} and follow:
            board.follow()
        return board

    def main_panel(
        self, task: str = "text-generation", *, dataset: str | None = None, model: str | None = None
    ) -> Any:
        """Hardware, recommendations and the config form, filled from the top recommendation
        and ``dataset`` / ``model`` when given. Returns the form."""
        import ipywidgets as widgets

        from modelforge_nb.plan import detect_hardware, recommend
        from modelforge_nb.widgets.form import ConfigForm, recommendation_buttons
        from modelforge_nb.widgets.live import LiveDisplay, Slot
        from modelforge_nb.widgets.panels import hardware_html, recommendations_html

        hardware = detect_hardware()
        picks = recommend(task, hardware)
        initial = picks[0].config_fields() if picks else {"task": task}
        initial.update({k: v for k, v in {"dataset": dataset, "model": model}.items() if v})

        runs_here: list[Any] = []

        def start(config: FinetuneConfig) -> Run:
            from IPython import get_ipython

            shell = get_ipython()  # GRPO's reward names are the notebook's functions
            namespace = shell.user_ns if shell is not None else None
            # preflight refused, or a reward is missing: the form shows the ModelForgeError
            run = self.workspace.finetune(config, hardware=hardware, namespace=namespace)
            board = self.dashboard(run)
            # The first run goes into the panel's cell, into an output made when the panel was
            # shown, so the saved notebook keeps its plots (a button's own output is not saved).
            if runs_here:
                runs_here.pop().fill(board.live, board.static_html())
            else:
                board.show()
            if background_updates_shown():
                board.follow_in_background()
            else:  # Colab shows only what this click's handler sends: follow here
                board.follow()
            return run

        form = ConfigForm(initial, on_train=start, hardware=hardware)
        panel = widgets.VBox(
            [
                widgets.HTML(hardware_html(hardware)),
                recommendation_buttons(task, picks, form),
                form.widget,
            ]
        )
        panel.add_class("modelforge-panel")
        LiveDisplay(panel, f"{task} panel").show(
            "<div class='modelforge-panel-static'>"
            + hardware_html(hardware)
            + recommendations_html(task, picks)
            + "<p><i>The config form is interactive: run the cell to use it.</i></p></div>"
        )
        runs_here.append(Slot())
        return form
