"""The quickstart's fine-tune of the embedded SmolLM2 exported to GGUF, f16 and q8_0, and
how each file compares with the merged model once transformers loads it back.

    python -m bench.gguf_export

Trains the quickstart's config (20 LoRA steps, about a minute on a CPU) into a temporary
workspace and prints the Markdown table docs/export.md holds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from modelforge_nb import FinetuneConfig
from modelforge_nb.examples import count_taught, quickstart_config, zephyr_heldout
from modelforge_nb.export.gguf import export_gguf
from modelforge_nb.runs import Workspace


def main() -> int:
    heldout = zephyr_heldout()
    questions = [row["input"] for row in heldout]
    with tempfile.TemporaryDirectory() as home:
        config = FinetuneConfig.from_dict(quickstart_config())
        run = Workspace(home).finetune(config, wait=True)
        if run.status != "completed":
            sys.stderr.write(f"the quickstart run ended {run.status}: {run.error}\n")
            return 1
        rows = []
        merged_taught = prompts = None
        for quantization in ("f16", "q8_0"):
            result = export_gguf(
                run, Path(home) / "out", quantization=quantization, questions=questions, log=_quiet
            )
            merged = [a.merged for a in result.answers]
            merged_taught = count_taught(heldout, merged)
            taught = count_taught(heldout, [a.gguf for a in result.answers])
            prompts = result.prompts
            rows.append(
                f"| {quantization} | {result.size_bytes / 1e6:.0f} MB | "
                f"{result.top1_agreement:.0%} | {result.max_logit_difference:.3f} | "
                f"{result.answers_agree:.0%} of {len(questions)} | {taught} of {len(heldout)} |"
            )
        head = [
            f"| file | size | next token agrees (of {prompts} prompts) | largest logit "
            "difference | greedy answers identical | held-out answers with the taught fact |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        sys.stdout.write("\n".join(head + rows) + "\n")
        sys.stdout.write(
            f"\nThe merged model's own answers hold the taught fact in {merged_taught} of "
            f"{len(heldout)}.\n"
        )
    return 0


def _quiet(_message: str) -> None:
    pass


if __name__ == "__main__":
    raise SystemExit(main())
