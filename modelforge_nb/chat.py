"""Talk to a run's model: generation (streamed or not), the base for comparison.

Models are loaded once per run and kept until ``unload()``, so a second prompt is fast
and GPU memory can be handed back on request. Prompts are shaped the way training shaped
them (``prompt_format.json``): the chat template when there is one, the plain template
otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.errors import ModelError, RunError
from modelforge_nb.loading import open_weights
from modelforge_nb.rundir import run_folder, weights_folder

Messages = Sequence[Mapping[str, str]]


@dataclass
class LoadedModel:
    key: str
    model: Any
    tokenizer: Any
    task: str
    prompt_format: dict[str, str]
    has_adapter: bool
    generation: dict[str, Any]
    original: str | None = None
    """For a full fine-tune: the model it started from, which answers ``use_adapter=False``."""
    trust_remote_code: bool = False


_LOADED: dict[str, LoadedModel] = {}  # a cache: dropping it only costs a reload
_LOCK = threading.Lock()


def _load(run_or_path: Any) -> LoadedModel:
    folder = run_folder(run_or_path)
    key = str(folder)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
    from transformers import AutoTokenizer

    from modelforge_nb.embedded import resolve_model

    generation: dict[str, Any] = {}
    original: str | None = None
    if rundir.is_run_folder(folder):
        config = rundir.read_config(folder)
        task = TASKS[config.task]
        generation = config.generation.model_dump()
        prompt_format = rundir.read_prompt_format(folder) or {"kind": "chat_template"}
        weights = weights_folder(folder)
        if weights is None:
            raise RunError(
                "run.no_weights",
                f"Run {folder.name} has no saved weights yet "
                f"(status: {rundir.read_status_file(folder).get('status')}).",
                field="run",
                hint="Wait for it to complete, or resume it.",
            )
        base = resolve_model(config.model) if weights.name == rundir.ADAPTER_DIR else str(weights)
        original = None if weights.name == rundir.ADAPTER_DIR else resolve_model(config.model)
        trust = config.trust_remote_code
    elif (folder / "adapter_config.json").is_file():
        adapter_config = json.loads((folder / "adapter_config.json").read_text())
        weights, base, trust = (
            folder,
            resolve_model(adapter_config["base_model_name_or_path"]),
            False,
        )
        task = next(
            t
            for t in TASKS.values()
            if t.peft_task_type == adapter_config.get("task_type", "CAUSAL_LM")
        )
        prompt_format = {"kind": "chat_template"}
    elif rundir.is_model_folder(folder):
        weights, base, trust = folder, str(folder), False
        task = TASKS["text-generation"]
        prompt_format = {"kind": "chat_template"}
    else:
        raise ModelError(
            "model.missing",
            f"{folder} is neither a run nor a model folder.",
            field="run",
            hint="Pass a Run, a run folder or a saved model folder.",
        )
    tokenizer = AutoTokenizer.from_pretrained(weights, trust_remote_code=trust)
    if prompt_format.get("kind") == "chat_template" and not getattr(
        tokenizer, "chat_template", None
    ):
        from modelforge_nb.data.format import PLAIN_PROMPT_TEMPLATE

        prompt_format = {"kind": "plain", "template": PLAIN_PROMPT_TEMPLATE}
    has_adapter = weights.name == rundir.ADAPTER_DIR or (weights / "adapter_config.json").is_file()
    model = open_weights(
        base,
        auto_class=task.auto_class,
        adapter=weights if has_adapter else None,
        device="auto",
        trust_remote_code=trust,
    )
    model.eval()
    loaded = LoadedModel(
        key, model, tokenizer, task.name, prompt_format, has_adapter, generation, original, trust
    )
    with _LOCK:
        _LOADED[key] = loaded
    return loaded


def _original_of(loaded: LoadedModel, source: str) -> LoadedModel:
    """The model a full fine-tune started from, loaded once beside it, same prompt shape."""
    key = f"{loaded.key}#original"
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
    model = open_weights(
        source,
        auto_class=TASKS[loaded.task].auto_class,
        device="auto",
        trust_remote_code=loaded.trust_remote_code,
    )
    model.eval()
    original = replace(loaded, key=key, model=model, has_adapter=False, original=None)
    with _LOCK:
        _LOADED[key] = original
    return original


def unload(run_or_path: Any = None) -> int:
    """Release loaded models (one run's, or all); returns how many were released."""
    with _LOCK:
        if run_or_path is None:
            keys = list(_LOADED)
        else:
            key = str(run_folder(run_or_path))
            keys = [key, f"{key}#original"]
        released = [_LOADED.pop(k) for k in keys if k in _LOADED]
    count = len(released)
    if released:
        import gc

        import torch

        del released
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return count


def _as_messages(prompt_or_messages: str | Messages) -> list[dict[str, str]]:
    if isinstance(prompt_or_messages, str):
        return [{"role": "user", "content": prompt_or_messages}]
    return [dict(m) for m in prompt_or_messages]


def _overrides(
    max_new_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    top_k: int | None,
    repetition_penalty: float | None,
) -> dict[str, Any]:
    """A call's sampling keywords by their generation-config names (None: the run's own)."""
    return {
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "repetition_penalty": repetition_penalty,
    }


def _settings(loaded: LoadedModel, overrides: dict[str, Any]) -> dict[str, Any]:
    values = {**loaded.generation, **{k: v for k, v in overrides.items() if v is not None}}
    settings: dict[str, Any] = {"max_new_tokens": int(values.get("max_new_tokens", 128))}
    temperature = float(values.get("temperature", 0.0))
    if temperature > 0:
        settings.update(
            do_sample=True,
            temperature=temperature,
            top_p=float(values.get("top_p", 1.0)),
            top_k=int(values.get("top_k", 0)),
        )
    else:
        settings["do_sample"] = False
    if values.get("repetition_penalty"):
        settings["repetition_penalty"] = float(values["repetition_penalty"])
    tokenizer = loaded.tokenizer
    settings["pad_token_id"] = tokenizer.pad_token_id or tokenizer.eos_token_id
    return settings


def _span_answer(loaded: LoadedModel, item: Mapping[str, str]) -> str:
    from modelforge_nb.data.format import extract_span

    return extract_span(loaded.model, loaded.tokenizer, item["question"], item["context"])


def _encode(loaded: LoadedModel, prompt_or_messages: Any) -> Any:
    tokenizer = loaded.tokenizer
    if loaded.task == "summarization":
        text = (
            prompt_or_messages
            if isinstance(prompt_or_messages, str)
            else (_as_messages(prompt_or_messages)[-1]["content"])
        )
        return tokenizer(text, return_tensors="pt", truncation=True)
    from modelforge_nb.data.format import render_prompt

    text = render_prompt(loaded.prompt_format, _as_messages(prompt_or_messages), tokenizer)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)


