"""The chat playground: a conversation, streamed answers, and base vs fine-tuned side by side.

Generation runs in a thread so that Stop generating stays clickable; the conversation
updates as pieces arrive. Summarization runs take a document; QA runs a context and a
question.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets

from modelforge_nb.chat import generate, generate_pair
from modelforge_nb.environment import background_updates_shown
from modelforge_nb.rundir import read_config, run_folder
from modelforge_nb.widgets.live import LiveDisplay

#: Answers in the theme's colours, text and background together, so they stay readable in
#: JupyterLab's light and dark themes (and in light colours where no theme is loaded).
_BASE = (
    "background: var(--jp-layout-color2, #f4f4f4); color: var(--jp-ui-font-color1, #222); "
    "padding: 4px"
)
# The fine-tuned answer is marked by a green edge, not a green background: JupyterLab's dark
# theme makes its pale greens light, under light text (tests/ui/test_quickstart_ui.py
# measures the contrast in both themes).
_TUNED = (
    "background: var(--jp-layout-color2, #f4f4f4); color: var(--jp-ui-font-color1, #222); "
    "border-left: 3px solid var(--jp-success-color1, #2e7d32); padding: 4px"
)
_ERROR = "color: var(--jp-error-color1, #b00); padding: 4px"
#: Where the answer is generated in the click's own handler (Colab), the Stop button's
#: click waits behind it: the notebook's Interrupt stops generating instead.
_FOREGROUND_HINT = (
    "<span style='opacity: 0.85'>Generating… press the notebook's Interrupt (■) to stop.</span>"
)

#: Without the JupyterLab extension Enter adds a new line: the chat says so beside Send.
ENTER_HINT = "Send (Enter needs the JupyterLab extension)"


class ChatWidget:
    """``widget`` is what the notebook shows; ``send(text)`` is what the Send button does."""

    def __init__(self, run: Any, *, side_by_side: bool = False) -> None:

        self.run = run
        folder = run_folder(run)
        config = read_config(folder)
        self.task = config.task
        defaults = config.generation
        self.history: list[dict[str, str]] = []
        self.answers: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.conversation = widgets.HTML(layout=widgets.Layout(min_height="60px"))
        self.conversation.add_class("modelforge-conversation")
        placeholder = {
            "summarization": "Paste a document to summarize...",
            "extractive-question-answering": "Ask a question about the context...",
        }
        self.input = widgets.Textarea(
            placeholder=placeholder.get(self.task, "Say something..."),
            layout=widgets.Layout(width="100%", height="70px"),
        )
        self.context = widgets.Textarea(
            placeholder="Context (the passage to answer from)",
            layout=widgets.Layout(
                width="100%",
                height="70px",
                display=None if self.task == "extractive-question-answering" else "none",
            ),
        )
        whole_label = widgets.Layout(width="auto", min_width="fit-content")  # never "S..."
        self.send_button = widgets.Button(
            description="Send", icon="paper-plane", button_style="primary", layout=whole_label
        )
        self.send_button.add_class("modelforge-chat-send")  # Enter clicks it (labextension)
        self.stop_button = widgets.Button(
            description="Stop generating", icon="stop", disabled=True, layout=whole_label
        )
        self.clear_button = widgets.Button(description="Clear", icon="trash", layout=whole_label)
        self.compare = widgets.Checkbox(
            value=side_by_side, description="base vs fine-tuned", indent=False
        )
        self.greedy = widgets.Checkbox(
            value=True,
            description="greedy when comparing (the difference is the model's, not sampling's)",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        whole = {"description_width": "initial"}  # labels in full, never "temperat..."
        self.max_new_tokens = widgets.BoundedIntText(
            value=defaults.max_new_tokens, min=1, max=8192, description="max tokens", style=whole
        )
        self.temperature = widgets.FloatSlider(
            value=defaults.temperature,
            min=0.0,
            max=2.0,
            step=0.05,
            description="temperature",
            style=whole,
        )
        self.top_p = widgets.FloatSlider(
            value=defaults.top_p, min=0.05, max=1.0, step=0.05, description="top p", style=whole
        )
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button.on_click(lambda _b: self._stop.set())
        self.clear_button.on_click(lambda _b: self.clear())
        settings = widgets.HBox([self.max_new_tokens, self.temperature, self.top_p])
        # GRPO: the completions the rewards scored before training, with their rewards
        self.samples = widgets.HTML(self._samples() if config.method == "grpo" else "")
        self.hint = widgets.HTML()
        # The extension's stylesheet hides this where it makes Enter send (chatkeys.ts).
        self.enter_hint = widgets.HTML(f"<span style='opacity: 0.85'>{ENTER_HINT}</span>")
        self.enter_hint.add_class("modelforge-enter-hint")
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<b>Chat with {html.escape(getattr(run, 'name', str(folder)))}</b>"),
                self.conversation,
                self.context,
                self.input,
                widgets.HBox(
                    [
                        self.send_button,
                        self.stop_button,
                        self.clear_button,
                        self.compare,
                        self.greedy,
                        self.enter_hint,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap"),  # a narrow cell wraps, not cuts
                ),
                self.hint,
                settings,
                self.samples,
            ],
            layout=widgets.Layout(border="1px solid var(--jp-border-color2, #ddd)", padding="6px"),
        )
        self.widget.add_class("modelforge-chat")
        self.live = LiveDisplay(self.widget, "chat")
        self._render()

    def _ipython_display_(self) -> None:
        self.live.show(self.transcript_html())

    def transcript_html(self) -> str:
        """The conversation as plain HTML, for a saved notebook and ``nbconvert``."""
        title = html.escape(getattr(self.run, "name", "") or "")
        return (
            f"<div class='modelforge-chat-static'><b>Chat with {title}</b>"
            f"{self.conversation.value}{self.samples.value}</div>"
        )

    def _samples(self) -> str:
        from modelforge_nb.widgets.curves import RunCurves

        curves = RunCurves()
        curves.apply(list(getattr(self.run, "events", [])))
        return curves.samples_html()

    def _render(self, pending: dict[str, str] | None = None) -> None:
        blocks = []
        for turn in self.answers + ([pending] if pending else []):
            blocks.append(
                f"<div style='margin: 4px 0'><b>you:</b> {html.escape(turn['user'])}</div>"
            )
            if "base" in turn:
                blocks.append(
                    "<div style='display: flex; gap: 12px'>"
                    f"<div style='flex: 1; {_BASE}'><b>base</b><br>"
                    f"{html.escape(turn['base'])}</div>"
                    f"<div style='flex: 1; {_TUNED}'><b>fine-tuned</b>"
                    f"<br>{html.escape(turn.get('tuned', ''))}</div></div>"
                )
            else:
                blocks.append(
                    f"<div style='{_TUNED}'><b>model:</b> "
                    f"{html.escape(turn.get('tuned', ''))}</div>"
                )
            if turn.get("stopped"):
                blocks.append("<div style='opacity: 0.7'><i>(stopped)</i></div>")
            if turn.get("error"):
                blocks.append(
                    f"<div class='modelforge-chat-error' style='{_ERROR}'><b>error:</b> "
                    f"{html.escape(turn['error'])}</div>"
                )
        self.conversation.value = "".join(blocks) or "<i>No messages yet.</i>"

    def _prompt(self, text: str) -> Any:
        if self.task == "extractive-question-answering":
            return {"context": self.context.value, "question": text}
        if self.task == "summarization":
            return text
        return [*self.history, {"role": "user", "content": text}]

    def _stream(self, prompt: Any, turn: dict[str, str]) -> None:
        """Stream the answer into ``turn``; comparing, base and fine-tuned grow together."""
        comparing = self.compare.value
        settings = {
            "stop_event": self._stop,
            "max_new_tokens": self.max_new_tokens.value,
            "temperature": 0.0 if comparing and self.greedy.value else self.temperature.value,
            "top_p": self.top_p.value,
        }
        if comparing:
            turn.update(base="", tuned="")
            pieces = generate_pair(self.run, prompt, **settings)
        else:
            turn["tuned"] = ""
            pieces = (("tuned", p) for p in generate(self.run, prompt, stream=True, **settings))
        for side, piece in pieces:
            turn[side] += piece
            self._render(turn)

    def send(self, text: str | None = None) -> None:
        """Send ``text`` (or the input box's text); answers stream in from a thread."""
        message = (text if text is not None else self.input.value).strip()
        if not message or (self._thread is not None and self._thread.is_alive()):
            return
        self.input.value = ""
        self._stop.clear()
        turn: dict[str, str] = {"user": message}
        prompt = self._prompt(message)

        def work() -> None:
            try:
                self._stream(prompt, turn)
                if self.task == "text-generation":
                    self.history += [
                        {"role": "user", "content": message},
                        {"role": "assistant", "content": turn["tuned"]},
                    ]
            except KeyboardInterrupt:  # the notebook's Interrupt, answering in the foreground
                self._stop.set()
            except Exception as error:  # shown in the conversation rather than lost in a thread
                turn["error"] = f"{type(error).__name__}: {error}"
            finally:
                if self._stop.is_set():
                    turn["stopped"] = "yes"
                self.answers.append(turn)
                self._render()
                self.live.refresh(self.transcript_html())
                self.send_button.disabled = False
                self.stop_button.disabled = True

        self.send_button.disabled = True
        self.stop_button.disabled = False
        self._render(turn)
        if not background_updates_shown():
            # Colab shows only what the click's own handler sends: answer here, where the
            # notebook's Interrupt stops generating (the Stop button waits behind it).
            self.hint.value = _FOREGROUND_HINT
            try:
                work()
            finally:
                self.hint.value = ""
            return
        self._thread = threading.Thread(target=work, name="modelforge-chat", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def clear(self) -> None:
        self.history.clear()
        self.answers.clear()
        self._render()
        self.live.refresh(self.transcript_html())
