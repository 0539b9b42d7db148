"""A widget and a static HTML copy of it in one output, the copy kept current.

Frontends with a widget manager (JupyterLab, Notebook 7, VS Code, Colab) draw the widget;
everything else (``jupyter nbconvert``, GitHub, a notebook reopened without its widget
state) shows the ``text/html`` beside it, which ``refresh`` replaces in place through the
output's display id. So a saved notebook holds what the user saw last, never a widget's
``VBox(...)`` repr, and there is one output rather than a live widget and a copy under it.
"""

from __future__ import annotations

import uuid
from typing import Any

from modelforge_nb.widgets.compat import VIEW_MIME, view_data


class LiveDisplay:
    """One output holding ``widget`` and an HTML copy of it for viewers without widgets."""

    def __init__(self, widget: Any, title: str) -> None:
        self.widget = widget
        self.title = title
        self.display_id = f"modelforge-{uuid.uuid4().hex}"
        self.shown = False

    def bundle(self, html: str) -> dict[str, Any]:
        return {
            VIEW_MIME: view_data(self.widget),
            "text/html": html,
            "text/plain": f"modelforge: {self.title}",
        }

    def show(self, html: str) -> None:
        from IPython.display import display

        display(self.bundle(html), raw=True, display_id=self.display_id)
        self.shown = True

    def refresh(self, html: str) -> None:
        """Replace the HTML copy (the widget stays as it is)."""
        if not self.shown:
            return
        from IPython.display import update_display

        update_display(self.bundle(html), raw=True, display_id=self.display_id)


class Slot:
    """An output made now and filled later, from a widget's callback: what a button starts
    (a run from the form's Train) lands in the cell that holds the button, where the saved
    notebook keeps it, rather than in a log."""

    def __init__(self) -> None:
        from IPython.display import display

        self.display_id = f"modelforge-{uuid.uuid4().hex}"
        display({"text/plain": ""}, raw=True, display_id=self.display_id)

    def fill(self, live: LiveDisplay, html: str) -> None:
        from IPython.display import update_display

        live.display_id = self.display_id
        live.shown = True
        update_display(live.bundle(html), raw=True, display_id=self.display_id)
