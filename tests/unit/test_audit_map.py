"""docs/from-modelforge.md lists all 20 audit findings, each with a test that exists."""

from __future__ import annotations

import re

from repo_paths import REPO_ROOT


def test_every_audit_finding_has_an_existing_pinning_test() -> None:
    doc = (REPO_ROOT / "docs" / "from-modelforge.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \|.*\| `(test_audit_\w+)` \|$", doc, flags=re.MULTILINE)
    assert sorted(int(number) for number, _ in rows) == list(range(1, 21))
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "tests").rglob("*.py"))
    for number, name in rows:
        assert f"def {name}(" in sources, f"finding {number}: {name} does not exist"
        assert name.startswith(f"test_audit_{int(number):02d}_"), name
