"""The model catalog (``data/catalog.json``): current small models per task, with the config
fields the estimator needs, so recommendations and offline estimates need no Hub."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_catalog() -> tuple[dict[str, Any], ...]:
    text = resources.files("modelforge_nb.plan").joinpath("data/catalog.json").read_text()
    return tuple(json.loads(text)["models"])


def catalog_entry(model_id: str) -> dict[str, Any] | None:
    return next((e for e in load_catalog() if e["id"] == model_id), None)
