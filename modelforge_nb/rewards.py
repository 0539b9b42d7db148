"""GRPO's reward functions: the built-ins, finding the ones a config names, shipping them to
the worker process, and trying them on real completions before training.

A reward function has trl's signature, ``reward(completions, **kwargs) -> list[float]``:
``completions`` are texts (or, for conversational prompts, lists with one assistant
message), and every other dataset column arrives as a keyword argument holding one value
per completion (``answer``, ``solution``...), with ``prompts`` and ``completion_ids``.
Functions defined in a notebook cell travel to the worker with cloudpickle, which copies
their code and the globals they use.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.errors import ConfigError, ModelForgeError, RewardError
from modelforge_nb.rundir import REWARDS_FILE as REWARDS_FILE  # still importable here

Reward = Callable[..., Sequence[float | None]]


def completion_text(completion: Any) -> str:
    """A completion as text: trl gives conversational completions as a list of messages."""
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


def _normalise(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".").split())


def exact_match(column: str = "answer") -> Reward:
    """1.0 where the completion's answer equals the row's ``column``, else 0.0.

    The answer is the completion's last line, or for a number column its last number
    ("7", "3 + 4 = 7." and "The answer is 7" all match "7"); case, surrounding spaces and a
    final full stop do not count.
    """

    def reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        if column not in columns:
            raise KeyError(
                f"exact_match reads the column {column!r}, which the data does not have "
                f"(it has: {', '.join(sorted(k for k in columns if k != 'trainer_state'))})"
            )
        scores = []
        for completion, expected in zip(completions, columns[column], strict=True):
            text = completion_text(completion)
            wanted = _normalise(str(expected))
            if _NUMBER.fullmatch(wanted):
                numbers = _NUMBER.findall(text)
                got = numbers[-1] if numbers else ""
            else:
                lines = [line for line in text.strip().splitlines() if line.strip()]
                got = _normalise(lines[-1]) if lines else ""
            scores.append(1.0 if got == wanted else 0.0)
        return scores

    reward.__name__ = "exact_match" if column == "answer" else f"exact_match_{column}"
    return reward


def regex(pattern: str) -> Reward:
    """1.0 where the whole completion (spaces around it aside) matches ``pattern``."""
    compiled = re.compile(pattern, re.DOTALL)

    def reward(completions: Sequence[Any], **_columns: Any) -> list[float]:
        return [1.0 if compiled.fullmatch(completion_text(c).strip()) else 0.0 for c in completions]

    reward.__name__ = "regex"
    return reward


def length(target: int = 200) -> Reward:
    """1.0 for a completion of ``target`` characters or fewer, falling linearly to 0.0 at
    twice that: keeps answers short."""
    if target < 1:
        raise ValueError("length's target is a number of characters, at least 1")

    def reward(completions: Sequence[Any], **_columns: Any) -> list[float]:
        sizes = [len(completion_text(c).strip()) for c in completions]
        return [max(0.0, min(1.0, 2.0 - size / target)) for size in sizes]

    reward.__name__ = "length"
    return reward


#: Built-in rewards by the name a config gives them; ``name:argument`` passes an argument
#: (``exact_match:solution``, ``regex:^\\d+$``, ``length:80``).
BUILTINS: dict[str, Callable[..., Reward]] = {
    "exact_match": exact_match,
    "regex": regex,
    "length": length,
}


def _builtin(spec: str) -> Reward | None:
    name, _, argument = spec.partition(":")
    factory = BUILTINS.get(name)
    if factory is None:
        return None
    if factory is regex and not argument:
        raise ConfigError(
            "grpo.reward_argument",
            "The regex reward needs a pattern.",
            field="grpo.rewards",
            hint=r"Write it as regex:PATTERN, e.g. regex:^\d+$",
        )
    try:
        if factory is length:
            return length(int(argument)) if argument else length()
        return factory(argument) if argument else factory()
    except (ValueError, re.error) as error:
        raise ConfigError(
            "grpo.reward_argument",
            f"{spec!r} cannot be built: {error}.",
            field="grpo.rewards",
            hint="length takes a whole number of characters (length:200), regex a valid "
            "pattern, exact_match a column name.",
        ) from None


def reward_name(reward: Any) -> str:
    """The name a reward is listed and plotted under: its function name."""
    name = getattr(reward, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier() or name == "<lambda>":
        raise ConfigError(
            "grpo.reward_unnamed",
            f"The reward {reward!r} has no name to show on the plots.",
            field="grpo.rewards",
            hint="Define it with def NAME(completions, **kwargs): ..., not as a lambda.",
        )
    return name


def resolve_rewards(
    names: Sequence[str],
    given: Sequence[Any] | None = None,
    namespace: Mapping[str, Any] | None = None,
) -> list[tuple[str, Reward]]:
    """The reward functions, in order, as (name, function).

    ``names`` (``grpo.rewards``) pick among the functions ``given`` (by their names), the
    ``namespace`` (a notebook's variables) and the built-ins; with no names, every
    function given is used. A name found nowhere is a ``ConfigError`` naming it.
    """
    given_by_name = {reward_name(f): f for f in given or []}
    for name, function in given_by_name.items():
        if not callable(function):
            raise ConfigError(
                "grpo.reward_not_callable",
                f"The reward {name!r} is not a function.",
                field="grpo.rewards",
                hint="Pass functions: rewards=[correct, fmt].",
            )
    wanted = list(names) or list(given_by_name)
    unused = [name for name in given_by_name if name not in wanted]
    if unused:
        raise ConfigError(
            "grpo.reward_unused",
            f"The reward(s) {', '.join(map(repr, unused))} were given but grpo.rewards "
            f"lists only {', '.join(map(repr, wanted))}.",
            field="grpo.rewards",
            hint="Add them to grpo.rewards, or leave grpo.rewards empty to use every reward given.",
        )
    if not wanted:
        raise ConfigError(
            "grpo.no_rewards",
            "GRPO needs at least one reward function.",
            field="grpo.rewards",
            hint="Pass rewards=[...] to finetune, or list names under grpo.rewards "
            f"(built-ins: {', '.join(BUILTINS)}).",
        )
    resolved: list[tuple[str, Reward]] = []
    for spec in wanted:
        function = given_by_name.get(spec)
        if function is None and namespace is not None and callable(namespace.get(spec)):
            function = namespace[spec]
        if function is None:
            function = _builtin(spec)
        if function is None:
            raise ConfigError(
                "grpo.reward_unknown",
                f"No reward function called {spec!r}.",
                field="grpo.rewards",
                hint="Define it in the notebook (def "
                f"{spec.partition(':')[0]}(completions, **kwargs): ...), pass it as "
                f"rewards=[...], or use a built-in: {', '.join(BUILTINS)}.",
            )
        resolved.append((spec, function))
    return resolved


def _user_modules(rewards: Sequence[tuple[str, Reward]]) -> list[ModuleType]:
    """Modules of the user's own that rewards come from (a ``rewards.py`` beside the
    notebook, a test file): the worker may not be able to import them, so their code is
    copied by value, as a notebook's ``__main__`` is."""
    modules: dict[str, ModuleType] = {}
    for _name, function in rewards:
        module = sys.modules.get(getattr(function, "__module__", None) or "")
        file = getattr(module, "__file__", None)
        if module is None or not file or module.__name__.split(".")[0] == "modelforge_nb":
            continue
        if not {"site-packages", "dist-packages"} & set(Path(file).parts):
            modules[module.__name__] = module
    return list(modules.values())


