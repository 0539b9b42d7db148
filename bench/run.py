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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelforge_nb.tuner.effective import FILE_NAME as EFFECTIVE_FILE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH = Path(__file__).resolve().parent
COMMAND = "make bench"
STEPS = int(os.environ.get("MODELFORGE_BENCH_STEPS", "60"))
REPEATS = int(os.environ.get("MODELFORGE_BENCH_REPEATS", "5"))
WARMUP_STEPS = 5


def _steady(times: dict[int, float]) -> float:
    steps = sorted(times)
    gaps = [times[b] - times[a] for a, b in itertools.pairwise(steps) if a >= WARMUP_STEPS]
    return statistics.median(gaps) if gaps else float("nan")  # too few steps to time


class NotLikeForLike(Exception):
    """The two sides did not train the same thing; no ratio may be reported."""


def plain(model: Path, data: Path, work: Path, seed: int, steps: int = STEPS) -> dict[str, Any]:
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
            str(steps),
            str(seed),
        ],
        check=True,
        capture_output=True,
        env=worker_environment(bench_config(model, data, seed, steps)),
    )
    record = json.loads((out / "timings.json").read_text())
    times = {int(k): v for k, v in record["times"].items()}
    return {
        "step": _steady(times),
        "start": min(times.values()) - start,
        "peak": record["peak_memory_bytes"],
        "effective": json.loads((out / EFFECTIVE_FILE).read_text()),
    }


def bench_config(model: Path, data: Path, seed: int, steps: int = STEPS) -> Any:
    from modelforge_nb.config import FinetuneConfig

    return FinetuneConfig(
        model=str(model),
        dataset=str(data),
        lora={"r": 16, "alpha": 32, "dropout": 0.05},
        training={
            "max_steps": steps,
            "batch_size": 8,
            "grad_accum": 1,
            "learning_rate": 1e-2,
            "logging_steps": 1,
            "save_steps": 10**9,
            "seed": seed,
            "max_seq_length": 256,
        },
    )


#: The bench's sides: plain trl; modelforge_nb with the kernel waiting (``run.wait()``);
#: modelforge_nb with a dashboard following at its default refresh (``board.follow()``).
SIDES = ("plain", "waiting", "dashboard")


def modelforge(
    model: Path, data: Path, work: Path, seed: int, *, steps: int = STEPS, dashboard: bool = True
) -> dict[str, Any]:
    from modelforge_nb.runs import Workspace
    from modelforge_nb.widgets.dashboard import Dashboard

    start = time.time()
    run = Workspace(work / "home").finetune(bench_config(model, data, seed, steps))
    sent: list[Any] = []
    if dashboard:
        board = Dashboard(run)
        board.plots.observe(sent.append, names="value")
        board.follow()
    else:
        run.wait()
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


def tiny_inputs(work: Path) -> tuple[Path, Path]:
    """The tiny model and its SFT data, built under ``work``."""
    from modelforge_nb import tiny

    return tiny.build_causal_lm(work / "model"), tiny.write_datasets(work / "data")["sft"]


def like_for_like(work: Path, steps: int = 2) -> list[str]:
    """Train ``steps`` steps with the plain trl script and with modelforge_nb (the same tiny
    model, data and seed); the differences of their effective records, [] when alike."""
    from modelforge_nb.tuner.effective import differences

    model, data = tiny_inputs(work)
    # Side by side: each is a process of its own, and the test waits for the slower only.
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(_side, "plain", model, data, work, 42, steps)
        second = _side("waiting", model, data, work, 42, steps)
        return differences(first.result()["effective"], second["effective"])


def _side(name: str, model: Path, data: Path, work: Path, seed: int, steps: int) -> dict[str, Any]:
    if name == "plain":
        return plain(model, data, work, seed, steps)
    return modelforge(model, data, work, seed, steps=steps, dashboard=name == "dashboard")


def overhead(work: Path) -> dict[str, Any]:
    from modelforge_nb.tuner.effective import differences

    model, data = tiny_inputs(work)
    sides: dict[str, list[dict[str, Any]]] = {name: [] for name in SIDES}
    for repeat in range(REPEATS):
        seed = 42 + repeat
        # Each repeat starts with the next side, so no side always runs first or last.
        order = SIDES[repeat % len(SIDES) :] + SIDES[: repeat % len(SIDES)]
        for name in order:
            sides[name].append(_side(name, model, data, work, seed, STEPS))
        for name in SIDES[1:]:
            diff = differences(sides["plain"][-1]["effective"], sides[name][-1]["effective"])
            if diff:
                raise NotLikeForLike("\n".join(diff))

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in sides[name])

    plain_step = median("plain", "step")
    return {
        **{f"{name}_step": median(name, "step") for name in SIDES},
        "ratio_waiting": median("waiting", "step") / plain_step,
        "ratio_dashboard": median("dashboard", "step") / plain_step,
        **{f"{name}_start": median(name, "start") for name in SIDES},
        **{f"{name}_peak": median(name, "peak") for name in SIDES},
        "plot_messages": median("dashboard", "messages"),
        **{f"{name}_steps": [r["step"] for r in sides[name]] for name in SIDES},
        "effective": sides["dashboard"][-1]["effective"],
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
        "tiny": {**estimate_against_measured(config), "run": over["waiting_peak"]},
        "smollm2": estimate_against_measured(embedded),
        "short": short_rows(over["data"].parent),
    }


