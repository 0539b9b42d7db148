"""``make demo``: run ``example_notebooks/01_quickstart.ipynb`` headless and sum it up.

The notebook fine-tunes the embedded SmolLM2-135M-Instruct with LoRA, offline on the CPU,
on facts about a fictional product (the Zephyr kettle), then asks held-out questions before
and after. This runner executes it with nbclient, prints the training progress as it goes,
and leaves the executed notebook, the loss plot (SVG), ``summary.json`` and the run itself in
one folder.

    python -m modelforge_nb.demo [OUTPUT_FOLDER] [--fast]

``--fast`` sets ``MODELFORGE_EXAMPLE_FAST=1``: a tiny model built on the spot instead of
SmolLM2 (seconds instead of minutes; its answers are nonsense).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

NOTEBOOK = Path(__file__).resolve().parent.parent / "example_notebooks" / "01_quickstart.ipynb"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modelforge_nb.demo", description=__doc__)
    parser.add_argument("output", nargs="?", default="demo-output", help="folder for the results")
    parser.add_argument("--fast", action="store_true", help="a tiny model instead of SmolLM2")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK, help="the notebook to run")
    return parser.parse_args(argv)


class _Progress:
    """Prints the runs' events as they land, the way the dashboard shows them."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.offsets: dict[Path, int] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def drain(self) -> None:
        from modelforge_nb.rundir import EVENTS_FILE, read_events
        from modelforge_nb.widgets.text import describe_event

        with self.lock:
            for log in sorted(self.home.glob(f"runs/*/{EVENTS_FILE}")):
                events, self.offsets[log] = read_events(log.parent, self.offsets.get(log, 0))
                for event in events:
                    line = describe_event(event)
                    if line:
                        print(f"    {line}", flush=True)

    def _loop(self) -> None:
        while not self.done.wait(0.5):
            self.drain()
        self.drain()

    def __enter__(self) -> _Progress:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=5)


def _execute(notebook_path: Path, out: Path, progress: _Progress) -> tuple[Any, str | None]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(notebook_path, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]

    def started(cell: Any, **_: Any) -> None:
        if cell.cell_type != "code":
            return
        progress.drain()
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        number = code_cells.index(cell) + 1
        print(f"  [{number}/{len(code_cells)}] {first[:80]}", flush=True)

    client = NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(out)}},
        on_cell_start=started,
    )
    try:
        client.execute()
    except CellExecutionError as error:
        return notebook, str(error).strip().splitlines()[-1]
    return notebook, None


def _summarize(summary: dict[str, Any]) -> str:
    total = summary["heldout_total"]
    lines = [
        f"Model: {summary['model']}",
        f"Training: {summary['steps']} LoRA steps, loss {summary['loss_first']:.3f} -> "
        f"{summary['loss_last']:.3f}",
        "Held-out questions (never seen in training), before -> after:",
    ]
    for row in summary["heldout"]:
        lines += [
            f"  Q: {row['question']}   (taught: {row['keyword']})",
            f"     before: {row['before']}",
            f"     after:  {row['after']}",
        ]
    lines.append(
        f"Answers with the taught fact: {summary['heldout_taught_before']}/{total} before, "
        f"{summary['heldout_taught_after']}/{total} after."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not args.notebook.is_file():
        print(f"error: {args.notebook} does not exist; run the demo from a clone.", file=sys.stderr)
        return 1
    home = out / "home"
    os.environ.update(
        {
            "HF_HUB_OFFLINE": "1",
            "MODELFORGE_HOME": str(home),
            "MODELFORGE_EXAMPLE_OUTPUT": str(out),
            "MODELFORGE_EXAMPLE_FAST": "1" if args.fast else "0",
        }
    )
    start = time.perf_counter()
    if not args.fast:
        from modelforge_nb.embedded import EMBEDDED_MODEL_ID, prepare_embedded
        from modelforge_nb.errors import ModelForgeError

        try:
            prepare_embedded(EMBEDDED_MODEL_ID, log=lambda line: print(f"  {line}", flush=True))
        except ModelForgeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(f"Running {args.notebook.name} headless in {out}", flush=True)
    with _Progress(home) as progress:
        notebook, failure = _execute(args.notebook, out, progress)
    import nbformat

    executed = out / args.notebook.name
    nbformat.write(notebook, executed)
    if failure is not None:
        print(f"error: the notebook stopped: {failure}\nSee {executed}.", file=sys.stderr)
        return 1
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    print(f"\n{_summarize(summary)}")
    print(f"\nDone in {time.perf_counter() - start:.0f} s. Files in {out}:")
    for name, what in (
        (executed.name, "the executed notebook"),
        ("loss.svg", "the loss plot"),
        ("summary.json", "this summary"),
        ("home/", "the run: adapter, events, logs"),
    ):
        print(f"  {name:24} {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
