"""The built-in GRPO rewards, as trl calls them (texts or conversational completions)."""

from __future__ import annotations

import pytest

from modelforge_nb import rewards
from modelforge_nb.errors import ConfigError


def _chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_exact_match_reads_the_last_number_or_the_last_line() -> None:
    reward = rewards.exact_match("solution")
    completions = ["7", "3 + 4 = 7.", "The answer is 8", _chat("It is 7")]
    assert reward(completions, solution=["7"] * 4) == [1.0, 1.0, 0.0, 1.0]
    words = rewards.exact_match()
    assert words(["Thinking...\nParis.", "paris is it"], answer=["Paris", "Paris"]) == [1.0, 0.0]
    with pytest.raises(KeyError, match="'answer'"):
        words(["x"], solution=["x"])


def test_regex_and_length() -> None:
    fmt = rewards.regex(r"<answer>\d+</answer>")
    assert fmt([" <answer>12</answer> ", "<answer>x</answer>"]) == [1.0, 0.0]
    short = rewards.length(10)
    assert short(["a" * 5, "a" * 15, "a" * 30]) == [1.0, 0.5, 0.0]


def test_names_resolve_to_given_functions_the_namespace_and_built_ins() -> None:
    def mine(completions, **_kw):  # type: ignore[no-untyped-def]
        return [0.0] * len(completions)

    resolved = rewards.resolve_rewards(["mine", "exact_match:solution", "length:40"], [mine])
    assert [name for name, _f in resolved] == ["mine", "exact_match:solution", "length:40"]
    assert resolved[0][1] is mine
    assert rewards.resolve_rewards([], [mine])[0][0] == "mine"
    assert rewards.resolve_rewards(["mine"], None, {"mine": mine})[0][1] is mine
    with pytest.raises(ConfigError, match="regex:PATTERN"):
        rewards.resolve_rewards(["regex"])
    with pytest.raises(ConfigError) as unnamed:
        rewards.resolve_rewards([], [lambda *_a, **_kw: [0.0]])
    assert unnamed.value.code == "grpo.reward_unnamed"
    with pytest.raises(ConfigError) as none:
        rewards.resolve_rewards([])
    assert none.value.code == "grpo.no_rewards"


def test_bad_arguments_and_unlisted_functions_are_config_errors() -> None:
    def mine(completions, **_kw):  # type: ignore[no-untyped-def]
        return [0.0] * len(completions)

    for spec in ("length:short", "regex:(unclosed"):
        with pytest.raises(ConfigError) as bad:
            rewards.resolve_rewards([spec])
        assert bad.value.code == "grpo.reward_argument" and spec in str(bad.value)
    with pytest.raises(ConfigError) as unused:
        rewards.resolve_rewards(["length"], [mine])
    assert unused.value.code == "grpo.reward_unused" and "'mine'" in str(unused.value)


def test_the_shape_check_takes_what_trl_takes() -> None:
    import numpy as np

    from modelforge_nb.errors import RewardError

    def returning(values):  # type: ignore[no-untyped-def]
        def reward(completions, **_kw):  # type: ignore[no-untyped-def]
            return values

        return reward

    args = (["p", "p"], ["a", "b"], [[1], [2]], {})
    good = rewards.check_rewards([("r", returning([True, np.float32(0.5)]))], *args)
    assert good == {"r": [1.0, 0.5]}
    assert rewards.check_rewards([("r", returning([None, 1]))], *args) == {"r": [None, 1.0]}
    for wrong in (["1.0", 0.0], [1.0], 1.0, "10"):
        with pytest.raises(RewardError) as raised:
            rewards.check_rewards([("r", returning(wrong))], *args)
        assert raised.value.code == "grpo.reward_shape"
