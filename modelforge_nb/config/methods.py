"""THE method table: every method's trainer, settings, cost and default learning rate.

Like the task table (``config/tasks.py``), one entry per method, and everything else reads
it: the config's ``method`` choices and its description, the recipes (``tuner/recipes.py``
imports the trainer by its module and class name and looks the arguments builder up by
name in ``tuner/builders.py``), the per-method settings sections, the tasks' format keys
and the estimator. Names stay strings, so this module loads neither trl nor the tuner
(layer 3) from the config layer (layer 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One training method."""

    name: str
    summary: str
    """What it learns from, as the config's ``method`` field describes it."""
    trainer_module: str
    trainer_class: str
    arguments: str
    """The function of ``tuner/builders.py`` that builds the trainer's arguments."""
    section: str | None
    """The config's section holding this method's own settings; None: it has none."""
    pairs: bool
    """Each row runs two answers (chosen and rejected) through the model with gradients.
    KTO's mismatched answer for its KL term runs without gradients (``torch.no_grad`` in
    trl's ``KTOTrainer._compute_kl_logps``), so it keeps no activations: KTO is no pair."""
    full_learning_rate: float
    """trl's own default for this trainer, which it sets for training every weight."""
    adapter_learning_rate: float
    """The default for LoRA and QLoRA: ten times trl's, as for a low-rank adapter the best
    rate is about ten times that of full fine-tuning (trl's "LoRA without regret" guide)."""

    def learning_rate(self, adapter: str) -> float:
        """The default peak learning rate with ``adapter``."""
        return self.full_learning_rate if adapter == "full" else self.adapter_learning_rate


METHODS: dict[str, Method] = {
    "sft": Method(
        name="sft",
        summary="supervised fine-tuning",
        trainer_module="trl",
        trainer_class="SFTTrainer",
        arguments="sft_arguments",
        section=None,
        pairs=False,
        full_learning_rate=2e-5,
        adapter_learning_rate=2e-4,
    ),
    "dpo": Method(
        name="dpo",
        summary="preference pairs against a reference model",
        trainer_module="trl",
        trainer_class="DPOTrainer",
        arguments="dpo_arguments",
        section="dpo",
        pairs=True,
        full_learning_rate=1e-6,
        adapter_learning_rate=1e-5,
    ),
    "orpo": Method(
        name="orpo",
        summary="preference pairs, no reference model",
        # trl keeps ORPO among its experimental trainers.
        trainer_module="trl.experimental.orpo",
        trainer_class="ORPOTrainer",
        arguments="orpo_arguments",
        section="orpo",
        pairs=True,
        full_learning_rate=1e-6,
        adapter_learning_rate=1e-5,
    ),
    "kto": Method(
        name="kto",
        summary="answers labelled good or bad",
        trainer_module="trl",
        trainer_class="KTOTrainer",
        arguments="kto_arguments",
        section="kto",
        pairs=False,
        full_learning_rate=1e-6,
        adapter_learning_rate=1e-5,
    ),
    "grpo": Method(
        name="grpo",
        summary="prompts and reward functions",
        trainer_module="trl",
        trainer_class="GRPOTrainer",
        arguments="grpo_arguments",
        section="grpo",
        pairs=False,
        full_learning_rate=1e-6,
        adapter_learning_rate=1e-5,
    ),
}

METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def rate_text(rate: float) -> str:
    """A learning rate as people write it: ``2e-4``, not ``0.0002`` or ``2e-04``."""
    mantissa, exponent = f"{rate:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def default_rates_text() -> str:
    """Each method's default learning rates in a line (the field's help, the reference)."""
    return "; ".join(
        f"{m.name} {rate_text(m.adapter_learning_rate)}, {rate_text(m.full_learning_rate)}"
        for m in METHODS.values()
    )


def default_learning_rate(method: str, adapter: str) -> float:
    """The peak learning rate a run of ``method`` with ``adapter`` gets when
    ``training.learning_rate`` is unset."""
    return METHODS[method].learning_rate(adapter)
