"""The tiny models load offline through the Auto classes and actually run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
)

from modelforge_nb import tiny


def test_causal_lm_chat_template_and_generate(tiny_causal: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal)
    assert model.config.model_type == "llama"
    assert model.num_parameters() < 1_000_000
    messages = [{"role": "user", "content": "What is two plus three?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nWhat is two plus three?<|im_end|>\n<|im_start|>assistant\n"
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_seq2seq_generates_from_a_document(tiny_seq2seq: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_seq2seq)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_seq2seq)
    assert model.config.model_type == "t5"
    assert model.num_parameters() < 1_000_000
    encoded = tokenizer("The goat from Tilden won the chess final on Monday.", return_tensors="pt")
    assert encoded["input_ids"][0, -1].item() == tokenizer.eos_token_id
    output = model.generate(**encoded, max_new_tokens=6, do_sample=False)
    assert output.shape[1] > 1


def test_extractive_qa_head_returns_span_logits(tiny_qa: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_qa)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_qa)
    assert model.num_parameters() < 1_000_000
    encoded = tokenizer(
        "Where is the apple kept?",
        "The apple is kept in the attic. Ada bought it in 1999.",
        return_tensors="pt",
        return_offsets_mapping=True,
    )
    offsets = encoded.pop("offset_mapping")
    assert tokenizer.decode(encoded["input_ids"][0][:1]) == "[CLS]"
    with torch.no_grad():
        result = model(**encoded)
    length = encoded["input_ids"].shape[1]
    assert result.start_logits.shape == (1, length)
    assert result.end_logits.shape == (1, length)
    assert offsets.shape == (1, length, 2)


@pytest.mark.parametrize(
    "builder", [tiny.build_causal_lm, tiny.build_seq2seq_lm, tiny.build_extractive_qa]
)
def test_same_seed_same_weights(builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = builder(tmp_path / "a", seed=3)
    second = builder(tmp_path / "b", seed=3)
    other = builder(tmp_path / "c", seed=4)
    a, b, c = (load_file(p / "model.safetensors") for p in (first, second, other))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()


def test_example_data_for_every_task(tiny_data: dict[str, Path]) -> None:
    expected = {"sft", "chat", "dpo", "summarization", "qa", "grpo"}
    assert set(tiny_data) == expected | {f"{name}_eval" for name in expected}
    rows = {
        name: [json.loads(line) for line in path.read_text().splitlines()]
        for name, path in tiny_data.items()
    }
    assert set(rows["sft"][0]) == {"input", "output"}
    assert rows["chat"][0]["messages"][-1]["role"] == "assistant"
    assert set(rows["dpo"][0]) == {"prompt", "chosen", "rejected"}
    assert all(r["chosen"] != r["rejected"] for r in rows["dpo"])
    for item in rows["grpo"]:  # the answer is the sum the prompt asks for, in digits
        a, b = map(int, re.findall(r"\d+", item["prompt"][0]["content"]))
        assert item["answer"] == str(a + b)
    held = {r["prompt"][0]["content"] for r in rows["grpo_eval"]}
    assert not held & {r["prompt"][0]["content"] for r in rows["grpo"]}
    for item in rows["qa"]:
        start = item["answers"]["answer_start"][0]
        answer = item["answers"]["text"][0]
        assert item["context"][start : start + len(answer)] == answer
    assert len(rows["sft"]) > len(rows["sft_eval"]) > 0
    train_prompts = {r["input"] for r in rows["sft"]}
    assert all(r["input"] not in train_prompts for r in rows["sft_eval"])
