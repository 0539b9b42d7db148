"""``make demo``: fine-tune the embedded SmolLM2-135M-Instruct offline, on the CPU.

It teaches the model facts about a fictional product (the Zephyr kettle, bundled in
``example_notebooks/data``), shows the loss going down, then asks held-out questions
before and after. Run as ``python -m modelforge_nb.demo [OUTPUT_FOLDER]``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from modelforge_nb.embedded import EMBEDDED_MODEL_ID, prepare_embedded
from modelforge_nb.errors import ModelForgeError

DATA = Path(__file__).resolve().parent.parent / "example_notebooks" / "data"
ANSWER: dict[str, Any] = {"max_new_tokens": 24, "temperature": 0.0, "repetition_penalty": 1.0}
DEMO_TRAINING = {
    "max_steps": 20,
    "batch_size": 8,
    "grad_accum": 1,
    "learning_rate": 3e-3,
    "logging_steps": 2,
    "save_steps": 1000,
    "warmup_ratio": 0.05,
}


def main(argv: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(argv[0] if argv else "demo-output").resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        folder = prepare_embedded(EMBEDDED_MODEL_ID, log=print)
    except ModelForgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{EMBEDDED_MODEL_ID} is ready in {folder} ({time.perf_counter() - start:.1f} s)")

    from modelforge_nb.chat import generate, unload
    from modelforge_nb.config import FinetuneConfig
    from modelforge_nb.runs import Workspace
    from modelforge_nb.widgets.text import follow

    heldout = [
        json.loads(line) for line in (DATA / "zephyr_heldout.jsonl").read_text().splitlines()
    ]
    print("\nA sanity check before training:")
    print("  user: What is the capital of France?")
    france = generate(folder, "What is the capital of France?", **ANSWER)
    print(f"  assistant: {france}")
    unload(folder)

    config = FinetuneConfig(
        model=EMBEDDED_MODEL_ID,
        dataset=str(DATA / "zephyr_train.jsonl"),
        run_name="zephyr-demo",
        lora={"r": 16, "alpha": 32, "dropout": 0.0},
        training=DEMO_TRAINING,
    )
    workspace = Workspace(out / "home")
    print(f"\nFine-tuning with LoRA on {config.dataset} (runs under {workspace.home})")
    run = workspace.finetune(config)
    status = follow(run, write=lambda line: print("  " + line))
    if status != "completed":
        print(f"error: the run ended {status}: {run.error}", file=sys.stderr)
        return 1
    before = [generate(run, row["input"], use_adapter=False, **ANSWER) for row in heldout]
    after = [generate(run, row["input"], **ANSWER) for row in heldout]

    losses = [e["loss"] for e in run.history if e["type"] == "log" and "loss" in e]
    hits_before = sum(
        r["keyword"].lower() in a.lower() for r, a in zip(heldout, before, strict=True)
    )
    hits_after = sum(r["keyword"].lower() in a.lower() for r, a in zip(heldout, after, strict=True))
    print("\nHeld-out questions (never seen in training), before -> after:")
    for row, old, new in zip(heldout, before, after, strict=True):
        print(f"  Q: {row['input']}\n     before: {old}\n     after:  {new}")
    summary = {
        "run": run.id,
        "steps": run.metrics.get("global_step"),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "heldout_taught_before": hits_before,
        "heldout_taught_after": hits_after,
        "heldout_total": len(heldout),
        "seconds": round(time.perf_counter() - start, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(
        f"\nSummary: {summary['steps']} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
        f"held-out answers with the taught fact: {hits_before}/{len(heldout)} before, "
        f"{hits_after}/{len(heldout)} after."
    )
    print(f"Files: {run.output_dir} (adapter, events, logs) and {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
