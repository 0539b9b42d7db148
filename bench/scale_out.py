"""Per-GPU memory that preflight gives for each way of spreading a run, from a Colab T4 to
two nodes of eight H100s, for Llama-3.1-8B and Llama-3.3-70B (shapes from the catalog).

    python -m bench.scale_out

Prints the Markdown table docs/scale-out.md holds (a test keeps the two the same).
"""

from __future__ import annotations

import sys
from typing import Any

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.hardware import hardware_profile
from modelforge_nb.plan.catalog import catalog_entry
from modelforge_nb.plan.estimate import GB, estimate_run
from modelforge_nb.plan.fit import HEADROOM, memory_budget
from modelforge_nb.plan.shape import model_shape

MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct"]
# (machine profile, processes in all, machines, strategy)
LAYOUTS = [
    ("colab-t4", 1, 1, "ddp"),
    ("h100-80gb", 1, 1, "ddp"),
    ("8xh100-80gb", 8, 1, "ddp"),
    ("8xh100-80gb", 8, 1, "deepspeed-zero2"),
    ("8xh100-80gb", 8, 1, "deepspeed-zero3"),
    ("8xh100-80gb", 8, 1, "fsdp"),
    ("8xh100-80gb", 16, 2, "fsdp"),
]
#: One setting for every row: 2,048 tokens a sequence, one sequence per GPU, gradient
#: checkpointing, bf16 where the GPU has it.
TRAINING = {
    "max_seq_length": 2048,
    "batch_size": 1,
    "grad_accum": 8,
    "gradient_checkpointing": True,
}


def rows() -> list[dict[str, Any]]:
    found = []
    for model in MODELS:
        entry = catalog_entry(model)
        if entry is None:
            raise SystemExit(f"{model} is not in the catalog")
        shape = model_shape(dict(entry["config"]), "text-generation")
        for adapter in ("qlora", "lora", "full"):
            for machine, processes, machines, strategy in LAYOUTS:
                if adapter == "qlora" and strategy in {"fsdp", "deepspeed-zero3"}:
                    continue  # refused by the config: they cannot shard a quantized base
                hardware = hardware_profile(machine)
                spread: dict[str, Any] = {
                    "num_processes": processes,
                    "strategy": strategy,
                    "num_machines": machines,
                }
                if machines > 1:
                    spread["main_process_ip"] = "10.0.0.1"
                config = FinetuneConfig(
                    model=model,
                    dataset="data.jsonl",
                    adapter=adapter,
                    training=TRAINING,
                    distributed=spread,
                )
                estimate = estimate_run(config, shape, hardware)
                budget = memory_budget(hardware)
                found.append(
                    {
                        "model": entry["name"],
                        "adapter": adapter,
                        "machine": machine if machines == 1 else f"{machines} x {machine}",
                        "strategy": strategy if processes > 1 else "one GPU",
                        "processes": processes,
                        "peak_gb": estimate.peak_bytes / GB,
                        "fits": estimate.peak_bytes <= budget * HEADROOM,
                    }
                )
    return found


def table() -> str:
    lines = [
        "| model | adapter | machine | strategy | per-GPU peak | fits |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for row in rows():
        lines.append(
            f"| {row['model']} | {row['adapter']} | {row['machine']} | {row['strategy']} | "
            f"{row['peak_gb']:.1f} GB | {'yes' if row['fits'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table())
