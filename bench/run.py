"""``make bench``: measure what the notebook layer costs, and write bench/RESULTS.md.

- Overhead: the same tiny model, data, seed and hyperparameters trained by a plain trl
  script and by ``modelforge_nb`` with a dashboard attached, interleaved over repeats. Both
  sides record their effective training arguments, adapter config, model and tokenized data
  (``modelforge_nb.tuner.effective``); if anything but paths and logging targets differs,
  the bench prints the differences and reports no ratio. Peak memory of both sides.
- UI cost: the cost of a live redraw (one new point taken in, all plots drawn again) by
  curve length, widget messages during a run that logs every step, bytes the dashboard adds
  to a saved notebook.
- Preflight: latency, and its memory estimate against the probe's measured peak and the
  real run's peak for the same config.
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

from modelforge_nb.tuner.effective import FILE_NAME as EFFECTIVE_FILE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH = Path(__file__).resolve().parent
COMMAND = "make bench"
STEPS = int(os.environ.get("MODELFORGE_BENCH_STEPS", "60"))
REPEATS = int(os.environ.get("MODELFORGE_BENCH_REPEATS", "3"))
WARMUP_STEPS = 5


def _steady(times: dict[int, float]) -> float:
    steps = sorted(times)
    gaps = [times[b] - times[a] for a, b in itertools.pairwise(steps) if a >= WARMUP_STEPS]
    return statistics.median(gaps)


class NotLikeForLike(Exception):
    """The two sides did not train the same thing; no ratio may be reported."""


def plain(model: Path, data: Path, work: Path, seed: int) -> dict[str, Any]:
    from modelforge_nb.tuner.launcher import worker_environment

    out = work / f"plain-{seed}-{time.time_ns()}"
    out.mkdir()
    start = time.time()
    # The same process environment the worker gets, so only the notebook layer differs.
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
        env=worker_environment(bench_config(model, data, seed)),
    )
    record = json.loads((out / "timings.json").read_text())
    times = {int(k): v for k, v in record["times"].items()}
    return {
        "step": _steady(times),
        "start": min(times.values()) - start,
        "peak": record["peak_memory_bytes"],
        "effective": json.loads((out / EFFECTIVE_FILE).read_text()),
    }


def bench_config(model: Path, data: Path, seed: int) -> Any:
    from modelforge_nb.config import FinetuneConfig

    return FinetuneConfig(
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


def modelforge(model: Path, data: Path, work: Path, seed: int) -> dict[str, Any]:
    from modelforge_nb.runs import Workspace
    from modelforge_nb.widgets.dashboard import Dashboard

    start = time.time()
    run = Workspace(work / "home").finetune(bench_config(model, data, seed))
    board = Dashboard(run)
    sent: list[Any] = []
    board.plots.observe(sent.append, names="value")
    board.follow(poll=0.05)
    if run.status != "completed":
        raise RuntimeError(f"the modelforge_nb run ended {run.status}: {run.error}")
    logs = {int(e["step"]): float(e["time"]) for e in run.history if e["type"] == "log"}
    return {
        "step": _steady(logs),
        "start": min(logs.values()) - start,
        "peak": run.metrics["peak_memory_bytes"],
        "messages": len(sent),
        "effective": json.loads((run.output_dir / EFFECTIVE_FILE).read_text()),
    }


def overhead(work: Path) -> dict[str, Any]:
    from modelforge_nb import tiny
    from modelforge_nb.tuner.effective import differences

    model = tiny.build_causal_lm(work / "model")
    data = tiny.write_datasets(work / "data")["sft"]
    sides: dict[str, list[dict[str, Any]]] = {"plain": [], "modelforge": []}
    for repeat in range(REPEATS):
        seed = 42 + repeat
        order = ("plain", "modelforge") if repeat % 2 == 0 else ("modelforge", "plain")
        for name in order:
            side = plain if name == "plain" else modelforge
            sides[name].append(side(model, data, work, seed))
        diff = differences(sides["plain"][-1]["effective"], sides["modelforge"][-1]["effective"])
        if diff:
            raise NotLikeForLike("\n".join(diff))

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in sides[name])

    return {
        "plain_step": median("plain", "step"),
        "mf_step": median("modelforge", "step"),
        "ratio": median("modelforge", "step") / median("plain", "step"),
        "plain_start": median("plain", "start"),
        "mf_start": median("modelforge", "start"),
        "plain_peak": median("plain", "peak"),
        "mf_peak": median("modelforge", "peak"),
        "plot_messages": median("modelforge", "messages"),
        "plain_steps": [r["step"] for r in sides["plain"]],
        "mf_steps": [r["step"] for r in sides["modelforge"]],
        "effective": sides["modelforge"][-1]["effective"],
        "model": model,
        "data": data,
    }


def _log_event(step: int, total: int) -> dict[str, Any]:
    return {
        "type": "log",
        "step": step,
        "loss": 5 / (1 + step) + (step % 7) * 0.01,
        "learning_rate": 1e-3,
        "tokens_per_second": 1000 + step % 50,
        "time": float(step),
        "total_steps": total,
    }


def ui_cost() -> dict[str, Any]:
    """A live redraw: take in the newest point, then draw every plot again."""
    from modelforge_nb.widgets.curves import RunCurves
    from modelforge_nb.widgets.plot import count_points

    out: dict[str, Any] = {}
    for points in (1_000, 10_000, 100_000):
        total = points + 10
        curves = RunCurves()
        started = time.perf_counter()
        curves.apply([_log_event(i, total) for i in range(1, points + 1)])
        out[f"ingest_{points}"] = time.perf_counter() - started
        timings = []
        for extra in range(1, 6):
            started = time.perf_counter()
            curves.apply([_log_event(points + extra, total)])
            svg = curves.plots_html()
            timings.append(time.perf_counter() - started)
        out[f"redraw_{points}"] = statistics.median(timings)
        out[f"points_{points}"] = count_points(svg)
        if points == 1_000:
            curves.status = "completed"
            out["notebook_bytes_1000"] = len(curves.static_html("run").encode())
    return out


def estimate_against_measured(config: Any) -> dict[str, Any]:
    """Preflight's peak-memory estimate, the probe's measured peak, for one config."""
    from modelforge_nb.plan import preflight

    report = preflight(config, probe=True)
    if report.estimate is None or not report.probe or "probe_peak_bytes" not in report.probe:
        raise RuntimeError(f"preflight gave no estimate or probe:\n{report.summary()}")
    return {
        "estimate": report.estimate.peak_bytes,
        "probe": int(report.probe["probe_peak_bytes"]),
        "device": report.probe.get("probe_device"),
    }


def preflight_figures(over: dict[str, Any]) -> dict[str, Any]:
    from modelforge_nb import examples
    from modelforge_nb.config import FinetuneConfig
    from modelforge_nb.embedded import prepare_embedded
    from modelforge_nb.plan import preflight

    config = bench_config(over["model"], over["data"], seed=42)
    preflight(config)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        preflight(config)
        timings.append(time.perf_counter() - started)
    # The quickstart notebook's run (01_quickstart.ipynb).
    embedded = FinetuneConfig(
        model="modelforge:smollm2-135m-instruct",
        dataset=str(examples.ZEPHYR_TRAIN),
        lora={"r": 16, "alpha": 32, "dropout": 0.0},
        training={
            "max_steps": 20,
            "batch_size": 8,
            "grad_accum": 1,
            "learning_rate": 3e-3,
            "warmup_ratio": 0.05,
            "logging_steps": 2,
            "save_steps": 1000,
        },
    )
    prepare_embedded()  # as the quickstart does before its preflight
    started = time.perf_counter()
    preflight(embedded)
    embedded_time = time.perf_counter() - started
    return {
        "local_ms": statistics.median(timings) * 1000,
        "embedded_ms": embedded_time * 1000,
        "tiny": {**estimate_against_measured(config), "run": over["mf_peak"]},
        "smollm2": estimate_against_measured(embedded),
    }


def versions() -> str:
    import importlib.metadata as metadata

    names = ("modelforge-nb", "torch", "transformers", "peft", "trl")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _spread(plain_steps: list[float], mf_steps: list[float]) -> str:
    """Whether the two sides' per-repeat timings overlap, said in a sentence."""
    low = max(min(plain_steps), min(mf_steps))
    high = min(max(plain_steps), max(mf_steps))
    if low <= high:
        return (
            "The per-repeat s/step of the two sides overlap (plain trl "
            f"{min(plain_steps):.4f}-{max(plain_steps):.4f}, modelforge_nb "
            f"{min(mf_steps):.4f}-{max(mf_steps):.4f}): the ratio is within this machine's "
            "noise, not a difference between the two."
        )
    return "The per-repeat s/step of the two sides do not overlap."


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f}"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="modelforge-bench-") as tmp:
        work = Path(tmp)
        print("overhead: plain trl vs modelforge_nb with a dashboard ...", flush=True)
        try:
            over = overhead(work)
        except NotLikeForLike as error:
            print(
                "The two sides did not train the same thing, so no ratio is reported.\n"
                f"Effective differences (plain trl != modelforge_nb):\n{error}",
                file=sys.stderr,
            )
            return 1
        effective = over.pop("effective")
        print(json.dumps({k: v for k, v in over.items() if k not in {"model", "data"}}, indent=1))
        ui = ui_cost()
        print(json.dumps(ui, indent=1), flush=True)
        print("preflight: estimate against the probe's measured peak ...", flush=True)
        pf = preflight_figures(over)
        print(json.dumps(pf, indent=1), flush=True)
    arguments = effective["arguments"]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU"
    )
    tiny, smol = pf["tiny"], pf["smollm2"]
    rows = [
        ("Steady-state s/step, plain trl script", f"{over['plain_step']:.4f}"),
        ("Steady-state s/step, modelforge_nb + dashboard", f"{over['mf_step']:.4f}"),
        ("Ratio, modelforge_nb / plain trl (same effective arguments)", f"{over['ratio']:.3f}"),
        (
            "Each repeat's s/step, plain trl / modelforge_nb",
            ", ".join(f"{s:.4f}" for s in over["plain_steps"])
            + " / "
            + ", ".join(f"{s:.4f}" for s in over["mf_steps"]),
        ),
        ("Call to first step, plain trl script (s)", f"{over['plain_start']:.2f}"),
        ("Call to first step, modelforge_nb (s)", f"{over['mf_start']:.2f}"),
        ("Start-up overhead (s)", f"{over['mf_start'] - over['plain_start']:+.2f}"),
        ("Peak RSS, plain trl script (GB)", _gb(over["plain_peak"])),
        ("Peak RSS, modelforge_nb worker (GB)", _gb(over["mf_peak"])),
        (
            f"Plot updates sent during a {STEPS}-step run logging every step",
            f"{over['plot_messages']:.0f}",
        ),
        (
            "Live redraw (one new point, all plots) at 1k / 10k / 100k points (ms)",
            " / ".join(f"{ui[f'redraw_{n}'] * 1000:.1f}" for n in (1_000, 10_000, 100_000)),
        ),
        (
            "Taking in 1k / 10k / 100k logged steps at once (ms)",
            " / ".join(f"{ui[f'ingest_{n}'] * 1000:.1f}" for n in (1_000, 10_000, 100_000)),
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
        (
            "Tiny model: preflight estimate / probe peak / whole-run peak (GB)",
            f"{_gb(tiny['estimate'])} / {_gb(tiny['probe'])} / {_gb(tiny['run'])}",
        ),
        (
            "Quickstart SmolLM2 run: preflight estimate / probe peak (GB)",
            f"{_gb(smol['estimate'])} / {_gb(smol['probe'])}",
        ),
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
        "Like for like: both sides recorded their effective training arguments, LoRA config, "
        "model and tokenized training data (`modelforge_nb/tuner/effective.py`), and every "
        "pair was identical but for output paths and logging targets; otherwise the bench "
        "stops without a ratio. Among them: "
        + ", ".join(
            f"`{k}={arguments.get(k)}`"
            for k in ("gradient_checkpointing", "optim", "learning_rate", "max_length", "seed")
        )
        + f", {effective['model']['trainable']:,} trainable of "
        f"{effective['model']['parameters']:,} parameters, "
        f"{effective['train_data']['rows']} training rows with data hash "
        f"`{effective['train_data']['sha256']}`.",
        "",
        _spread(over["plain_steps"], over["mf_steps"]),
        "",
        "Memory: peak RSS of the training process on the CPU (loading included). The probe is "
        "`preflight(config, probe=True)`: two real steps on the longest batch.",
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
    lines += calibration_lines()
    (BENCH / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {BENCH / 'RESULTS.md'}")
    return 0


def calibration_lines() -> list[str]:
    """Estimate / measured for every row of the estimator's calibration data, and for the
    reference rows of other trainers (not held)."""
    from modelforge_nb.plan.calibration import TOLERANCE, describe, ratio, reference_rows, rows

    lines = [
        "## The estimator against its calibration data",
        "",
        "Each row of `modelforge_nb/plan/data/calibration.json` (its source and hardware "
        f"named there), estimated now; the tolerance is {TOLERANCE:.0%}. `measured` says what "
        "the figure counts: peak_rss (the CPU probe), device_total (a card's whole memory at "
        "the longest context that fits it), max_memory_allocated (tensors on a GPU).",
        "",
        "| row | measured | estimate / measured |",
        "| --- | --- | --- |",
    ]
    ratios = []
    for row in rows():
        value = ratio(row)
        ratios.append(value)
        print(f"calibration {describe(row)}: {value:.3f}")
        lines.append(f"| {describe(row)} | {row['measured']} | {value:.3f} |")
    ordered = sorted(ratios)
    lines += [
        "",
        f"Error distribution over {len(ordered)} rows: min {ordered[0]:.3f}, median "
        f"{ordered[len(ordered) // 2]:.3f}, max {ordered[-1]:.3f}.",
        "",
        "Other trainers' published figures, shown, not held (why, per row):",
        "",
        "| row | estimate / measured | not held because |",
        "| --- | --- | --- |",
    ]
    for row in reference_rows():
        value = ratio(row)
        print(f"reference {describe(row)}: {value:.3f}")
        lines.append(f"| {describe(row)} | {value:.3f} | {row['not_held']} |")
    return [*lines, ""]


if __name__ == "__main__":
    raise SystemExit(main())