def pack(rewards: Sequence[tuple[str, Reward]]) -> bytes:
    """The rewards as bytes for the worker; one that cannot be shipped is refused by name."""
    import cloudpickle

    modules = _user_modules(rewards)
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        return _dumps(cloudpickle, rewards)
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def ship(
    config: FinetuneConfig, given: Sequence[Any] | None, namespace: Mapping[str, Any] | None
) -> tuple[FinetuneConfig, bytes]:
    """A GRPO config's rewards found (``resolve_rewards``) and packed for the worker, with
    the config naming them as resolved (``grpo.rewards``: for resume, jobs and the card)."""
    resolved = resolve_rewards(config.grpo.rewards, given, namespace)
    names = [name for name, _function in resolved]
    grpo = config.grpo.model_copy(update={"rewards": names})
    return config.model_copy(update={"grpo": grpo}), pack(resolved)


#: Where each reward's code came from, by function name: (file, first line, lines). Code
#: copied by value loses its file name, so tracebacks are mapped back with these.
Sources = dict[str, tuple[str, int, list[str]]]


def _sources(rewards: Sequence[tuple[str, Reward]]) -> Sources:
    import inspect

    found: Sources = {}
    for _name, function in rewards:
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        try:
            lines, first = inspect.getsourcelines(function)
        except (OSError, TypeError):
            continue
        found[code.co_name] = (code.co_filename, first, lines)
    return found


