"""`import modelforge_nb` must stay cheap: no torch, transformers, trl or peft."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "trl", "peft", "datasets")


def _loaded_after(code: str) -> list[str]:
    # The answer goes to stderr: IPython 7's start_ipython writes terminal-title escapes to stdout.
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(out.stderr.strip().splitlines()[-1]))


def test_import_loads_no_heavy_module() -> None:
    assert _loaded_after("import modelforge_nb") == []


def test_public_names_resolve_lazily() -> None:
    code = (
        "import modelforge_nb as mf\n"
        "assert mf.EMBEDDED_MODEL_ID.startswith('modelforge:')\n"
        "mf.FinetuneConfig(model='m', dataset='d.jsonl')\n"
        "assert mf.check_dataset and mf.load_dataset_for"
    )
    assert _loaded_after(code) == []


def test_preflight_is_the_function_whatever_is_imported() -> None:
    code = (
        "import modelforge_nb as mf\n"
        "import modelforge_nb.plan.checks\n"
        "from modelforge_nb.plan import detect_hardware\n"
        "assert callable(mf.preflight), mf.preflight\n"
        "assert mf.preflight.__name__ == 'preflight'"
    )
    _loaded_after(code)


def test_unknown_attribute_is_an_attribute_error() -> None:
    import modelforge_nb

    try:
        modelforge_nb.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("a missing name must raise AttributeError")


def test_load_ext_loads_no_heavy_module() -> None:
    code = (
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\n"
        "ip.run_line_magic('load_ext', 'modelforge_nb')\n"
        "assert 'modelforge' in ip.magics_manager.magics['line']\n"
        "assert 'modelforge' in ip.magics_manager.magics['cell']"
    )
    assert _loaded_after(code) == []


def test_the_old_export_paths_are_the_moved_modules() -> None:
    """``modelforge_nb.hub`` and the others moved into ``export/``: the old names give the
    same module objects (one HubToken class, one state), still without torch."""
    code = (
        "import modelforge_nb.card, modelforge_nb.gguf_export, modelforge_nb.hub\n"
        "import modelforge_nb.job\n"
        "import modelforge_nb.export.card as card, modelforge_nb.export.gguf as gguf\n"
        "import modelforge_nb.export.hub as hub, modelforge_nb.export.job as job\n"
        "assert modelforge_nb.card is card and modelforge_nb.gguf_export is gguf\n"
        "assert modelforge_nb.hub is hub and modelforge_nb.job is job\n"
        "assert hub.__spec__.name == 'modelforge_nb.export.hub'\n"
        "from modelforge_nb.hub import HubToken\n"
        "assert HubToken is hub.HubToken\n"
        "import modelforge_nb.export.merged\n"
        "from modelforge_nb.export import merge, MERGED_FOLDER\n"
        "assert merge.__name__ == 'merge' and MERGED_FOLDER == 'merged'"
    )
    assert _loaded_after(code) == []


def test_an_older_job_folders_launch_command_still_runs(tmp_path: Path) -> None:
    """launch.sh in a job folder written before the move runs ``python -m modelforge_nb.job``."""
    for module in ("modelforge_nb.job", "modelforge_nb.export.job"):
        done = subprocess.run(
            [sys.executable, "-m", module, "prepare", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert "is not a job folder" in done.stderr
