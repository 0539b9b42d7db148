"""Every code example in README.md and docs/*.md, run as printed from the installed package.

Each page's ```python blocks (and its ``%%modelforge`` YAML cells) run in order, as a reader
would paste them into one notebook: in a fresh kernel where a block uses ``%`` magics, else in
a fresh ``python -P`` process. The working folder and ``MODELFORGE_HOME`` are empty temporary
folders, the Hub is off, and only the package itself is importable (not the repository), so a
block that reads a repository file, or data no page creates, fails. Each YAML finetune config is
validated with ``FinetuneConfig.from_dict`` and its data checked with ``check_dataset``, the data
made the way the docs make it (``DATA_MADE_BY``). A block that is not run is in ``NOT_RUN``
with its reason; a block neither run nor listed, or listed but gone, fails the test.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from repo_paths import REPO_ROOT

import modelforge_nb as mf

PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO_ROOT / "docs").glob("*.md"))]

# (page, n): the n-th ```python or ```yaml block of the page, from 1, with a text it holds
# (so a block that moved is noticed) and why it is not run.
NOT_RUN: dict[tuple[str, int], tuple[str, str]] = {
    ("README.md", 1): (
        "%modelforge ",
        "the Quickstart: tests/notebooks/test_readme.py runs it in a real kernel",
    ),
    ("README.md", 2): (
        "run = mf.finetune(config)",
        "the Quickstart: tests/notebooks/test_readme.py trains it and checks the dashboard",
    ),
    ("README.md", 5): (
        "run.resume()",
        "a list of Run calls, not a script (stop, then resume at once, would find the worker "
        "still running), and two epochs of SmolLM2 take minutes on a CPU; "
        "tests/integration covers each call",
    ),
    ("README.md", 7): (
        "%%modelforge finetune --name zephyr",
        "trains SmolLM2 for 20 steps (minutes on a CPU); its config and data are checked below",
    ),
    ("README.md", 8): (
        'mf.push_to_hub(run, "you/zephyr-smollm2")',
        "pushes to the real Hub; `messages` and `...` stand for the reader's own",
    ),
    ("docs/export.md", 1): (
        "mf.export_gguf(run",
        "needs a trained run and the gguf-export extra; tests/integration/test_gguf_export.py "
        "exports and checks one",
    ),
    ("docs/install.md", 1): ("%pip install", "installs from PyPI"),
    ("docs/magics.md", 1): (
        "adapter: qlora",
        "QLoRA of a Hub model: needs the Hub and a CUDA GPU; its config and data are checked below",
    ),
    ("docs/methods.md", 2): (
        "max_steps: 200",
        "200 GRPO steps of SmolLM2 take hours on a CPU; "
        "example_notebooks/07_grpo_rewards.ipynb trains two notebook rewards on the tiny model",
    ),
    ("docs/methods.md", 3): (
        "%%modelforge finetune --name sums",
        "GRPO of SmolLM2 (hours on a CPU); its config and data are checked below",
    ),
    ("docs/quickstart.md", 3): (
        "%%modelforge finetune --name zephyr",
        "the quickstart's 20 SmolLM2 steps (minutes on a CPU, `make demo` runs them); "
        "its config and data are checked below, and that the Python config says the same",
    ),
    ("docs/quickstart.md", 4): (
        "run = mf.finetune(config)",
        "the same 20 SmolLM2 steps; `make demo` and tests/notebooks/test_example_notebooks.py "
        "train this config",
    ),
    ("docs/quickstart.md", 5): ("%modelforge chat {run.id}", "needs the run trained above"),
    ("docs/scale-out.md", 2): (
        "mf.export_job(run_or_config",
        "`run_or_config` stands for the reader's run; tests/integration/test_scale_out.py "
        "exports a job and runs it",
    ),
    ("docs/scale-out.md", 3): (
        'mf.attach("llama-8b-job")',
        "needs a job trained elsewhere; tests/integration/test_scale_out.py attaches one",
    ),
}

# YAML blocks that hold a few fields of a config, not a whole one: validated on top of a
# config of the embedded model and the example data; their data files are the reader's own.
FRAGMENTS: dict[tuple[str, int], str] = {
    ("docs/datasets.md", 2): "columns: {prompt: question, completion: answer}",
    ("docs/datasets.md", 3): "tags: {role: speaker",
    ("docs/scale-out.md", 1): "num_processes: 16",
}

# Each data file a YAML config names, and the block that makes it (runnable on its own).
DATA_MADE_BY: dict[str, tuple[str, int]] = {
    "data/train.jsonl": ("README.md", 3),
    "zephyr_train.jsonl": ("docs/quickstart.md", 2),
    "sums.jsonl": ("docs/methods.md", 1),
}


@dataclass(frozen=True)
class Block:
    page: str
    number: int
    language: str
    text: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.page, self.number)

    @property
    def is_cell_magic(self) -> bool:
        return self.text.startswith("%%modelforge")

    @property
    def uses_magics(self) -> bool:
        return any(line.lstrip().startswith("%") for line in self.text.splitlines())

    def yaml_body(self) -> str:
        return self.text.split("\n", 1)[1] if self.is_cell_magic else self.text


FENCE = re.compile(r"^( *)```(python|yaml)\n(.*?)^\1```$", re.DOTALL | re.MULTILINE)


def page_blocks(page: str) -> list[Block]:
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    return [
        Block(page, n, match[2], textwrap.dedent(match[3]))
        for n, match in enumerate(FENCE.finditer(text), start=1)
    ]


ALL_BLOCKS = [block for page in PAGES for block in page_blocks(page)]
BY_KEY = {block.key: block for block in ALL_BLOCKS}


def runs_in_page(block: Block) -> bool:
    """Run with its page: a Python block or a ``%%modelforge`` cell not listed in NOT_RUN."""
    return block.key not in NOT_RUN and (block.language == "python" or block.is_cell_magic)


def is_config(block: Block) -> bool:
    return block.language == "yaml" and block.key not in FRAGMENTS


def test_every_block_is_run_or_listed_with_its_reason() -> None:
    for key, (snippet, _reason) in NOT_RUN.items():
        assert key in BY_KEY, f"NOT_RUN lists {key}, which is no longer a code block"
        assert snippet in BY_KEY[key].text, f"{key} no longer holds {snippet!r}: it moved"
    for key, snippet in FRAGMENTS.items():
        assert key in BY_KEY and snippet in BY_KEY[key].text, f"FRAGMENTS' {key} moved"
    for path, key in DATA_MADE_BY.items():
        assert key in BY_KEY and path in BY_KEY[key].text, f"{key} no longer writes {path}"
        assert runs_in_page(BY_KEY[key]), f"{key} makes {path} but is not run"
    unrun = [
        b.key
        for b in ALL_BLOCKS
        if not (runs_in_page(b) or is_config(b) or b.key in FRAGMENTS or b.key in NOT_RUN)
    ]
    assert not unrun, f"blocks neither run nor listed in NOT_RUN: {unrun}"
    # Every page with examples is here, README.md's and docs/'s.
    assert {b.page for b in ALL_BLOCKS} >= {"README.md", "docs/datasets.md", "docs/methods.md"}


@pytest.fixture(scope="module")
def package_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only the package under test, for PYTHONPATH: what a wheel gives."""
    site = tmp_path_factory.mktemp("site")
    (site / "modelforge_nb").symlink_to(Path(mf.__file__).resolve().parent)
    return site