def generate(
    run_or_path: Any,
    prompt_or_messages: str | Messages | Mapping[str, str],
    *,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    repetition_penalty: float | None = None,
    stream: bool = False,
    use_adapter: bool = True,
    stop_event: threading.Event | None = None,
) -> Any:
    """The model's answer (a string), or with ``stream=True`` an iterator of text pieces.

    ``use_adapter=False`` answers with the base model (the adapter switched off), for
    side-by-side comparison; for a full fine-tune it answers with the model the run started
    from. Extractive QA takes ``{"context": ..., "question": ...}``.
    """
    loaded = _load(run_or_path)
    if not use_adapter and loaded.original is not None:
        loaded, use_adapter = _original_of(loaded, loaded.original), True
    if loaded.task == "extractive-question-answering":
        if not isinstance(prompt_or_messages, Mapping) or not {"context", "question"} <= set(
            prompt_or_messages
        ):
            raise ModelError(
                "chat.qa_input",
                "Question answering needs a context and a question.",
                field="prompt",
                hint='Pass {"context": "...", "question": "..."}.',
            )
        answer = _with_adapter(
            loaded, use_adapter, lambda: _span_answer(loaded, prompt_or_messages)
        )
        return iter([answer]) if stream else answer
    if isinstance(prompt_or_messages, Mapping):
        raise ModelError(
            "chat.input", "Pass a prompt string or a list of messages.", field="prompt"
        )
    settings = _settings(
        loaded, _overrides(max_new_tokens, temperature, top_p, top_k, repetition_penalty)
    )
    inputs = _encode(loaded, prompt_or_messages).to(loaded.model.device)
    criteria = _stopping(stop_event)
    if not stream:
        import torch

        def run() -> str:
            with torch.no_grad():
                output = loaded.model.generate(**inputs, **settings, stopping_criteria=criteria)
            new = (
                output[0]
                if loaded.task == "summarization"
                else (output[0][inputs["input_ids"].shape[1] :])
            )
            return str(loaded.tokenizer.decode(new, skip_special_tokens=True)).strip()

        return _with_adapter(loaded, use_adapter, run)
    return _stream(loaded, inputs, settings, criteria, use_adapter)


