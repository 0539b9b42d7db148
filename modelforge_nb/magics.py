"""``%modelforge`` and ``%%modelforge``: parse, then call a handler from a table.

Expected user errors (a bad argument, a bad config, a refused preflight) print a short
message naming the problem; anything unexpected still raises.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from modelforge_nb.errors import ModelForgeError
from modelforge_nb.export.gguf import DEFAULT_QUANTIZATION, QUANTIZATIONS
from modelforge_nb.session import Session


class UsageError(Exception):
    """A bad command line; the message is the usage text."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")

    def exit(self, _status: int = 0, message: str | None = None) -> Any:
        raise UsageError(message or "")


def split_line(line: str) -> list[str]:
    """A magic line's words as Python would read them: quotes group, ``#`` starts a comment.

    IPython hands a line magic its trailing comment (``%modelforge show RUN  # the dashboard``),
    so the comment is dropped here; an unclosed quote or a trailing backslash is a
    ``UsageError`` naming what is wrong, never shlex's bare ``ValueError``.
    """
    try:
        return shlex.split(line, comments=True)
    except ValueError as error:
        reason = {
            "No closing quotation": "a quote is not closed",
            "No escaped character": "the line ends in a backslash",
        }.get(str(error), str(error))
        raise UsageError(
            f"%modelforge: error: {reason} in: {line.strip()}\n"
            "Close the quote (or escape a lone backslash as \\\\); see %modelforge --help."
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="%modelforge",
        description="Fine-tune language models from the "
        "notebook. Without a subcommand: open the main panel.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    finetune = sub.add_parser("finetune", help="train from the YAML config in the cell body")
    finetune.add_argument("--name", help="run name (overrides run_name in the config)")
    finetune.add_argument(
        "--detach",
        action="store_true",
        help="return at once; the dashboard updates from the background",
    )
    preview = sub.add_parser(
        "preview",
        help="the first examples of the YAML config in the cell body, as the model will "
        "see them (which tokens carry the loss, what is cut)",
    )
    preview.add_argument("n", nargs="?", type=int, default=3, help="how many (default 3)")
    sub.add_parser("hardware", help="GPUs, memory, disk and tier")
    recommend = sub.add_parser("recommend", help="models that fit this machine for a task")
    recommend.add_argument("task", nargs="?", default="text-generation")
    sub.add_parser("runs", help="the runs table")
    for name, text in (
        ("show", "re-attach a dashboard to a run"),
        ("stop", "stop a run"),
        ("resume", "resume a stopped or failed run"),
        ("chat", "chat with a run's model"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("run", help="run id or name (see %%modelforge runs)")
    compare = sub.add_parser(
        "compare", help="runs' loss curves overlaid and the config fields that differ"
    )
    compare.add_argument("runs", nargs="+", metavar="run", help="two or more run ids or names")
    push = sub.add_parser("push", help="push a run's adapter or model to the Hub")
    push.add_argument("run")
    push.add_argument("repo", help="the Hub repository, e.g. you/my-model")
    push.add_argument("--public", action="store_true", help="make the repository public")
    push.add_argument(
        "--merge", action="store_true", help="push the adapter merged into its base (a full model)"
    )
    export = sub.add_parser(
        "export",
        help="write a job folder to train a run (or the YAML config in the cell body) on "
        "a bigger machine with accelerate: launch.sh, Slurm, SkyPilot; with --gguf, write "
        "the run's model as a GGUF file for llama.cpp and Ollama",
    )
    export.add_argument("run", nargs="?", help="run id or name; omit with a YAML cell body")
    export.add_argument(
        "--to",
        dest="folder",
        help="a new or empty folder (a job); with --gguf a folder or a new .gguf file "
        "(default: the run's gguf/ folder)",
    )
    export.add_argument("--gguf", action="store_true", help="export the trained model to GGUF")
    export.add_argument(
        "--quantization",
        default=DEFAULT_QUANTIZATION,
        choices=QUANTIZATIONS,
        help=f"GGUF weight type (with --gguf; default {DEFAULT_QUANTIZATION})",
    )
    export.add_argument(
        "--target", help="hardware profile to plan for, e.g. 8xh100-80gb (default: this machine)"
    )
    attach = sub.add_parser("attach", help="adopt a run folder (or a job folder) trained elsewhere")
    attach.add_argument("folder")
    panel = sub.add_parser("panel", help="the main panel (the default)")
    panel.add_argument("task", nargs="?", default="text-generation")
    panel.add_argument("--dataset", help="fill the form's dataset field")
    panel.add_argument("--model", help="fill the form's model field (else the top recommendation)")
    return parser


@magics_class
class ModelForgeMagics(Magics):  # type: ignore[misc]
    """The ``%modelforge`` magics; the kernel's Session lives on this object."""

    def __init__(self, shell: Any, session: Session | None = None) -> None:
        super().__init__(shell)
        self.session = session or Session()
        self.handlers: dict[str, Callable[[argparse.Namespace, str | None], Any]] = {
            "panel": self._panel,
            "finetune": self._finetune,
            "preview": self._preview,
            "hardware": self._hardware,
            "recommend": self._recommend,
            "runs": self._runs,
            "show": self._show,
            "stop": self._stop,
            "resume": self._resume,
            "chat": self._chat,
            "push": self._push,
            "compare": self._compare,
            "export": self._export,
            "attach": self._attach,
        }

    @line_cell_magic  # type: ignore[untyped-decorator]
    def modelforge(self, line: str, cell: str | None = None) -> Any:
        try:
            args = build_parser().parse_args(split_line(line))
        except UsageError as usage:
            print(str(usage).strip())
            return None
        command = args.command or "panel"
        if command == "panel" and not hasattr(args, "task"):
            args.task, args.dataset, args.model = "text-generation", None, None
        if command in ("finetune", "preview") and not (cell and cell.strip()):
            print(
                f"%%modelforge {command} needs a YAML config in the cell body, for example:\n"
                f"%%modelforge {command}\nmodel: modelforge:smollm2-135m-instruct\n"
                "dataset: data/train.jsonl"
            )
            return None
        try:
            return self.handlers[command](args, cell)
        except ModelForgeError as error:
            print(f"modelforge: {error}")
            return None

    def _namespace(self) -> dict[str, Any] | None:
        """The notebook's variables: where GRPO's reward names are looked up."""
        return self.shell.user_ns if self.shell is not None else None

    def _display(self, *objects: Any) -> None:
        from IPython.display import display

        display(*objects)

    def _panel(self, args: argparse.Namespace, _cell: str | None) -> Any:
        self.session.main_panel(args.task, dataset=args.dataset, model=args.model)

    def _preview(self, args: argparse.Namespace, cell: str | None) -> Any:
        from modelforge_nb.config.models import FinetuneConfig
        from modelforge_nb.plan import preview

        config = FinetuneConfig.from_yaml(cell or "", base_dir=Path.cwd())
        self._display(*preview(config, n=max(1, args.n)))

    def _finetune(self, args: argparse.Namespace, cell: str | None) -> Any:
        from modelforge_nb.config.models import FinetuneConfig

        config = FinetuneConfig.from_yaml(cell or "", base_dir=Path.cwd())
        if args.name:
            config = FinetuneConfig.from_dict({**config.to_dict(), "run_name": args.name})
        run = self.session.train(config, detach=args.detach, namespace=self._namespace())
        if args.detach:  # a status printed now would be stale in the saved notebook
            print(f"run {run.id} started; the dashboard above follows it.")
        else:
            print(f"run {run.id}: {run.status}")

    def _hardware(self, _args: argparse.Namespace, _cell: str | None) -> Any:
        from IPython.display import HTML

        from modelforge_nb.plan import detect_hardware
        from modelforge_nb.widgets.panels import hardware_html

        self._display(HTML(hardware_html(detect_hardware(refresh=True))))

    def _recommend(self, args: argparse.Namespace, _cell: str | None) -> Any:
        from IPython.display import HTML

        from modelforge_nb.plan import recommend
        from modelforge_nb.widgets.panels import recommendations_html

        self._display(HTML(recommendations_html(args.task, recommend(args.task))))

    def _runs(self, _args: argparse.Namespace, _cell: str | None) -> Any:
        from IPython.display import HTML

        from modelforge_nb.widgets.panels import runs_html

        self._display(HTML(runs_html(self.session.workspace.summaries())))

    def _show(self, args: argparse.Namespace, _cell: str | None) -> Any:
        self.session.show(args.run)

    def _stop(self, args: argparse.Namespace, _cell: str | None) -> Any:
        run = self.session.workspace.get_run(args.run)
        print(f"run {run.id}: {run.stop(wait=True, timeout=600)}")

    def _resume(self, args: argparse.Namespace, _cell: str | None) -> Any:
        run = self.session.workspace.get_run(args.run).resume()
        board = self.session.dashboard(run)
        board.show()
        board.follow()
        print(f"run {run.id}: {run.status}")

    def _chat(self, args: argparse.Namespace, _cell: str | None) -> Any:
        from modelforge_nb.widgets.chat import ChatWidget

        run = self.session.workspace.get_run(args.run)
        self._display(ChatWidget(run, side_by_side=True))

    def _push(self, args: argparse.Namespace, _cell: str | None) -> Any:
        from modelforge_nb.export.hub import push_to_hub

        run = self.session.workspace.get_run(args.run)
        push_to_hub(run, args.repo, private=not args.public, merge=args.merge)

    def _export(self, args: argparse.Namespace, cell: str | None) -> Any:
        from modelforge_nb.config.models import FinetuneConfig
        from modelforge_nb.export.job import export_job

        if args.gguf:
            from modelforge_nb.export.gguf import export_gguf

            if not args.run:
                print("%modelforge export --gguf needs a run id or name.")
                return None
            run = self.session.workspace.get_run(args.run)
            export_gguf(run, args.folder, quantization=args.quantization)
            return None
        if not args.folder:
            print("%modelforge export needs --to FOLDER for the job folder.")
            return None
        if cell and cell.strip():
            source: Any = FinetuneConfig.from_yaml(cell, base_dir=Path.cwd())
        elif args.run:
            source = self.session.workspace.get_run(args.run)
        else:
            print("%modelforge export needs a run id, or a YAML config in the cell body.")
            return None
        folder = export_job(source, args.folder, target=args.target, namespace=self._namespace())
        print(f"job written to {folder}: run `bash launch.sh` there (see its README.md)")

    def _attach(self, args: argparse.Namespace, _cell: str | None) -> Any:
        run = self.session.workspace.attach(args.folder)
        print(f"run {run.id}: {run.status} (attached from {run.output_dir})")

    def _compare(self, args: argparse.Namespace, _cell: str | None) -> Any:
        from IPython.display import HTML

        from modelforge_nb.widgets.compare import compare_html

        runs = [self.session.workspace.get_run(name) for name in args.runs]
        self._display(HTML(compare_html(runs)))