@pytest.fixture
def reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_only: Path
) -> tuple[Path, dict[str, str]]:
    """An empty working folder and the environment a reader's kernel or script gets."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", str(package_only))
    return work, dict(os.environ)


def run_script(
    source: str, work: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``source`` run as a script in ``work``, as a reader's ``python`` would run it."""
    script = work.parent / "blocks.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-P", str(script), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def isolation_check(package_only: Path, work: Path) -> str:
    """Code that fails unless the package comes from ``package_only``, the working folder is
    ``work`` and the repository is on sys.path only where the interpreter itself puts it (an
    editable install's .pth)."""
    bare = subprocess.run(
        [sys.executable, "-P", "-c", "import sys, json; print(json.dumps(sys.path))"],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    on_path = str(REPO_ROOT) in json.loads(bare.stdout)
    return f"""import os, sys
import modelforge_nb
assert modelforge_nb.__file__.startswith({str(package_only)!r}), modelforge_nb.__file__
assert os.getcwd() == {str(work)!r}, os.getcwd()
assert {on_path!r} or {str(REPO_ROOT)!r} not in sys.path, sys.path
"""


def printed_output(block: Block) -> str | None:
    """What a block shows it prints: the comment lines after its last line of code, when that
    line is a print()."""
    lines = block.text.rstrip("\n").splitlines()
    tail: list[str] = []
    while lines and lines[-1].startswith("#"):
        tail.insert(0, lines.pop()[2:])
    if not tail or not lines or not lines[-1].startswith("print("):
        return None
    return "\n".join(tail)


RUN_PAGES = sorted({b.page for b in ALL_BLOCKS if runs_in_page(b)})
SLOW_PAGES = {"README.md"}  # preflight reads the embedded SmolLM2 (converted on first use)


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=[pytest.mark.slow] if p in SLOW_PAGES else []) for p in RUN_PAGES],
)
def test_the_page_s_examples_run_as_printed(
    page: str, reader: tuple[Path, dict[str, str]], package_only: Path
) -> None:
    work, env = reader
    isolation = isolation_check(package_only, work)
    blocks = [b for b in page_blocks(page) if runs_in_page(b)]
    if any(b.uses_magics for b in blocks):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(isolation)] + [
            nbformat.v4.new_code_cell(b.text.rstrip("\n")) for b in blocks
        ]
        NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(work)}},
        ).execute()
        errors = [o for c in notebook.cells for o in c.outputs if o.output_type == "error"]
        assert not errors, errors
    else:
        source = isolation + "".join(
            f"\n# --- {b.page}, block {b.number}\n{b.text}" for b in blocks
        )
        done = run_script(source, work, env)
        assert done.returncode == 0, done.stderr[-4000:]
        for block in blocks:
            shown = printed_output(block)
            if shown is not None:
                assert shown.strip() in done.stdout, (block.key, done.stdout)
    for path, key in DATA_MADE_BY.items():
        if key[0] == page:
            assert (work / path).is_file(), f"{key} did not write {path}"