def _dumps(cloudpickle: Any, rewards: Sequence[tuple[str, Reward]]) -> bytes:
    for name, function in rewards:
        try:
            cloudpickle.dumps(function)
        except Exception as error:
            raise ConfigError(
                "grpo.reward_not_shippable",
                f"The reward {name!r} cannot be sent to the training process: "
                f"{type(error).__name__}: {error}".splitlines()[0][:300],
                field="grpo.rewards",
                hint="It (or a global it uses) holds something that cannot be copied, such as "
                "an open file, a lock or a model on a GPU; create that inside the function.",
            ) from None
    payload: bytes = cloudpickle.dumps({"rewards": list(rewards), "sources": _sources(rewards)})
    return payload


def load(run_dir: Path) -> tuple[list[tuple[str, Reward]], Sources]:
    """The rewards the run was started with and where their code came from (the worker's
    side of ``pack``)."""
    import pickle

    path = run_dir / REWARDS_FILE
    if not path.is_file():
        raise ModelForgeError(
            "grpo.rewards_missing",
            f"{path} is missing: the reward functions of this run are not there.",
            field="grpo.rewards",
            hint="Start the run again from the notebook that defines them.",
        )
    loaded = pickle.loads(path.read_bytes())  # noqa: S301 - written by pack()
    return loaded["rewards"], loaded["sources"]


def _user_frames(error: BaseException, sources: Sources) -> list[traceback.FrameSummary]:
    """The traceback from the reward function inward (the user's code, not the caller's),
    with the file and line of code that was copied by value put back."""
    frames = []
    for frame in traceback.extract_tb(error.__traceback__)[1:]:  # from the reward inward
        source = sources.get(frame.name) if frame.filename == "<dynamic-code>" else None
        lineno = frame.lineno or 0
        if source is not None and 0 <= lineno - source[1] < len(source[2]):
            filename, first, lines = source
            frame = traceback.FrameSummary(
                filename, lineno, frame.name, line=lines[lineno - first].strip()
            )
        frames.append(frame)
    return frames


def check_rewards(
    rewards: Sequence[tuple[str, Reward]],
    prompts: list[Any],
    completions: list[Any],
    completion_ids: list[list[int]],
    columns: Mapping[str, list[Any]],
    sources: Sources | None = None,
) -> dict[str, list[float | None]]:
    """Call each reward on real completions as trl will; return their rewards.

    A reward that raises, or returns anything but one number (or None) per completion, is a
    ``RewardError`` (``grpo.reward_failed``, ``grpo.reward_shape``); one that raised carries
    the traceback of the user's function in ``.details``.
    """
    scores: dict[str, list[float | None]] = {}
    kwargs = {
        **columns,
        "trainer_state": None,
        "log_extra": lambda *_a, **_k: None,
        "log_metric": lambda *_a, **_k: None,
    }
    for name, function in rewards:
        try:
            result = function(
                prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs
            )
        except Exception as error:
            frames = _user_frames(error, sources or {})
            last = traceback.format_exception_only(type(error), error)[-1].strip()
            details = "".join(traceback.format_list(frames)) + last
            where = frames[-1] if frames else traceback.extract_tb(error.__traceback__)[-1]
            raise RewardError(
                "grpo.reward_failed",
                f"The reward {name!r} raised on real completions before training: {last} "
                f"(line {where.lineno} of {where.filename}: {where.line}).",
                field="grpo.rewards",
                hint="Fix the function and start again; its traceback is in the run's "
                "error details.",
                details=details,
            ) from None
        problem = _shape_problem(result, len(completions))
        if problem:
            raise RewardError(
                "grpo.reward_shape",
                f"The reward {name!r} returned {problem}; it must return one number (or None) "
                f"per completion, {len(completions)} here.",
                field="grpo.rewards",
                hint="Return a list such as [1.0 if ... else 0.0 for c in completions].",
            )
        scores[name] = [None if r is None else float(r) for r in result]
    return scores


def _shape_problem(result: Any, wanted: int) -> str | None:
    if isinstance(result, str | bytes) or not isinstance(result, Sequence):
        return f"{type(result).__name__} {reprlib_short(result)}"
    if len(result) != wanted:
        return f"{len(result)} values"
    bad = [r for r in result if r is not None and not _is_number(r)]
    if bad:
        return f"a value that is not a number ({reprlib_short(bad[0])})"
    return None


def _is_number(value: Any) -> bool:
    """A value trl can put in a float tensor: a number (bools count as 0 and 1), or
    anything with ``__float__`` (NumPy and torch scalars), not a string."""
    return isinstance(value, int | float) or hasattr(value, "__float__")


def reprlib_short(value: Any) -> str:
    import reprlib

    return reprlib.repr(value)
