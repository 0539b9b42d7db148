"""The CSS classes the Python widgets set and the JupyterLab extension looks for are the
same names: the extension finds the chat's Send, the form's Copy as cell and the
dashboard's Stop (and hides the hints meant for a page without it) by class alone, so a
rename on one side would silently turn those features off.

Both sides are parsed from their sources: ``add_class`` calls and ``class='...'`` in
``modelforge_nb/widgets/*.py``; string constants in ``labextension/src/*.ts`` and selectors
in ``labextension/style/*.css``.
"""

from __future__ import annotations

import re

from repo_paths import REPO_ROOT

#: Widget classes that are there for styling and the UI tests, not for the extension.
NOT_FOR_THE_EXTENSION = {"modelforge-conversation", "modelforge-cell-text", "modelforge-recommend"}

_ADD_CLASS = re.compile(r"""add_class\(\s*(f?)(["'])(.*?)\2\s*\)""")
_HTML_CLASS = re.compile(r"""class=\\?["']([^"'\\]+)\\?["']""")
_TS_STRING = re.compile(r"""['"`]\.?(modelforge-[A-Za-z0-9_-]*)['"`]""")
_CSS_CLASS = re.compile(r"\.(modelforge-[A-Za-z0-9_-]+)")


def _text(folder: str, pattern: str) -> list[str]:
    paths = sorted((REPO_ROOT / folder).glob(pattern))
    assert paths, f"nothing matches {folder}/{pattern}"
    return [path.read_text(encoding="utf-8") for path in paths]


def _widget_classes() -> tuple[set[str], set[str]]:
    """The classes ``add_class`` sets (an f-string's up to its first field: a prefix), and
    every ``modelforge-`` class the widgets emit, in HTML too."""
    added: set[str] = set()
    emitted: set[str] = set()
    for source in _text("modelforge_nb/widgets", "*.py"):
        for is_f, _quote, name in _ADD_CLASS.findall(source):
            added.add(name.split("{")[0] if is_f else name)
        for names in _HTML_CLASS.findall(source):
            emitted.update(n for n in names.split() if n.startswith("modelforge-"))
    return added, emitted | added


def _extension_classes() -> set[str]:
    """Every ``modelforge-`` class the extension's code and stylesheet rely on. Names in
    ``modelforge-nb`` are the package's own ids (plugins, the panel, the icon), not classes."""
    found: set[str] = set()
    for source in _text("labextension/src", "*.ts"):
        found.update(_TS_STRING.findall(source))
    for sheet in _text("labextension/style", "*.css"):
        found.update(_CSS_CLASS.findall(re.sub(r"/\*.*?\*/", "", sheet, flags=re.S)))
    return {name for name in found if not name.startswith("modelforge-nb")}


def test_the_parsers_find_the_classes_this_test_is_about() -> None:
    added, _ = _widget_classes()
    extension = _extension_classes()
    for name in ("modelforge-chat-send", "modelforge-stop", "modelforge-run-"):
        assert name in added and name in extension, name
    assert "modelforge-enter-hint" in extension  # from the stylesheet


def test_every_class_the_extension_looks_for_is_set_by_a_widget() -> None:
    _, emitted = _widget_classes()
    missing = sorted(_extension_classes() - emitted)  # the run's class: its prefix on both
    assert not missing, (
        f"labextension/ looks for {missing}, which no widget in modelforge_nb/widgets sets"
    )


def test_every_class_a_widget_sets_is_used_by_the_extension_or_said_not_to_be() -> None:
    added, _ = _widget_classes()
    extension = _extension_classes()
    unused = sorted(added - extension - NOT_FOR_THE_EXTENSION)
    assert not unused, (
        f"the widgets set {unused}, which labextension/ no longer looks for: rename them back "
        "in the extension, or list them in NOT_FOR_THE_EXTENSION"
    )
    stale = sorted(NOT_FOR_THE_EXTENSION - added)
    assert not stale, f"NOT_FOR_THE_EXTENSION names {stale}, which no widget sets any more"
    assert not NOT_FOR_THE_EXTENSION & extension, "the extension uses a class listed as unused"
