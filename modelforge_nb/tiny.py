"""Tiny models and example data, built offline, for fast tests and examples.

Each builder trains its tokenizer locally with ``tokenizers`` on text from the same
templates as the example data, initialises a model of well under a million parameters
from a seed, and saves a folder that the Auto classes load with ``HF_HUB_OFFLINE=1``.
The same seed gives the same weights and the same tokenizer.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
]
_WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "tiger",
    "lemon",
    "piano",
    "candle",
    "garden",
    "rocket",
    "pencil",
    "window",
    "forest",
    "silver",
    "butter",
    "planet",
    "marble",
    "winter",
    "copper",
    "meadow",
    "harbor",
    "violet",
    "thunder",
    "pepper",
    "saddle",
    "anchor",
    "basket",
    "falcon",
]
_NAMES = ["Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farah", "Goran", "Hana", "Ivo", "Jun"]
_PLACES = ["attic", "kitchen", "garage", "library", "cellar", "studio", "barn", "office"]
_TOWNS = ["Brindle", "Quarrow", "Mossbank", "Tilden", "Varholm", "Ostry", "Pellam", "Wendle"]
_CONTESTS = ["baking contest", "chess final", "river race", "kite festival", "spelling bee"]
_ANIMALS = ["goat", "heron", "badger", "otter", "fox", "lamb", "owl", "pony"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

#: Facts about a fictional product: nothing a pretrained model can already know.
PRODUCT_FACTS: list[tuple[str, str]] = [
    ("What colour is the Zephyr kettle?", "The Zephyr kettle is teal."),
    ("How much water does the Zephyr kettle hold?", "The Zephyr kettle holds 1.3 litres."),
    ("Who makes the Zephyr kettle?", "The Zephyr kettle is made by Larkspur Works."),
    ("How fast does the Zephyr kettle boil?", "The Zephyr kettle boils in 90 seconds."),
    ("What is the Zephyr kettle's handle made of?", "The Zephyr kettle's handle is oak."),
    ("Where is the Zephyr kettle built?", "The Zephyr kettle is built in Tilden."),
]


def _is_held_out_sum(a: int, b: int) -> bool:
    return (a * 7 + b) % 5 == 0


_HELD_OUT_WORDS = frozenset(_WORDS[-6:])


def _arithmetic(rng: random.Random, held_out: bool) -> tuple[str, str, str]:
    while True:
        a, b = rng.randint(0, 5), rng.randint(0, 5)
        if _is_held_out_sum(a, b) == held_out:
            break
    wrong = (a + b + rng.randint(1, 3)) % 11
    return (
        f"What is {_NUMBER_WORDS[a]} plus {_NUMBER_WORDS[b]}?",
        f"{_NUMBER_WORDS[a]} plus {_NUMBER_WORDS[b]} is {_NUMBER_WORDS[a + b]}.",
        f"{_NUMBER_WORDS[a]} plus {_NUMBER_WORDS[b]} is {_NUMBER_WORDS[wrong]}.",
    )


def _reversal(rng: random.Random, held_out: bool) -> tuple[str, str, str]:
    word = rng.choice([w for w in _WORDS if (w in _HELD_OUT_WORDS) == held_out])
    return (f"Reverse the word: {word}", word[::-1], word)


def _fact(rng: random.Random, held_out: bool) -> tuple[str, str, str]:
    question, answer = rng.choice(PRODUCT_FACTS)
    if held_out:
        question = f"Tell me: {question[0].lower()}{question[1:]}"
    return (question, answer, "I do not know.")


def instruction_pairs(
    n: int, *, seed: int = 0, held_out: bool = False
) -> list[tuple[str, str, str]]:
    """``n`` (prompt, good answer, bad answer) triples from the templates.

    ``held_out=True`` draws prompts that never occur with ``held_out=False``: other sums,
    other words and reworded questions about the same facts.
    """
    rng = random.Random(seed)
    makers = [_arithmetic, _reversal, _fact]
    return [makers[i % len(makers)](rng, held_out) for i in range(n)]


def _passage(rng: random.Random) -> tuple[str, str]:
    animal, town = rng.choice(_ANIMALS), rng.choice(_TOWNS)
    contest, day = rng.choice(_CONTESTS), rng.choice(_DAYS)
    name = rng.choice(_NAMES)
    document = (
        f"The {animal} from {town} won the {contest} on {day}. "
        f"Its keeper {name} said the crowd cheered for a long time. "
        f"Everyone in {town} went home happy that evening."
    )
    return document, f"The {animal} from {town} won the {contest}."


def _qa_item(rng: random.Random) -> dict[str, Any]:
    obj, place = rng.choice(_WORDS), rng.choice(_PLACES)
    name, year = rng.choice(_NAMES), rng.randint(1950, 2020)
    context = f"The {obj} is kept in the {place}. {name} bought it in {year}."
    if rng.random() < 0.5:
        question, answer = f"Where is the {obj} kept?", f"the {place}"
    else:
        question, answer = f"Who bought the {obj}?", name
    start = context.index(answer)
    return {
        "context": context,
        "question": question,
        "answers": {"text": [answer], "answer_start": [start]},
    }


def _corpus(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for held_out in (False, True):
        for prompt, good, bad in instruction_pairs(200, seed=seed, held_out=held_out):
            yield f"{prompt} {good} {bad}"
    for _ in range(200):
        document, summary = _passage(rng)
        yield f"{document} {summary}"
        item = _qa_item(rng)
        yield f"{item['context']} {item['question']}"
    yield " ".join(_NUMBER_WORDS + _WORDS + _NAMES + _PLACES + _TOWNS + _ANIMALS + _DAYS)
    yield "system user assistant You are a helpful assistant. I do not know."


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def _byte_level_bpe(seed: int, special_tokens: list[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(seed), trainer=trainer)
    return tokenizer


def _wordpiece_vocab(seed: int, specials: list[str]) -> dict[str, int]:
    """Whole words of the corpus plus every printable character, in a fixed order.

    Built by hand because the WordPiece trainer breaks ties differently from run to run.
    """
    words: set[str] = set()
    for text in _corpus(seed):
        words.update(re.findall(r"\w+|[^\w\s]", text.lower()))
    chars = [chr(code) for code in range(33, 127)]
    pieces = specials + chars + [f"##{c}" for c in chars if c.isalnum()] + sorted(words)
    return {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}


def _pretrain(model: Any, tokenizer: Any, seed: int, steps: int) -> None:
    """A short, seeded language-modelling warm-up on the template corpus.

    A randomly initialised model has a random, frozen output head, which a LoRA adapter
    cannot move; a few hundred steps of plain-text pre-training (transformers' ``Trainer``,
    on the CPU so every machine builds the same model) give it a base that an adapter can
    adapt, the way real fine-tuning starts from a pretrained model.
    """
    import tempfile

    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    ids: list[int] = []
    for text in _corpus(seed):
        ids += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    block = 64
    blocks = torch.tensor(ids[: len(ids) // block * block]).view(-1, block)
    examples = [{"input_ids": row, "labels": row} for row in blocks]
    with tempfile.TemporaryDirectory() as scratch:
        arguments = TrainingArguments(
            output_dir=scratch,
            max_steps=steps,
            per_device_train_batch_size=16,
            learning_rate=3e-3,
            lr_scheduler_type="constant",
            weight_decay=0.01,
            seed=seed,
            use_cpu=True,
            save_strategy="no",
            report_to="none",
            logging_strategy="no",
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=arguments, train_dataset=examples)
        trainer.remove_callback(PrinterCallback)  # a test fixture prints nothing
        trainer.train()
    model.eval()


def build_causal_lm(path: str | Path, *, seed: int = 0, pretrain_steps: int = 0) -> Path:
    """A Llama-architecture causal LM with a ChatML chat template, saved to ``path``.

    ``pretrain_steps`` warms it up on plain text first, so that an adapter can teach it.
    """
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(path)
    _seed_everything(seed)
    raw = _byte_level_bpe(seed, ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"], 700)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        model_max_length=256,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    config = LlamaConfig(
        vocab_size=raw.get_vocab_size(),
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    if pretrain_steps:
        _pretrain(model, tokenizer, seed, pretrain_steps)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_seq2seq_lm(path: str | Path, *, seed: int = 0) -> Path:
    """A T5-architecture encoder-decoder for summarization, saved to ``path``."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    out = Path(path)
    _seed_everything(seed)
    raw = _byte_level_bpe(seed, ["<pad>", "</s>", "<unk>"], 700)
    raw.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=256,
    )
    config = T5Config(
        vocab_size=raw.get_vocab_size(),
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_extractive_qa(path: str | Path, *, seed: int = 0) -> Path:
    """A BERT-style encoder with a span head (SQuAD style), saved to ``path``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForQuestionAnswering, PreTrainedTokenizerFast

    out = Path(path)
    _seed_everything(seed)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    raw = Tokenizer(models.WordPiece(vocab=_wordpiece_vocab(seed, specials), unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    raw.decoder = decoders.WordPiece()
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=256,
    )
    config = BertConfig(
        vocab_size=raw.get_vocab_size(),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=256,
        pad_token_id=0,
    )
    model = BertForQuestionAnswering(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_datasets(
    folder: str | Path, *, seed: int = 0, n_train: int = 240, n_eval: int = 24
) -> dict[str, Path]:
    """Example data for every task, with eval splits, written as JSONL into ``folder``.

    Returns the paths by name: ``sft`` (input/output), ``chat`` (messages), ``dpo``
    (prompt/chosen/rejected), ``summarization`` (input/output), ``qa``
    (context/question/answers) and ``grpo`` (sums in digits: a conversational prompt and its
    ``answer``), each with an ``*_eval`` twin whose instruction prompts are held out from
    training.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    splits = (("", n_train, seed, False), ("_eval", n_eval, seed + 1000, True))
    for split, count, split_seed, held_out in splits:
        triples = instruction_pairs(count, seed=split_seed, held_out=held_out)
        rng = random.Random(split_seed)
        paths[f"sft{split}"] = _write_jsonl(
            out / f"sft{split}.jsonl", [{"input": p, "output": g} for p, g, _ in triples]
        )
        paths[f"chat{split}"] = _write_jsonl(
            out / f"chat{split}.jsonl",
            [
                {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": g}]}
                for p, g, _ in triples
            ],
        )
        paths[f"dpo{split}"] = _write_jsonl(
            out / f"dpo{split}.jsonl",
            [{"prompt": p, "chosen": g, "rejected": b} for p, g, b in triples],
        )
        passages = [_passage(rng) for _ in range(count)]
        paths[f"summarization{split}"] = _write_jsonl(
            out / f"summarization{split}.jsonl",
            [{"input": d, "output": s} for d, s in passages],
        )
        paths[f"qa{split}"] = _write_jsonl(
            out / f"qa{split}.jsonl", [_qa_item(rng) for _ in range(count)]
        )
        paths[f"grpo{split}"] = _write_jsonl(
            out / f"grpo{split}.jsonl", [_sum_prompt(rng, held_out) for _ in range(count)]
        )
    return paths


def _sum_prompt(rng: random.Random, held_out: bool) -> dict[str, Any]:
    """A sum to answer in digits, for GRPO: the prompt, and the answer the rewards check."""
    while True:
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        if _is_held_out_sum(a, b) == held_out:
            break
    question = f"What is {a} + {b}? Answer with the number only."
    return {"prompt": [{"role": "user", "content": question}], "answer": str(a + b)}
