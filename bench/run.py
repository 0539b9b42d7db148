"""``make bench``: measure what the notebook layer costs, and write bench/RESULTS.md.

- Overhead: the same tiny model, data, seed and hyperparameters trained by a plain trl
  script and by ``modelforge_nb`` with a dashboard attached, interleaved over repeats.
- UI cost: plot redraw time by curve length, widget messages per second during a run
  that logs every step, bytes the dashboard adds to a saved notebook.
- Preflight: latency, and the parameter-count error against loaded models.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH = Path(__file__).resolve().parent
COMMAND = "make bench"
STEPS = 60
REPEATS = 3
WARMUP_STEPS = 5


def _steady(times: dict[int, float]) -> float:
    steps = sorted(times)
    gaps = [times[b] - times[a] for a, b in itertools.pairwise(steps) if a >= WARMUP_STEPS]
    return statistics.median(gaps)


def plain(model: Path, data: Path, work: Path, seed: int) -> tuple[float, float]:
    out = work / f"plain-{seed}-{time.time_ns()}"
    out.mkdir()
    start = time.time()
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "plain_trl.py"),
            str(model),
            str(data),
            str(out),
            str(STEPS),
            str(seed),
        ],
        check=True,
        capture_output=True,
    )
    times = {int(k): v for k, v in json.loads((out / "timings.json").read_text()).items()}
    return _steady(times), min(times.values()) - start


def modelforge(model: Path, data: Path, work: Path, seed: int) -> tuple[float, float, int]:
    from modelforge_nb.config import FinetuneConfig
    from modelforge_nb.runs import Workspace
    from modelforge_nb.widgets.dashboard import Dashboard

    config = FinetuneConfig(
        model=str(model),
        dataset=str(data),
        lora={"r": 16, "alpha": 32, "dropout": 0.05},
        training={
            "max_steps": STEPS,
            "batch_size": 8,
            "grad_accum": 1,
            "learning_rate": 1e-2,
            "logging_steps": 1,
            "save_steps": 10**9,
            "seed": seed,
            "max_seq_length": 256,
        },
    )
    start = time.time()
    run = Workspace(work / "home").finetune(config)
    board = Dashboard(run)
    sent: list[Any] = []
    board.plots.observe(sent.append, names="value")
    board.follow(poll=0.05)
    logs = {int(e["step"]): float(e["time"]) for e in run.history if e["type"] == "log"}
    return _steady(logs), min(logs.values()) - start, len(sent)


def overhead(work: Path) -> dict[str, Any]:
    from modelforge_nb import tiny

    model = tiny.build_causal_lm(work / "model")
    data = tiny.write_datasets(work / "data")["sft"]
    plain_steps, plain_start, mf_steps, mf_start, messages = [], [], [], [], []
    for repeat in range(REPEATS):
        seed = 42 + repeat
        for name in ("plain", "modelforge") if repeat % 2 == 0 else ("modelforge", "plain"):
            if name == "plain":
                step, first = plain(model, data, work, seed)
                plain_steps.append(step)
                plain_start.append(first)
            else:
                step, first, sent = modelforge(model, data, work, seed)
                mf_steps.append(step)
                mf_start.append(first)
                messages.append(sent)
    return {
        "plain_step": statistics.median(plain_steps),
        "mf_step": statistics.median(mf_steps),
        "ratio": statistics.median(mf_steps) / statistics.median(plain_steps),
        "plain_start": statistics.median(plain_start),
        "mf_start": statistics.median(mf_start),
        "plot_messages": statistics.median(messages),
    }


def ui_cost() -> dict[str, Any]:
    from modelforge_nb.widgets.curves import RunCurves
    from modelforge_nb.widgets.plot import count_points

    out: dict[str, Any] = {}
    for points in (1_000, 10_000, 100_000):
        curves = RunCurves()
        curves.apply(
            [
                {
                    "type": "log",
                    "step": i,
                    "loss": 5 / (1 + i) + (i % 7) * 0.01,
                    "learning_rate": 1e-3,
                    "tokens_per_second": 1000 + i % 50,
                    "time": float(i),
                    "total_steps": points,
                }
                for i in range(1, points + 1)
            ]
        )
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            svg = curves.plots_html()
            timings.append(time.perf_counter() - started)
        out[f"redraw_{points}"] = statistics.median(timings)
        out[f"points_{points}"] = count_points(svg)
        if points == 1_000:
            curves.status = "completed"
            out["notebook_bytes_1000"] = len(curves.static_html("run").encode())
    return out


def preflight_figures(work: Path) -> dict[str, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM

    from modelforge_nb import tiny
    from modelforge_nb.config import FinetuneConfig
    from modelforge_nb.preflight import preflight
    from modelforge_nb.preflight.estimate import model_shape, read_model_config

    model = tiny.build_causal_lm(work / "pf-model")
    data = tiny.write_datasets(work / "pf-data")["sft"]
    config = FinetuneConfig(model=str(model), dataset=str(data))
    preflight(config)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        preflight(config)
        timings.append(time.perf_counter() - started)
    embedded = FinetuneConfig(model="modelforge:smollm2-135m-instruct", dataset=str(data))
    started = time.perf_counter()
    preflight(embedded)
    embedded_time = time.perf_counter() - started
    errors = {}
    shapes = {
        "tiny llama": read_model_config(str(model)),
        "qwen2 (config only)": {
            "model_type": "qwen2",
            "hidden_size": 64,
            "intermediate_size": 200,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 1200,
        },
        "gpt2 (config only)": {
            "model_type": "gpt2",
            "n_embd": 64,
            "n_layer": 3,
            "n_head": 4,
            "vocab_size": 900,
        },
    }
    for name, cfg in shapes.items():
        estimated = model_shape(cfg, "text-generation").params
        loaded = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg)).num_parameters()
        errors[name] = (estimated - loaded) / loaded
    return {
        "local_ms": statistics.median(timings) * 1000,
        "embedded_ms": embedded_time * 1000,
        "param_errors": errors,
    }


def versions() -> str:
    import importlib.metadata as metadata

    names = ("modelforge-nb", "torch", "transformers", "peft", "trl")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="modelforge-bench-") as tmp:
        work = Path(tmp)
        print("overhead: plain trl vs modelforge_nb with a dashboard ...", flush=True)
        over = overhead(work)
        print(json.dumps(over, indent=1), flush=True)
        ui = ui_cost()
        print(json.dumps(ui, indent=1), flush=True)
        pf = preflight_figures(work)
        print(json.dumps(pf, indent=1), flush=True)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU"
    )
    rows = [
        ("Steady-state s/step, plain trl script", f"{over['plain_step']:.4f}"),
        ("Steady-state s/step, modelforge_nb + dashboard", f"{over['mf_step']:.4f}"),
        ("Ratio (target ≤ 1.03)", f"{over['ratio']:.3f}"),
        ("Call to first step, plain trl script (s)", f"{over['plain_start']:.2f}"),
        ("Call to first step, modelforge_nb (s)", f"{over['mf_start']:.2f}"),
        ("Start-up overhead (target < 2 s)", f"{over['mf_start'] - over['plain_start']:+.2f}"),
        (
            f"Plot updates sent during a {STEPS}-step run logging every step",
            f"{over['plot_messages']:.0f}",
        ),
        (
            "Plot redraw at 1k / 10k / 100k points (ms)",
            " / ".join(f"{ui[f'redraw_{n}'] * 1000:.1f}" for n in (1_000, 10_000, 100_000)),
        ),
        (
            "Points drawn at 1k / 10k / 100k",
            " / ".join(str(ui[f"points_{n}"]) for n in (1_000, 10_000, 100_000)),
        ),
        (
            "Bytes the static copy adds to a saved notebook, 1,000-step run",
            f"{ui['notebook_bytes_1000']:,}",
        ),
        ("Preflight latency, local tiny model (ms, warm)", f"{pf['local_ms']:.1f}"),
        ("Preflight latency, embedded SmolLM2 (ms)", f"{pf['embedded_ms']:.1f}"),
    ]
    rows += [
        (f"Parameter-count error, {name}", f"{error:+.2%}")
        for name, error in pf["param_errors"].items()
    ]
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine}. Date: {time.strftime('%Y-%m-%d')}. Versions: {versions()}.",
        f"Every figure below was printed by `{COMMAND}` (bench/run.py) in that run.",
        f"Overhead runs: tiny Llama model, LoRA r=16, batch 8, {STEPS} steps, logging every "
        f"step, {REPEATS} interleaved repeats per side, medians; steady state skips the first "
        f"{WARMUP_STEPS} steps.",
        "",
        "| figure | value | command |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {name} | {value} | `{COMMAND}` |" for name, value in rows]
    lines += [
        "",
        "GPU figures (peak VRAM estimate against `torch.cuda.max_memory_allocated`, "
        "tokens per second against the plain script) need a lent GPU and are not in this "
        "run.",
        "",
    ]
    (BENCH / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {BENCH / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
