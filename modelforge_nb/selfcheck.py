"""Hold the estimator to this machine: short real runs, each measured beside its estimate.

    python -m modelforge_nb.selfcheck [--model ID_OR_FOLDER] [--length N] [--out FILE]

On a CUDA GPU it runs LoRA in bf16 (where every GPU has it) and fp16, QLoRA nf4, and LoRA
with the 8-bit optimizer; on a CPU, LoRA in fp32. Each is the probe (two real training
steps in the worker, on full-length rows) and is compared with the estimate: the peak
(``torch.cuda.max_memory_allocated`` on a GPU, peak RSS on a CPU) and the time per step.
The report is a JSON list of rows in the calibration data's format
(``modelforge_nb/plan/data/calibration.json``), ready to be added to it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.embedded import EMBEDDED_MODEL_ID, hub_id, is_embedded, prepare_embedded
from modelforge_nb.hardware import GB, HardwareInfo, detect_hardware, resolve_precision
from modelforge_nb.plan.calibration import counted_bytes
from modelforge_nb.plan.estimate import estimate_run
from modelforge_nb.plan.probe import run_probe
from modelforge_nb.plan.shape import model_shape, read_model_config

__all__ = ["cases", "full_length_rows", "main", "selfcheck"]


def cases(hardware: HardwareInfo) -> list[tuple[str, dict[str, Any]]]:
    """The settings checked on ``hardware``: a name and the config fields of each."""
    if not hardware.has_cuda:
        return [("lora-fp32", {"adapter": "lora", "training": {"precision": "fp32"}})]
    found: list[tuple[str, dict[str, Any]]] = []
    # THE precision rule: bf16 only where every visible GPU has it (a run may use any of them)
    half = resolve_precision("auto", hardware)
    if half == "bf16":
        found.append(("lora-bf16", {"adapter": "lora", "training": {"precision": "bf16"}}))
    found += [
        ("lora-fp16", {"adapter": "lora", "training": {"precision": "fp16"}}),
        ("qlora-nf4", {"adapter": "qlora", "training": {"precision": half}}),
        (
            "lora-adamw-8bit",
            {"adapter": "lora", "training": {"precision": half, "optimizer": "adamw_8bit"}},
        ),
    ]
    return found


def full_length_rows(folder: Path, length: int) -> Path:
    """Rows whose answers are longer than ``length`` tokens, so every step is full-length.

    Short prompts, long answers: truncation keeps answer tokens (trl drops an example whose
    answer is cut away entirely).
    """
    words = "the kettle in quarrow boils water fast and the owl flies a kite over the hill "
    path = folder / "selfcheck.jsonl"
    rows = [{"input": f"Tell story {i}.", "output": words * max(8, length // 8)} for i in range(16)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _describe(hardware: HardwareInfo) -> str:
    if hardware.has_cuda:
        gpu = hardware.gpus[0]
        return f"gpu: {gpu.name}, {gpu.total_bytes / GB:.1f} GB"
    return (
        f"cpu: {hardware.cpu_count} cores, {hardware.ram_total_bytes / GB:.0f} GB RAM, "
        f"{platform.machine()}"
    )


def selfcheck(
    model: str = EMBEDDED_MODEL_ID,
    *,
    length: int = 256,
    batch_size: int = 2,
    gradient_checkpointing: bool = False,
) -> list[dict[str, Any]]:
    """Run each case of :func:`cases` here and return its calibration row."""
    if is_embedded(model):
        prepare_embedded()
    hardware = detect_hardware(refresh=True)
    model_config = read_model_config(model)
    shape = model_shape(model_config, "text-generation")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="modelforge-selfcheck-") as scratch:
        data = full_length_rows(Path(scratch), length)
        for name, fields in cases(hardware):
            training = {
                "batch_size": batch_size,
                "grad_accum": 1,
                "max_seq_length": length,
                "gradient_checkpointing": gradient_checkpointing,
                **fields["training"],
            }
            config = FinetuneConfig(
                model=model, dataset=str(data), adapter=fields["adapter"], training=training
            )
            estimate = estimate_run(config, shape, hardware)
            sys.stderr.write(f"{name}: running two steps ...\n")
            measured = run_probe(config)
            kind = "max_memory_allocated" if hardware.has_cuda else "peak_rss"
            counted = counted_bytes(estimate, kind)
            peak = measured.get("probe_peak_bytes")
            step = measured.get("probe_step_seconds")
            rows.append(
                {
                    "case": name,
                    "source": "python -m modelforge_nb.selfcheck",
                    "hardware": _describe(hardware),
                    "model": hub_id(model) if is_embedded(model) else model,
                    "model_config": model_config,
                    "task": "text-generation",
                    "adapter": config.adapter,
                    "lora_r": config.lora.r,
                    "precision": estimate.precision,
                    "optimizer": config.training.optimizer,
                    "batch_size": batch_size,
                    "max_seq_length": length,
                    "gradient_checkpointing": gradient_checkpointing,
                    "measured": kind,
                    "measured_peak_bytes": peak,
                    "step_seconds": step,
                    "status": measured.get("probe_status"),
                    "error": measured.get("probe_error"),
                    "estimate_bytes": counted,
                    "estimate_over_measured": round(counted / peak, 3) if peak else None,
                    "estimate_step_seconds": estimate.seconds_per_step,
                }
            )
    return rows


def _line(row: dict[str, Any]) -> str:
    if row["status"] != "completed":
        return f"{row['case']}: {row['status']} ({row['error']})"
    step = row["estimate_step_seconds"]
    return (
        f"{row['case']}: measured {row['measured_peak_bytes'] / GB:.2f} GB, estimate "
        f"{row['estimate_bytes'] / GB:.2f} GB ({row['estimate_over_measured']:.3f}x); "
        f"{row['step_seconds']:.2f} s/step measured" + (f", {step:.2f} estimated" if step else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelforge_nb.selfcheck", description=__doc__)
    parser.add_argument("--model", default=EMBEDDED_MODEL_ID, help="a Hub id or a local folder")
    parser.add_argument("--length", type=int, default=256, help="tokens per row")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("selfcheck.json"))
    args = parser.parse_args(argv)
    rows = selfcheck(args.model, length=args.length, batch_size=args.batch_size)
    args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write("".join(_line(row) + "\n" for row in rows) + f"wrote {args.out}\n")
    return 0 if all(row["status"] == "completed" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
