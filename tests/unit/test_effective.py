"""Effective-argument records: only paths and logging targets may differ between two sides."""

from __future__ import annotations

import copy
from typing import Any

from modelforge_nb.tuner.effective import differences

RECORD: dict[str, Any] = {
    "trainer": "SFTTrainer",
    "arguments": {
        "output_dir": "/a/checkpoints",
        "run_name": "a",
        "report_to": [],
        "gradient_checkpointing": False,
        "learning_rate": 0.01,
        "optim": "adamw_torch",
    },
    "peft": {"default": {"r": 16, "target_modules": ["k_proj", "q_proj"]}},
    "model": {"class": "PeftModelForCausalLM", "trainable": 35840},
    "train_data": {"rows": 240, "sha256": "b35908d6f6e8c8f0"},
}


def test_paths_and_logging_targets_may_differ() -> None:
    other = copy.deepcopy(RECORD)
    other["arguments"].update(output_dir="/b/checkpoints", run_name="b", report_to=["tensorboard"])
    assert differences(RECORD, other) == []


def test_a_flipped_default_is_named_with_both_values() -> None:
    other = copy.deepcopy(RECORD)
    other["arguments"]["gradient_checkpointing"] = True
    other["peft"]["default"]["target_modules"] = ["q_proj"]
    other["train_data"]["sha256"] = "0000000000000000"
    assert differences(RECORD, other) == [
        "arguments.gradient_checkpointing: False != True",
        "peft.default.target_modules: ['k_proj', 'q_proj'] != ['q_proj']",
        "train_data.sha256: 'b35908d6f6e8c8f0' != '0000000000000000'",
    ]


def test_a_field_only_one_side_has_is_a_difference() -> None:
    other = copy.deepcopy(RECORD)
    del other["arguments"]["optim"]
    assert differences(RECORD, other) == ["arguments.optim: 'adamw_torch' != '<absent>'"]