#: Tokens each side decodes before the other takes its turn in ``generate_pair``.
PAIR_CHUNK_TOKENS = 4


def generate_pair(
    run_or_path: Any,
    prompt_or_messages: str | Messages | Mapping[str, str],
    *,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    repetition_penalty: float | None = None,
    stop_event: threading.Event | None = None,
    chunk_tokens: int = PAIR_CHUNK_TOKENS,
) -> Iterator[tuple[str, str]]:
    """The base and the fine-tuned answer to one prompt, streamed together.

    Yields ``("base", piece)`` and ``("tuned", piece)`` in turns of ``chunk_tokens`` tokens,
    so both answers grow at once rather than one waiting for the other. The base is the same
    weights with the adapter switched off, which one model cannot do in two threads; each
    side keeps its own key/value cache and continues where its last turn ended, so greedy
    answers are token for token what ``generate`` gives.
    """
    loaded = _load(run_or_path)
    overrides = _overrides(max_new_tokens, temperature, top_p, top_k, repetition_penalty)
    if loaded.task == "extractive-question-answering":
        for name, use_adapter in (("base", False), ("tuned", True)):
            yield name, generate(run_or_path, prompt_or_messages, use_adapter=use_adapter)
        return
    if isinstance(prompt_or_messages, Mapping):
        raise ModelError(
            "chat.input", "Pass a prompt string or a list of messages.", field="prompt"
        )
    base = loaded
    if loaded.original is not None:  # a full fine-tune: the model it started from
        base = _original_of(loaded, loaded.original)
    settings = _settings(loaded, overrides)
    budget = settings.pop("max_new_tokens")
    criteria = _stopping(stop_event)
    sides = [
        _Side(name, model, prompt_or_messages, use_adapter=use, budget=budget, stop=stop_event)
        for name, model, use in (("base", base, False), ("tuned", loaded, True))
    ]
    while any(not side.done for side in sides):
        for side in sides:
            if side.done:
                continue
            piece = side.advance(chunk_tokens, settings, criteria)
            if piece:
                yield side.name, piece


