"""The docs that are generated or point at files must match the code and the repository."""

from __future__ import annotations

import re

from repo_paths import REPO_ROOT

from modelforge_nb.config.reference import render_reference
from modelforge_nb.magics import build_parser

DOCS = REPO_ROOT / "docs"


def test_the_configuration_reference_is_up_to_date() -> None:
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_reference(), "docs/configuration.md is stale: run `make docs`"


def test_the_reference_lists_every_field_with_its_dotted_name() -> None:
    text = render_reference()
    for name in ("`model`", "`lora.alpha`", "`training.max_seq_length`", "`dpo.beta`"):
        assert name in text
    assert "`distributed.num_processes`" in text and "`extractive-question-answering`" in text


def test_the_magics_reference_covers_every_subcommand() -> None:
    text = (DOCS / "magics.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    for name in commands:
        assert f"%modelforge {name}" in text or f"%%modelforge {name}" in text, name


def test_every_local_link_and_image_in_the_docs_exists() -> None:
    pages = [REPO_ROOT / "README.md", *DOCS.glob("*.md")]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_scale_out_figures_are_what_the_estimator_gives() -> None:
    import importlib.util

    # From its file: make test-colab runs with ``python -P``, so the repository root (and with
    # it the ``bench`` package) is not on sys.path there.
    spec = importlib.util.spec_from_file_location("scale_out", REPO_ROOT / "bench" / "scale_out.py")
    assert spec is not None and spec.loader is not None
    scale_out = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale_out)
    assert scale_out.table() in (DOCS / "scale-out.md").read_text(encoding="utf-8"), (
        "docs/scale-out.md is stale: paste `python -m bench.scale_out`"
    )