def test_every_yaml_config_validates_and_its_data_checks(
    reader: tuple[Path, dict[str, str]], package_only: Path
) -> None:
    """Each YAML finetune config (run or not) is a valid FinetuneConfig whose data a page makes,
    and check_dataset finds that data sound; each fragment is valid on top of a config."""
    work, env = reader
    configs = [b for b in ALL_BLOCKS if is_config(b)]
    assert len(configs) >= 5
    checks = []
    for n, block in enumerate(configs):
        fields = yaml.safe_load(block.yaml_body())
        assert {"model", "dataset"} <= fields.keys(), (block.key, "not a whole config")
        assert fields["dataset"] in DATA_MADE_BY, (
            block.key,
            f"names {fields['dataset']!r}, which no page's block makes (DATA_MADE_BY)",
        )
        maker = BY_KEY[DATA_MADE_BY[fields["dataset"]]]
        checks.append((f"c{n}", block.key, maker.text, block.yaml_body()))
    source = isolation_check(package_only, work) + textwrap.dedent(
        """
        import json, os, sys, yaml
        import modelforge_nb as mf
        from modelforge_nb.examples import ZEPHYR_TRAIN

        for folder, key, maker, body in json.loads(sys.argv[1]):
            os.makedirs(folder)
            os.chdir(folder)
            exec(compile(maker, f"{key[0]} block (data)", "exec"), {"__name__": "__main__"})
            config = mf.FinetuneConfig.from_dict(yaml.safe_load(body))
            report = mf.check_dataset(config)
            assert report.ok, (key, report.summary())
            print("checked", key, report.summary().splitlines()[0])
            os.chdir("..")
        for key, body in json.loads(sys.argv[2]):
            fields = {"model": mf.EMBEDDED_MODEL_ID, "dataset": str(ZEPHYR_TRAIN)}
            fields.update(yaml.safe_load(body))
            mf.FinetuneConfig.from_dict(fields)
            print("checked", key, "valid")
        """
    )
    fragments = [(key, BY_KEY[key].text) for key in FRAGMENTS]
    done = run_script(source, work, env, json.dumps(checks), json.dumps(fragments))
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("checked ") == len(checks) + len(fragments), done.stdout


def test_the_quickstart_s_python_config_is_its_yaml_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/quickstart.md shows one config twice, as a cell and from Python: the same fields."""
    monkeypatch.chdir(tmp_path)
    (cell,) = [b for b in page_blocks("docs/quickstart.md") if b.is_cell_magic]
    (python,) = [b for b in page_blocks("docs/quickstart.md") if "mf.FinetuneConfig(" in b.text]
    statement = next(
        node
        for node in ast.parse(python.text).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "config"
    )
    expression = compile(ast.Expression(statement.value), "quickstart", "eval")
    from_python = eval(expression, {"mf": mf})  # noqa: S307 (our own page's expression)
    from_yaml = mf.FinetuneConfig.from_dict(yaml.safe_load(cell.yaml_body()))
    assert from_python.model_dump(exclude={"run_name"}) == from_yaml.model_dump(
        exclude={"run_name"}
    )
