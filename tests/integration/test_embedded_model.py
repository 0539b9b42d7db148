"""The embedded SmolLM2-135M-Instruct: a real pretrained base, offline."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from modelforge_nb.embedded import EMBEDDED_MODEL_ID, is_prepared, prepare_embedded, resolve_model

pytestmark = pytest.mark.slow


def test_embedded_model_answers_a_chat_prompt() -> None:
    folder = prepare_embedded(EMBEDDED_MODEL_ID)
    assert is_prepared(EMBEDDED_MODEL_ID)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert model.config.model_type == "llama"
    assert 130e6 < model.num_parameters() < 140e6
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_second_preparation_is_served_from_the_cache() -> None:
    prepare_embedded(EMBEDDED_MODEL_ID)
    said: list[str] = []
    folder = prepare_embedded(EMBEDDED_MODEL_ID, log=said.append)
    assert said == [], "a prepared model must not be converted again"
    assert resolve_model(EMBEDDED_MODEL_ID) == str(folder)
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.parent.glob("*.partial-*"))
