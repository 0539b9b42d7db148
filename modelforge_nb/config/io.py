"""Loading configs from YAML, JSON and dicts, and turning pydantic's errors into ours.

``ConfigError`` lists every bad field with its value and what to do, in the one message
style, so the notebook can print it without a traceback.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelforge_nb.errors import ConfigError, ModelForgeError

# The config class is passed in (``FinetuneConfig.from_dict`` and friends), so this module
# never imports the models it loads.
ConfigT = TypeVar("ConfigT", bound=BaseModel)

_MAX_SHOWN_VALUE = 60
# A bounded repr: a value built from YAML aliases (a "billion laughs") or nested thousands
# deep is shown by its first few items, never expanded in full.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4
_REPR.maxstring, _REPR.maxother = _MAX_SHOWN_VALUE, 40


def _show(value: Any) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= _MAX_SHOWN_VALUE else text[: _MAX_SHOWN_VALUE - 3] + "..."


def too_deep() -> ConfigError:
    """A config nested past what the parsers can follow (YAML thousands of levels deep)."""
    return ConfigError(
        "config.too_deep",
        "The config is nested too deeply to read.",
        hint="A config is a few levels of 'name: value'; flatten it.",
    )


def _known_fields(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names allowed where ``loc`` points, for 'did you mean' hints."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _hint(error: Mapping[str, Any], known: list[str]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        close = difflib.get_close_matches(name, known, n=1)
        return f"Did you mean '{close[0]}'?" if close else f"Known fields: {', '.join(known)}."
    if kind == "missing":
        return "Add it."
    if kind == "literal_error":
        return f"Use one of: {ctx.get('expected', '')}."
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        bounds = {
            "greater_than": f"greater than {ctx.get('gt')}",
            "greater_than_equal": f"at least {ctx.get('ge')}",
            "less_than": f"less than {ctx.get('lt')}",
            "less_than_equal": f"at most {ctx.get('le')}",
        }
        return f"Use a number {bounds[kind]}."
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "Use a whole number."
    if kind == "finite_number":
        return "Use a finite number (not inf or nan)."
    if kind in {"float_parsing", "float_type"}:
        return "Use a number."
    if kind in {"bool_parsing", "bool_type"}:
        return "Use true or false."
    if kind in {"string_type", "string_too_short"}:
        return "Use a non-empty text value."
    if kind == "string_pattern_mismatch":
        return "Use letters, digits, '.', '_' and '-' only, starting with a letter or digit."
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return "Use a mapping of field: value."
    return ""


def _field_name(loc: tuple[str | int, ...]) -> str:
    """The dotted field path, without the union member names pydantic appends."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper())]
    parts = [p for p in parts if p not in {"int", "float", "str", "bool", "list[str]"}]
    parts = [p for p in parts if not p.startswith(("literal[", "function-"))]
    return ".".join(parts) or "config"


def problems_from_validation(
    error: ValidationError, model: type[BaseModel]
) -> list[ModelForgeError]:
    """One ``ModelForgeError`` per bad field, merging union branches of the same field."""
    problems: list[ModelForgeError] = []
    seen: set[str] = set()
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        cross = getattr(cause, "problems", None)
        if cross:
            for field, message, hint in cross:
                problems.append(ModelForgeError("config.invalid", message, field=field, hint=hint))
            continue
        loc = tuple(item["loc"])
        field = _field_name(loc)
        if field in seen:
            continue
        seen.add(field)
        hint = _hint(item, _known_fields(model, loc))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "value_error" and "; " in message:
            message, fix = message.split("; ", 1)
            hint = fix[:1].upper() + fix[1:] + "."
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] != "missing":
            message = (
                f"{message.replace('Input should', 'should')} (got {_show(item.get('input'))})"
            )
        problems.append(
            ModelForgeError(f"config.{item['type']}", message + ".", field=field, hint=hint or None)
        )
    return problems


def config_error(problems: list[ModelForgeError]) -> ConfigError:
    """One ``ConfigError`` listing every problem."""
    count = len(problems)
    lines = "\n".join(f"- {p}" for p in problems)
    return ConfigError(
        "config.invalid",
        f"The config has {count} problem{'s' if count != 1 else ''}:\n{lines}",
        field=problems[0].field if count == 1 else None,
        problems=problems,
    )


def config_from_dict(
    cls: type[ConfigT], data: Any, *, base_dir: str | Path | None = None
) -> ConfigT:
    if not isinstance(data, dict):
        raise ConfigError(
            "config.not_a_mapping",
            f"A config must be a mapping of field: value, not {type(data).__name__} "
            f"({_show(data)}).",
            hint="Start with 'model: ...' and 'dataset: ...' lines.",
        )
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(
            "config.bad_key",
            f"Field names must be text, got {_show(bad_keys[0])}.",
            hint="Write each field as 'name: value'.",
        )
    context = {"base_dir": str(Path(base_dir).resolve()) if base_dir else None}
    try:
        return cls.model_validate(data, context=context)
    except ValidationError as error:
        raise config_error(problems_from_validation(error, cls)) from None
    except RecursionError:
        raise too_deep() from None


def config_from_yaml(
    cls: type[ConfigT], text: str, *, base_dir: str | Path | None = None
) -> ConfigT:
    import yaml

    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise too_deep() from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(
            "config.yaml",
            f"The config is not valid YAML{where}: {problem}.",
            hint="Check the indentation and the 'name: value' form on that line.",
        ) from None
    if data is None:
        raise ConfigError(
            "config.empty",
            "The config is empty.",
            hint="Give at least 'model:' and 'dataset:'.",
        )
    return config_from_dict(cls, data, base_dir=base_dir)


def config_from_file(cls: type[ConfigT], path: str | Path) -> ConfigT:
    source = Path(path).expanduser().resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            "config.unreadable",
            f"Cannot read the config file {source}: {error.strerror or error}.",
            hint="Check the path.",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            "config.encoding", f"{source} is not UTF-8 text.", hint="Save it as UTF-8."
        ) from None
    return config_from_yaml(cls, text, base_dir=source.parent)
