"""Scale-out through accelerate: each strategy's config file as accelerate itself reads it,
per-GPU memory per strategy, real multi-process runs on CPU processes (gloo), and a job
folder run with its own launch.sh, then attached back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from run_helpers import wait_until

import modelforge_nb as mf
import modelforge_nb.rundir as rundir
from modelforge_nb.config import FinetuneConfig
from modelforge_nb.config.models import STRATEGIES
from modelforge_nb.errors import ConfigError, RunError
from modelforge_nb.hardware import hardware_profile
from modelforge_nb.plan.catalog import catalog_entry
from modelforge_nb.plan.estimate import SHARDED_TERMS, estimate_run
from modelforge_nb.plan.shape import model_shape
from modelforge_nb.runs import Run, Workspace
from modelforge_nb.tuner.strategies import CONFIG_FILE, accelerate_config, block_classes


def _config(model: Path | str, data: Path | str, **fields: Any) -> FinetuneConfig:
    training = {"max_steps": 8, "batch_size": 2, "save_steps": 4, "logging_steps": 1}
    training.update(fields.pop("training", {}))
    return FinetuneConfig(model=str(model), dataset=str(data), training=training, **fields)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("machines", [1, 2])
def test_each_strategy_config_is_what_accelerates_own_loader_and_launcher_take(
    tmp_path: Path, tiny_causal: Path, strategy: str, machines: int
) -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    spread: dict[str, Any] = {"num_processes": 8 * machines, "strategy": strategy}
    if machines > 1:
        spread.update(num_machines=machines, main_process_ip="10.0.0.1", machine_rank=1)
    config = _config(tiny_causal, "data.jsonl", distributed=spread)
    blocks = block_classes(str(tiny_causal))
    assert blocks == ("LlamaDecoderLayer",)  # read from the model, not assumed
    path = tmp_path / CONFIG_FILE
    path.write_text(
        yaml.safe_dump(accelerate_config(config, precision="bf16", block_classes=blocks))
    )
    loaded = load_config_from_file(str(path))
    wanted = {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(strategy, "DEEPSPEED")
    assert loaded.distributed_type.value == wanted
    assert (loaded.num_processes, loaded.num_machines) == (8 * machines, machines)
    # accelerate keeps the precision as its enum or as the string of the file: both say bf16.
    assert str(getattr(loaded.mixed_precision, "value", loaded.mixed_precision)) == "bf16"
    options = {action.dest for action in launch_command_parser()._actions}
    inner = {**loaded.fsdp_config, **loaded.deepspeed_config}
    assert set(inner) <= options, set(inner) - options
    if strategy == "fsdp":
        assert loaded.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
    if strategy.startswith("deepspeed"):
        assert loaded.deepspeed_config["zero_stage"] == int(strategy[-1])
    if machines > 1:
        assert (loaded.main_process_ip, loaded.machine_rank) == ("10.0.0.1", 1)


def test_preflight_memory_divides_what_each_strategy_shards() -> None:
    entry = catalog_entry("meta-llama/Llama-3.1-8B-Instruct")
    assert entry is not None
    shape = model_shape(dict(entry["config"]), "text-generation")
    node = hardware_profile("8xh100-80gb")
    found = {}
    for adapter in ("lora", "full"):
        one = estimate_run(_config("m", "d.jsonl", adapter=adapter), shape, node)
        for strategy in STRATEGIES:
            spread = {"num_processes": 8, "strategy": strategy}
            estimate = estimate_run(
                _config("m", "d.jsonl", adapter=adapter, distributed=spread), shape, node
            )
            for term, whole in one.terms().items():
                if term in SHARDED_TERMS[strategy]:
                    assert estimate.terms()[term] == -(-whole // 8), (strategy, term)
                elif term not in {"overhead", "gathered"}:
                    assert estimate.terms()[term] == whole, (strategy, term)
            assert estimate.world_size == 8 and "per process" in estimate.summary()
            found[adapter, strategy] = estimate.peak_bytes
    for adapter in ("lora", "full"):
        assert found[adapter, "deepspeed-zero3"] < found[adapter, "deepspeed-zero2"]
        assert found[adapter, "deepspeed-zero2"] < found[adapter, "ddp"]


def test_what_cannot_work_is_refused_with_a_fix(
    tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    data = tiny_data["sft"]
    with pytest.raises(ConfigError) as quantized:
        _config(tiny_causal, data, adapter="qlora", distributed={"strategy": "fsdp"})
    assert quantized.value.problems[0].field == "distributed.strategy"
    with pytest.raises(ConfigError) as no_ip:
        _config(tiny_causal, data, distributed={"num_processes": 16, "num_machines": 2})
    assert no_ip.value.problems[0].field == "distributed.main_process_ip"
    with pytest.raises(ConfigError):
        _config(tiny_causal, data, distributed={"num_machines": 2, "machine_rank": 2})
    sharded_on_cpu = mf.preflight(
        _config(tiny_causal, data, distributed={"num_processes": 2, "strategy": "fsdp"})
    )
    assert "distributed.needs_gpus" in {p.code for p in sharded_on_cpu.problems}
    deepspeed = mf.preflight(
        _config(tiny_causal, data, distributed={"strategy": "deepspeed-zero2"}),
        hardware=hardware_profile("8xh100-80gb"),
    )
    codes = {p.code for p in deepspeed.problems}
    import importlib.util

    assert ("distributed.deepspeed_missing" in codes) == (
        importlib.util.find_spec("deepspeed") is None
    )
    too_many = mf.preflight(
        _config(tiny_causal, data, distributed={"num_processes": 16}),
        hardware=hardware_profile("8xh100-80gb"),
    )
    assert "distributed.too_many" in {p.code for p in too_many.problems}


@pytest.mark.slow
def test_two_cpu_processes_train_like_one_stop_and_resume(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """The same path a multi-GPU run takes (accelerate launch, gloo on the CPU)."""
    workspace = Workspace(tmp_path / "home")
    runs = {}
    for processes in (1, 2):
        config = _config(tiny_causal, tiny_data["sft"], distributed={"num_processes": processes})
        runs[processes] = workspace.finetune(config)
        assert runs[processes].wait(timeout=300) == "completed", runs[processes].error
    one, two = runs[1], runs[2]
    steps = [[e["step"] for e in run.history if "loss" in e] for run in (one, two)]
    assert steps[0] == steps[1] == list(range(1, 9))
    for run in (one, two):
        kept = sorted(p.name for p in (run.output_dir / "checkpoints").glob("checkpoint-*"))
        assert kept == ["checkpoint-4", "checkpoint-8"]
        assert run.metrics["global_step"] == 8 and run.weights_dir() is not None
    (start,) = [e for e in two.events if e["type"] == "start"]
    assert start["world_size"] == 2
    # Stopped mid-run with two processes, then resumed from the checkpoint both agreed on.
    long = workspace.finetune(
        _config(
            tiny_causal,
            tiny_data["sft"],
            distributed={"num_processes": 2},
            training={"max_steps": 400, "save_steps": 3},
        )
    )
    wait_until(long, lambda: any(e.get("step", 0) >= 4 for e in long.history), "step 4")
    assert long.stop(wait=True, timeout=120) == "stopped"
    stopped_at = rundir.last_complete_checkpoint(long.output_dir)
    assert stopped_at is not None
    long.resume()
    wait_until(
        long,
        lambda: any(e["type"] == "start" and e.get("resumed_from") for e in long.events),
        "the resumed start",
    )
    assert long.stop(wait=True, timeout=120) == "stopped"
    resumed = [e for e in long.events if e["type"] == "start"][-1]
    assert resumed["resumed_from"] == str(stopped_at) and resumed["world_size"] == 2


@pytest.mark.slow
def test_sigkill_of_one_rank_ends_the_run_failed(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = Workspace(tmp_path / "home").finetune(
        _config(
            tiny_causal,
            tiny_data["sft"],
            distributed={"num_processes": 2},
            training={"max_steps": 2000, "save_steps": 5000},
        )
    )
    wait_until(run, lambda: bool(run.history), "the first logged step")
    launcher = psutil.Process(int(rundir.read_json(run.output_dir / rundir.PID_FILE)["pid"]))
    ranks = {p.environ().get("RANK"): p for p in launcher.children(recursive=True)}
    os.kill(ranks["1"].pid, signal.SIGKILL)
    assert run.wait(timeout=120) == "failed"
    assert run.error


@pytest.mark.slow
def test_an_exported_job_runs_with_its_launch_script_and_attaches_back(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    config = _config(
        tiny_causal, tiny_data["sft"], distributed={"num_processes": 2}, run_name="far-away"
    )
    far = mf.export_job(config, tmp_path / "far", target="8xh100-80gb")
    sky = yaml.safe_load((far / "sky.yaml").read_text())
    assert sky["resources"]["accelerators"] == "H100:2" and sky["num_nodes"] == 1
    assert "bf16" in (far / CONFIG_FILE).read_text()  # planned for the H100s
    job = mf.export_job(config, tmp_path / "job")  # planned for this machine
    assert {p.name for p in job.iterdir()} >= {
        "config.yaml",
        CONFIG_FILE,
        "launch.sh",
        "slurm.sbatch",
        "sky.yaml",
        "README.md",
        "data",
    }
    assert (job / "data" / tiny_data["sft"].name).read_bytes() == tiny_data["sft"].read_bytes()
    assert FinetuneConfig.from_file(job / "config.yaml").dataset == str(job / "data" / "sft.jsonl")
    assert "#SBATCH --gpus-per-node=2" in (job / "slurm.sbatch").read_text()
    assert "mf.attach" in (job / "README.md").read_text()
    with pytest.raises(RunError):
        mf.export_job(config, job)  # never over a folder that holds something
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "ACCELERATE": str(bin_dir / "accelerate"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run(
        [bash, str(job / "launch.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workspace = Workspace(tmp_path / "home")
    run = workspace.attach(job)
    assert isinstance(run, Run) and run.status == "completed"
    assert run.name == "far-away"
    assert [s["id"] for s in workspace.summaries()] == [run.id]
    assert Workspace(tmp_path / "home").get_run(run.id).output_dir == run.output_dir
    assert len([e for e in run.history if "loss" in e]) == 8
    assert "<svg" in mf.loss_svg(run)
    assert (run.output_dir / "worker.log").stat().st_size > 0
    # Run again once completed: refused, and the run is left as it was.
    before = (run.output_dir / rundir.EVENTS_FILE).read_bytes()
    again = subprocess.run(
        [bash, str(job / "launch.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode != 0 and "already completed" in again.stderr
    assert (run.output_dir / rundir.EVENTS_FILE).read_bytes() == before
    assert run.status == "completed"