class _Side:
    """One answer of ``generate_pair``: its tokens so far, its cache, and its text so far."""

    def __init__(
        self,
        name: str,
        loaded: LoadedModel,
        prompt: str | Messages,
        *,
        use_adapter: bool,
        budget: int,
        stop: threading.Event | None,
    ) -> None:
        from transformers import DynamicCache

        self.name = name
        self.loaded = loaded
        self.use_adapter = use_adapter
        self.budget = budget
        self.stop_event = stop
        self.done = False
        self.generated = 0
        self.text = ""
        self.tokens: list[int] = []
        self.inputs = _encode(loaded, prompt).to(loaded.model.device)
        self.seq2seq = loaded.task == "summarization"
        self.sequence: Any = None if self.seq2seq else self.inputs["input_ids"]
        self.cache: Any = None if self.seq2seq else DynamicCache()
        # every token that ends an answer: the tokenizer's and the generation config's
        configured = getattr(loaded.model.generation_config, "eos_token_id", None)
        ids = configured if isinstance(configured, list) else [configured]
        self.ends = {i for i in [*ids, loaded.tokenizer.eos_token_id] if i is not None}

    def advance(self, tokens: int, settings: dict[str, Any], criteria: Any) -> str:
        """Decode up to ``tokens`` more tokens; the text they add (none while a character
        is still incomplete)."""
        import torch

        asked = min(tokens, self.budget - self.generated)
        kwargs: dict[str, Any] = {**settings, "max_new_tokens": asked}
        if self.seq2seq:
            # an encoder-decoder continues from its answer so far (recomputed: answers are short)
            kwargs.update(self.inputs)
            if self.sequence is not None:
                kwargs["decoder_input_ids"] = self.sequence
        else:
            kwargs.update(
                input_ids=self.sequence,
                attention_mask=torch.ones_like(self.sequence),
            )
            kwargs[_cache_argument(self.loaded.model)] = self.cache
        with torch.no_grad():
            out = _with_adapter(
                self.loaded,
                self.use_adapter,
                lambda: self.loaded.model.generate(
                    **kwargs, stopping_criteria=criteria, return_dict_in_generate=True
                ),
            )
        # an encoder-decoder's first turn also returns the decoder's start token
        start = 1 if self.sequence is None else self.sequence.shape[1]
        new = out.sequences[0, start:].tolist()
        self.sequence = out.sequences
        self.cache = out.get("cache", out.get("past_key_values"))
        ends = [i for i, token in enumerate(new) if token in self.ends]
        if ends:
            new = new[: ends[0] + 1]
        # fewer tokens than asked: an end token or a stopping criterion ended the answer
        self.done = bool(ends) or len(new) < asked
        self.generated += len(new)
        self.tokens += new
        stopped = self.stop_event is not None and self.stop_event.is_set()
        self.done = self.done or stopped or self.generated >= self.budget
        return self._text()

    def _text(self) -> str:
        answer = str(self.loaded.tokenizer.decode(self.tokens, skip_special_tokens=True))
        answer = answer.lstrip()
        if answer.endswith("\ufffd") and not self.done:
            return ""  # half a character: wait for the rest
        piece, self.text = answer[len(self.text) :], answer
        return piece


def _stopping(stop_event: threading.Event | None) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Stop(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, *_args: Any, **_kwargs: Any) -> bool:
            return stop_event is not None and stop_event.is_set()

    return StoppingCriteriaList([_Stop()])


def _cache_argument(model: Any) -> str:
    """The name ``generate`` takes a key/value cache under: ``cache`` in recent transformers,
    ``past_key_values`` before (Colab's 5.15); read from the model's own ``forward``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(base.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _with_adapter(loaded: LoadedModel, use_adapter: bool, call: Any) -> Any:
    if use_adapter or not loaded.has_adapter:
        return call()
    with loaded.model.disable_adapter():
        return call()


def _stream(
    loaded: LoadedModel, inputs: Any, settings: dict[str, Any], criteria: Any, use_adapter: bool
) -> Iterator[str]:
    import torch
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(
        loaded.tokenizer, skip_prompt=loaded.task != "summarization", skip_special_tokens=True
    )
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with torch.no_grad():
                _with_adapter(
                    loaded,
                    use_adapter,
                    lambda: loaded.model.generate(
                        **inputs, **settings, streamer=streamer, stopping_criteria=criteria
                    ),
                )
        except BaseException as error:  # surfaced to the reader below
            errors.append(error)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    first = True
    for piece in streamer:
        if first:
            piece = piece.lstrip()
            first = False
        if piece:
            yield piece
    thread.join()
    if errors:
        raise errors[0]