#: Settings no calibration row holds: (batch size, max_seq_length, gradient checkpointing).
SHORT_ROW_SETTINGS = ((3, 384, True), (1, 1024, False))


def short_rows(work: Path) -> list[dict[str, Any]]:
    """The embedded SmolLM2 on short rows (about 20 tokens each) with a long
    ``max_seq_length``: the estimate must follow the data's lengths, not the cap."""
    from modelforge_nb.config import FinetuneConfig

    data = work / "short_rows.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for i in range(64):
            row = {"prompt": f"What colour is kettle {i}?", "completion": f"Kettle {i} is blue."}
            handle.write(json.dumps(row) + "\n")
    figures = []
    for batch, length, checkpointing in SHORT_ROW_SETTINGS:
        config = FinetuneConfig(
            model="modelforge:smollm2-135m-instruct",
            dataset=str(data),
            training={
                "batch_size": batch,
                "grad_accum": 1,
                "max_seq_length": length,
                "gradient_checkpointing": checkpointing,
                "max_steps": 20,
            },
        )
        figures.append(
            {"batch": batch, "length": length, "checkpointing": checkpointing}
            | estimate_against_measured(config)
        )
    return figures


def versions() -> str:
    import importlib.metadata as metadata

    names = ("modelforge-nb", "torch", "transformers", "peft", "trl")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _spread(plain_steps: list[float], mf_steps: list[float], side: str = "modelforge_nb") -> str:
    """Whether plain trl's and one modelforge_nb side's per-repeat timings overlap, said in a
    sentence."""
    ranges = (
        f"plain trl {min(plain_steps):.4f}-{max(plain_steps):.4f}, {side} "
        f"{min(mf_steps):.4f}-{max(mf_steps):.4f}"
    )
    low = max(min(plain_steps), min(mf_steps))
    high = min(max(plain_steps), max(mf_steps))
    if low <= high:
        return (
            f"The per-repeat s/step of plain trl and {side} overlap ({ranges}): the ratio is "
            "within this machine's noise, not a difference between the two."
        )
    return f"The per-repeat s/step of plain trl and {side} do not overlap ({ranges})."


def commit() -> str:
    """The git commit the bench ran on, and whether the work tree had changes."""

    executable = shutil.which("git")
    if executable is None:
        return "unknown (no git)"

    def git(*args: str) -> str:
        done = subprocess.run(
            [executable, *args], cwd=BENCH.parent, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head} (with uncommitted changes)" if dirty else f"{head} (clean tree)"


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f}"


def main() -> int:
    ran_on = commit()  # before RESULTS.md is written over
    print(f"{COMMAND} on commit {ran_on}", flush=True)
    with tempfile.TemporaryDirectory(prefix="modelforge-bench-") as tmp:
        work = Path(tmp)
        print(
            "overhead: plain trl vs modelforge_nb waiting and with a dashboard following ...",
            flush=True,
        )
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
        spreads = [
            _spread(over["plain_steps"], over["waiting_steps"], "modelforge_nb waiting"),
            _spread(over["plain_steps"], over["dashboard_steps"], "modelforge_nb + dashboard"),
        ]
        print("\n".join(spreads), flush=True)
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
        ("Steady-state s/step, modelforge_nb, kernel waiting", f"{over['waiting_step']:.4f}"),
        ("Steady-state s/step, modelforge_nb + dashboard", f"{over['dashboard_step']:.4f}"),
        ("Ratio, modelforge_nb waiting / plain trl", f"{over['ratio_waiting']:.3f}"),
        ("Ratio, modelforge_nb + dashboard / plain trl", f"{over['ratio_dashboard']:.3f}"),
        (
            "Each repeat's s/step, plain trl / waiting / + dashboard",
            " / ".join(", ".join(f"{s:.4f}" for s in over[f"{name}_steps"]) for name in SIDES),
        ),
        ("Call to first step, plain trl script (s)", f"{over['plain_start']:.2f}"),
        ("Call to first step, modelforge_nb (s)", f"{over['waiting_start']:.2f}"),
        ("Start-up overhead (s)", f"{over['waiting_start'] - over['plain_start']:+.2f}"),
        ("Peak RSS, plain trl script (GB)", _gb(over["plain_peak"])),
        ("Peak RSS, modelforge_nb worker (GB)", _gb(over["waiting_peak"])),
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
        *(
            (
                f"SmolLM2, short rows, batch {f['batch']} x max_seq_length {f['length']}"
                f"{', checkpointing' if f['checkpointing'] else ''}: estimate / probe peak (GB)",
                f"{_gb(f['estimate'])} / {_gb(f['probe'])} ({f['estimate'] / f['probe']:.2f}x)",
            )
            for f in pf["short"]
        ),
    ]
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine}. Date: {time.strftime('%Y-%m-%d')}. Versions: {versions()}.",
        f"Every figure below was printed by `{COMMAND}` (bench/run.py) in that run, on commit "
        f"{ran_on}.",
        f"Overhead runs: tiny Llama model, LoRA r=16, batch 8, {STEPS} steps, logging every "
        f"step, {REPEATS} interleaved repeats per side, medians; steady state skips the first "
        f"{WARMUP_STEPS} steps. Three sides: the plain trl script (bench/plain_trl.py), "
        "modelforge_nb with the kernel waiting (`run.wait()`), and modelforge_nb with a "
        "dashboard following the run at its default refresh (`Dashboard(run).follow()`); the "
        "first ratio is what the worker costs, the second what the live dashboard adds.",
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
        *spreads,
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
