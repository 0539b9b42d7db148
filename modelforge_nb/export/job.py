"""Take a run to a bigger machine: a self-contained job folder, and the run folder back.

``export_job(config_or_run, folder)`` writes what a machine with GPUs needs to train the
same run with accelerate: the validated config (``config.yaml``, paths relative to the
folder), the data (copied, or referenced by Hub id), accelerate's config file for the
strategy, ``launch.sh`` (``accelerate launch ... -m modelforge_nb.worker``), a Slurm batch
script, a SkyPilot task and a README. The run trains into ``runs/<id>/`` there; copied back
(or on a shared filesystem), ``Workspace.attach`` adopts it like a local run.

``python -m modelforge_nb.export.job prepare FOLDER`` is what ``launch.sh`` calls first: it makes
the run folder (the same on every machine), or finds it and asks the worker to resume.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb._version import __version__
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.errors import ModelForgeError, RunError
from modelforge_nb.export.folders import new_or_empty_folder
from modelforge_nb.rundir import JOB_FILE, job_run_folder
from modelforge_nb.runs import Run, new_run_id, run_identity
from modelforge_nb.tuner.strategies import CONFIG_FILE, accelerate_config, block_classes

_FILES = ("config.yaml", CONFIG_FILE, "launch.sh", "slurm.sbatch", "sky.yaml", "README.md")


def _local(reference: str | None) -> Path | None:
    """The local file or folder a config field names; None for a Hub id."""
    if reference is None:
        return None
    path = Path(reference)
    return path if path.is_absolute() and path.exists() else None


def _copy_data(reference: str | None, data: Path) -> str | None:
    """Copy a local dataset into the job's ``data/``; the relative path the config uses."""
    source = _local(reference)
    if source is None:
        return reference
    target = data / source.name
    if not target.exists():
        data.mkdir(exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return f"data/{source.name}"


def _gpus_per_machine(config: FinetuneConfig) -> int:
    spread = config.distributed
    return max(1, spread.num_processes // spread.num_machines)


def _launch_script(config: FinetuneConfig) -> str:
    spread = config.distributed
    return f"""#!/usr/bin/env bash
# Train this job: bash launch.sh
# On several machines run it on each, with MACHINE_RANK (0 on the first) and
# MAIN_PROCESS_IP (the first machine's address) set: slurm.sbatch and sky.yaml do that.
set -euo pipefail
cd "$(dirname "${{BASH_SOURCE[0]}}")"
PYTHON="${{PYTHON:-python}}"
ACCELERATE="${{ACCELERATE:-accelerate}}"
# The run folder under runs/, and --resume when it holds a complete checkpoint.
# It refuses (and so this script stops) when the run has already completed.
WORKER_ARGS="$("$PYTHON" -m modelforge_nb.export.job prepare .)"
mapfile -t WORKER <<< "$WORKER_ARGS"
"$ACCELERATE" launch --config_file {CONFIG_FILE} \\
  --num_processes {spread.num_processes} --num_machines {spread.num_machines} \\
  --machine_rank "${{MACHINE_RANK:-{spread.machine_rank}}}" \\
  --main_process_ip "${{MAIN_PROCESS_IP:-{spread.main_process_ip or "127.0.0.1"}}}" \\
  --main_process_port {spread.main_process_port} \\
  -m modelforge_nb.worker "${{WORKER[@]}}" 2>&1 | tee -a "${{WORKER[0]}}/{rundir.WORKER_LOG}"
"""


def _slurm_script(config: FinetuneConfig, name: str) -> str:
    spread = config.distributed
    return f"""#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --nodes={spread.num_machines}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={_gpus_per_machine(config)}
#SBATCH --cpus-per-task=16
#SBATCH --output=slurm-%j.out
# sbatch slurm.sbatch, from this folder, in an environment with modelforge-nb=={__version__}.
set -euo pipefail
MAIN_PROCESS_IP="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export MAIN_PROCESS_IP
srun bash -c 'MACHINE_RANK="$SLURM_NODEID" bash launch.sh'
"""


#: SkyPilot's accelerator names, by a piece of the name NVML reports (first match wins).
_SKY_NAMES = (
    ("H200", "H200"),
    ("H100", "H100"),
    ("A100-SXM4-80GB", "A100-80GB"),
    ("A100", "A100"),
    ("L40S", "L40S"),
    ("L4", "L4"),
    ("A10G", "A10G"),
    ("T4", "T4"),
    ("V100", "V100"),
)


def _accelerator_name(gpu: str | None) -> str:
    """SkyPilot's name for a GPU ("NVIDIA H100 80GB HBM3" -> "H100"); H100 when the job is
    planned on a machine without one."""
    return next((sky for piece, sky in _SKY_NAMES if piece in (gpu or "")), "H100")


def _sky_task(config: FinetuneConfig, name: str, gpu: str | None) -> dict[str, Any]:
    spread = config.distributed
    return {
        "name": name,
        "num_nodes": spread.num_machines,
        "resources": {"accelerators": f"{_accelerator_name(gpu)}:{_gpus_per_machine(config)}"},
        "workdir": ".",
        "setup": f'pip install "modelforge-nb=={__version__}"',
        "run": 'MACHINE_RANK="$SKYPILOT_NODE_RANK" '
        'MAIN_PROCESS_IP="$(echo "$SKYPILOT_NODE_IPS" | head -n 1)" bash launch.sh\n',
    }


def _rewards_row(config: FinetuneConfig) -> str:
    if config.method != "grpo":
        return ""
    return (
        f"\n| `{rundir.REWARDS_FILE}` | GRPO's reward functions, copied by cloudpickle: the job "
        f"needs the same Python ({sys.version_info.major}.{sys.version_info.minor}) as this "
        "notebook |"
    )


def _readme(config: FinetuneConfig, run_id: str, model_note: str) -> str:
    spread = config.distributed
    machines = (
        f"{spread.num_machines} machines of {_gpus_per_machine(config)} GPUs"
        if spread.num_machines > 1
        else f"{spread.num_processes} process(es) on one machine"
    )
    return f"""# Job {run_id}

Fine-tunes `{config.model}` with modelforge-nb {__version__}: {config.method} with
{config.adapter}, strategy `{spread.strategy}`, {machines}.

| file | what it is |
| --- | --- |
| `config.yaml` | the validated config; paths are relative to this folder |
| `data/` | the training data, copied (Hub datasets are downloaded by the job) |
| `{CONFIG_FILE}` | accelerate's config for the strategy (`accelerate launch --config_file`) |
| `launch.sh` | `bash launch.sh`: makes `runs/{run_id}/`, trains into it (`accelerate launch`) |
| `slurm.sbatch` | `sbatch slurm.sbatch` on a Slurm cluster |
| `sky.yaml` | `sky launch sky.yaml` with SkyPilot (any cloud) |{_rewards_row(config)}

Install first: `pip install "modelforge-nb=={__version__}"` (and `deepspeed` for the DeepSpeed
strategies). {model_note}

Running `launch.sh` again after a stop or a failure resumes from the last complete
checkpoint. `runs/{run_id}/` is an ordinary run folder: copy it back (for example
`rsync -a host:JOB/runs/{run_id} .`) or leave it on a shared filesystem, then in the
notebook `mf.attach("runs/{run_id}")` (or `%modelforge attach runs/{run_id}`) shows it in
`%modelforge runs`, the dashboard, chat, merge and push.
"""


def _config_of(config_or_run: FinetuneConfig | Run | str | Path) -> FinetuneConfig:
    if isinstance(config_or_run, FinetuneConfig):
        return config_or_run
    if isinstance(config_or_run, Run):
        return config_or_run.config
    return Run(Path(config_or_run)).config


def _rewards(
    config: FinetuneConfig,
    source: FinetuneConfig | Run | str | Path,
    rewards: Sequence[Any] | None,
    namespace: Mapping[str, Any] | None,
) -> tuple[FinetuneConfig, bytes | None]:
    """GRPO's reward functions for the job, packed, and the config naming them: those
    given (or named in ``namespace``), else the ones a run was started with."""
    from modelforge_nb.rewards import REWARDS_FILE, ship

    if config.method != "grpo":
        return config, None
    if not isinstance(source, FinetuneConfig) and rewards is None:
        shipped = rundir.run_folder(source) / REWARDS_FILE
        if shipped.is_file():
            return config, shipped.read_bytes()
    return ship(config, rewards, namespace)


def export_job(
    config_or_run: FinetuneConfig | Run | str | Path,
    folder: str | Path,
    *,
    target: str | None = None,
    rewards: Sequence[Any] | None = None,
    namespace: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-contained job folder for ``config_or_run`` (a config, a run or a run
    folder) into ``folder``, which must be new or empty; return it.

    ``target`` names a hardware profile (``mf.hardware_profile``, e.g. ``8xh100-80gb``) the
    job is planned for: its precision goes into the accelerate config and its GPU into the
    SkyPilot task; without it the job is planned for this machine. GRPO's reward functions
    (``rewards``, or names in ``namespace``; a run's own by default) travel in the folder.
    """
    from modelforge_nb.hardware import detect_hardware, hardware_profile, resolve_precision
    from modelforge_nb.rewards import REWARDS_FILE

    config, shipped = _rewards(_config_of(config_or_run), config_or_run, rewards, namespace)
    out = new_or_empty_folder(
        folder, code="job.target_exists", writer="a job", field="folder", hint="Give a new folder."
    )
    hardware = hardware_profile(target) if target else detect_hardware()
    precision = resolve_precision(config.training.precision, hardware)
    blocks = (
        block_classes(config.model, trust_remote_code=config.trust_remote_code)
        if config.distributed.strategy == "fsdp"
        else ()
    )
    out.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(config)
    data = out / "data"
    settings = config.to_dict()
    settings["dataset"] = _copy_data(config.dataset, data)
    settings["eval_dataset"] = _copy_data(config.eval_dataset, data)
    settings["output_root"] = "runs"
    model_note = (
        f"The model is the local folder `{config.model}`: copy it to the same path there, or "
        "set `model:` in config.yaml to its Hub id."
        if _local(config.model)
        else "The model is downloaded from the Hub by the job (log in first if it is gated)."
    )
    import yaml

    (out / "config.yaml").write_text(
        yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    FinetuneConfig.from_file(out / "config.yaml")  # what the job will read is valid
    accelerate = accelerate_config(config, precision=precision, block_classes=blocks)
    (out / CONFIG_FILE).write_text(yaml.safe_dump(accelerate, sort_keys=True), encoding="utf-8")
    launch = out / "launch.sh"
    launch.write_text(_launch_script(config), encoding="utf-8")
    launch.chmod(0o755)
    name = config.run_name or run_id
    (out / "slurm.sbatch").write_text(_slurm_script(config, name), encoding="utf-8")
    gpu = hardware.gpus[0].name if hardware.gpus else None
    (out / "sky.yaml").write_text(
        yaml.safe_dump(_sky_task(config, name, gpu), sort_keys=False), encoding="utf-8"
    )
    (out / "README.md").write_text(_readme(config, run_id, model_note), encoding="utf-8")
    files: tuple[str, ...] = _FILES
    if shipped is not None:
        (out / REWARDS_FILE).write_bytes(shipped)
        files = (*files, REWARDS_FILE)
    rundir.write_json_atomic(
        out / JOB_FILE,
        {"run_id": run_id, "exported_at": time.time(), "version": __version__, "files": files},
    )
    return out


def prepare(job: Path) -> list[str]:
    """Make the job's run folder (idempotent: every machine, every restart agrees on it);
    the worker's arguments: the folder, and ``--resume`` when it holds a complete
    checkpoint."""
    job = job.resolve()
    run_dir = job_run_folder(job)
    config = FinetuneConfig.from_file(job / "config.yaml")
    if not rundir.is_run_folder(run_dir):
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        # Another machine on a shared filesystem may have made it first.
        with contextlib.suppress(FileExistsError):
            rundir.create(run_dir, run_identity(config, run_dir), config.to_dict())
    from modelforge_nb.rewards import REWARDS_FILE

    if (job / REWARDS_FILE).is_file() and not (run_dir / REWARDS_FILE).is_file():
        shutil.copy2(job / REWARDS_FILE, run_dir / REWARDS_FILE)
    status, gone = rundir.read_status(run_dir)
    if status.get("status") == "completed":
        raise RunError(
            "run.completed",
            f"The run {run_dir.name} already completed.",
            field="run",
            hint="Export a new job to train further.",
        )
    if gone or status.get("status") in {"failed", "stopped"}:
        # A new attempt: queued again, as resume does (the old stop request and heartbeat
        # cleared). Another machine of the job may have queued it first: then it is active.
        try:
            rundir.requeue(run_dir)
        except RunError as error:
            if error.code != "run.active":
                raise
    resume = rundir.last_complete_checkpoint(run_dir) is not None
    return [str(run_dir), *(["--resume"] if resume else [])]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "prepare":
        sys.stderr.write("usage: python -m modelforge_nb.export.job prepare JOB_FOLDER\n")
        return 2
    try:
        arguments = prepare(Path(argv[1]))
    except ModelForgeError as error:
        sys.stderr.write(f"modelforge: {error}\n")
        return 1
    sys.stdout.write("\n".join(arguments) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
