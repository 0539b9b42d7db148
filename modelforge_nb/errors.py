"""The one family of errors the package raises on purpose.

Every message follows one style: what is wrong, the offending value, what to do. The
pieces are kept apart (``code``, ``message``, ``field``, ``hint``) so the notebook, the
REST handlers and the tests can each show or check them without parsing text.
"""

from __future__ import annotations

from typing import Any


class ModelForgeWarning(UserWarning):
    """A warning raised by modelforge-nb itself (tests turn these into errors)."""


class ModelForgeError(Exception):
    """A user-facing error with a stable dotted ``code``.

    ``code`` is stable across releases (tests and docs cite it), ``message`` says what
    is wrong and names the value, ``field`` is the config field or file it concerns,
    and ``hint`` says what to do.
    """

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        hint: str | None = None,
        details: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.field = field
        self.hint = hint
        self.details = details
        """More than the one line, when there is more to say (a run records it as
        ``error_details``)."""
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        tail = f" {self.hint}" if self.hint else ""
        return f"{where}{self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by REST errors and saved run records."""
        out: dict[str, Any] = {"code": self.code, "message": str(self)}
        if self.field is not None:
            out["field"] = self.field
        return out


class ConfigError(ModelForgeError, ValueError):
    """A configuration that cannot be built; ``problems`` lists every bad field.

    Also a ``ValueError``, as pydantic's own validation errors are, so code written
    against either catches it."""

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        hint: str | None = None,
        problems: list[ModelForgeError] | None = None,
    ) -> None:
        self.problems = problems or []
        super().__init__(code, message, field, hint)


class DatasetError(ModelForgeError):
    """A dataset that cannot be read or does not fit its task."""


class PreflightError(ModelForgeError):
    """A run refused before anything loads; ``report`` holds the full preflight report."""

    def __init__(self, code: str, message: str, report: Any = None) -> None:
        self.report = report
        super().__init__(code, message)


class RunError(ModelForgeError):
    """A run that cannot be found, started, stopped or resumed."""


class ModelError(ModelForgeError):
    """A model that cannot be found, prepared or loaded."""


class RewardError(ModelForgeError):
    """A GRPO reward function that failed on real completions; ``details`` holds the
    traceback of the user's own function."""
