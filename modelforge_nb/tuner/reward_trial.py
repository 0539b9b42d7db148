"""GRPO's rewards, tried before the first step: a few completions of the first prompts are
sampled as GRPO will sample them, and every reward is called on them as trl will call it,
so a reward that raises or returns the wrong shape ends the run with the user's own
traceback, not the trainer's. The completions and their rewards are kept as a ``samples``
event for the dashboard and the chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.rundir import append_event

#: Prompts and completions per prompt that the rewards are tried on before training.
_TRIAL_PROMPTS, _TRIAL_COMPLETIONS = 2, 2


def _sample_completions(
    config: FinetuneConfig, model: Any, tokenizer: Any, examples: list[dict[str, Any]]
) -> tuple[list[Any], list[Any], list[list[int]]]:
    """A few real completions of the first prompts, sampled as GRPO will sample them, in
    trl's shapes (a conversational prompt's completion is a list with one message)."""
    import torch

    prompts, completions, ids = [], [], []
    for example in examples[:_TRIAL_PROMPTS]:
        prompt = example["prompt"]
        chat = isinstance(prompt, list)
        if chat:
            text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        else:
            text = prompt
        encoded = tokenizer(text, return_tensors="pt", add_special_tokens=not chat)
        encoded = encoded.to(next(model.parameters()).device)
        with torch.no_grad():
            output = model.generate(
                **encoded,
                do_sample=True,
                temperature=config.grpo.temperature,
                max_new_tokens=config.grpo.max_completion_length,
                num_return_sequences=_TRIAL_COMPLETIONS,
                pad_token_id=tokenizer.pad_token_id,
            )
        for row in output[:, encoded["input_ids"].shape[1] :].tolist():
            answer = tokenizer.decode(row, skip_special_tokens=True)
            prompts.append(prompt)
            completions.append(
                [{"role": "assistant", "content": answer}] if isinstance(prompt, list) else answer
            )
            ids.append(row)
    return prompts, completions, ids


def checked_rewards(
    config: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    run_dir: Path,
    *,
    probe: bool,
    main: bool,
) -> tuple[Any, ...]:
    """The run's reward functions, each tried on real completions before training (a
    reward that raises ends the run with its own traceback, not the trainer's)."""
    from modelforge_nb.rewards import check_rewards, completion_text, load

    if probe:  # the probe measures memory and speed; any reward will do
        return (lambda completions, **_kw: [0.0] * len(completions),)
    rewards, sources = load(run_dir)
    prompts, completions, ids = _sample_completions(config, model, tokenizer, examples)
    shown = examples[:_TRIAL_PROMPTS]
    columns = {
        key: [example[key] for example in shown for _ in range(_TRIAL_COMPLETIONS)]
        for key in shown[0]
        if key != "prompt"
    }
    scores = check_rewards(rewards, prompts, completions, ids, columns, sources)
    if main:
        append_event(
            run_dir,
            "samples",
            step=0,
            samples=[
                {
                    "prompt": completion_text(prompt),
                    "completion": completion_text(completion),
                    "rewards": {name: values[i] for name, values in scores.items()},
                }
                for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True))
            ],
        )
    return tuple(function for _name, function in rewards)
