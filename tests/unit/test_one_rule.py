"""Facts decided once: the precision rule (training and chat), the runs folder (runs and
preflight's free-disk check) and the run folder's file names (rundir.py alone)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from modelforge_nb.environment import default_home, runs_root
from modelforge_nb.hardware import GpuInfo, HardwareInfo, resolve_precision
from modelforge_nb.loading import inference_dtype


def _machine(*gpus: GpuInfo) -> HardwareInfo:
    return HardwareInfo(
        gpus=gpus,
        cpu_count=2,
        ram_total_bytes=13 * 10**9,
        ram_available_bytes=12 * 10**9,
        tier="mid",
        source="test",
    )


def _gpu(name: str, capability: tuple[int, int]) -> GpuInfo:
    # As detection reports them: bf16 from compute capability 8.0 on.
    return GpuInfo(
        index=0,
        name=name,
        total_bytes=15 * 10**9,
        free_bytes=15 * 10**9,
        compute_capability=capability,
        driver="550",
        bf16=capability >= (8, 0),
    )


@pytest.mark.parametrize(
    ("machine", "precision", "dtype"),
    [
        (_machine(_gpu("Tesla T4", (7, 5))), "fp16", torch.float16),
        (_machine(_gpu("NVIDIA A100-SXM4-40GB", (8, 0))), "bf16", torch.bfloat16),
        (_machine(), "fp32", torch.float32),
    ],
)
def test_chat_loads_in_the_precision_training_uses(
    machine: HardwareInfo, precision: str, dtype: torch.dtype
) -> None:
    assert resolve_precision("auto", machine) == precision
    assert inference_dtype(machine) == dtype


@pytest.mark.parametrize(
    ("variables", "home"),
    [
        ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, Path("/kaggle/working/modelforge-runs")),
        ({"COLAB_RELEASE_TAG": "release-colab"}, Path("/content/modelforge-runs")),
    ],
)
def test_preflight_checks_the_disk_where_colab_and_kaggle_runs_go(
    variables: dict[str, str],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_causal: Path,
    tiny_data: dict[str, Path],
) -> None:
    from modelforge_nb.config import FinetuneConfig
    from modelforge_nb.plan import preflight

    monkeypatch.delenv("MODELFORGE_HOME", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert default_home() == home
    report = preflight(FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"])))
    assert report.disk_folder == home / "runs" == runs_root(None)


def test_the_readers_read_every_data_format_the_config_accepts() -> None:
    from modelforge_nb.config.models import DATA_FILE_SUFFIXES
    from modelforge_nb.data.readers import _READERS

    assert set(_READERS) == set(DATA_FILE_SUFFIXES)


def test_a_long_runs_tail_is_read_without_reading_the_whole_log(tmp_path: Path) -> None:
    import json

    import modelforge_nb.rundir as rundir

    with (tmp_path / rundir.EVENTS_FILE).open("w") as log:
        log.write("not json: the head of a log the tail reader never reaches\n" * 10)
        for step in range(1, 100_001):
            log.write(json.dumps({"type": "log", "step": step, "loss": 1 / step}) + "\n")
    tail = rundir.read_tail_events(tmp_path, max_bytes=64 * 1024)
    steps = [e["step"] for e in tail]
    assert steps[-1] == 100_000 and steps == list(range(steps[0], 100_001))
    assert 500 < len(steps) < 2000  # whole lines from the last 64 KiB only


def _spelled_names(tree: ast.AST, names: frozenset[str]) -> list[tuple[int, str]]:
    """Run-folder file names written out in string literals (docstrings aside): a literal
    that is the name, or holds it as a path part or a word (``runs/*/events.jsonl``,
    ``see worker.log``)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    pattern = re.compile(
        r"(?<![\w.-])(" + "|".join(re.escape(n) for n in sorted(names)) + r")(?![\w-])"
    )
    return sorted(
        (node.lineno, match.group(1))
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
        for match in pattern.finditer(node.value)
    )


#: preflight (plan/) reads a *model's* config.json (a Hub or saved model folder), not a run's.
_MODEL_CONFIG_READERS = "plan/"


def test_only_rundir_spells_the_run_folders_file_names() -> None:
    import modelforge_nb.rundir as rundir

    package = Path(rundir.__file__).parent
    spelled = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        if where == "rundir.py":
            continue
        names = rundir.FILE_NAMES
        if where.startswith(_MODEL_CONFIG_READERS):
            names = names - {rundir.MODEL_CONFIG_FILE}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        spelled += [f"{where}:{line}: {name}" for line, name in _spelled_names(tree, names)]
    assert spelled == []


def test_the_file_name_check_finds_a_spelled_name() -> None:
    import modelforge_nb.rundir as rundir

    source = (
        '"""Reads status.json (a docstring may name it)."""\n'
        'STATUS = "status.json"\n'
        'glob = f"runs/*/events.jsonl"\n'
        'fine = "adapter_config.json", "tokenizer_config.json"\n'
        'message = "see worker.log."\n'
    )
    found = [name for _line, name in _spelled_names(ast.parse(source), rundir.FILE_NAMES)]
    assert found == ["status.json", "events.jsonl", "worker.log"]
