"""``make demo``: prepare the embedded SmolLM2 model offline and show it answering.

Run as ``python -m modelforge_nb.demo``. Everything happens on the CPU with no network.
"""

from __future__ import annotations

import os
import sys
import time

from modelforge_nb.embedded import EMBEDDED_MODEL_ID, prepare_embedded
from modelforge_nb.errors import ModelForgeError

DEMO_PROMPTS = ["What is the capital of France?"]


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    try:
        folder = prepare_embedded(EMBEDDED_MODEL_ID, log=print)
    except ModelForgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{EMBEDDED_MODEL_ID} is ready in {folder} ({time.perf_counter() - start:.1f} s)")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    for prompt in DEMO_PROMPTS:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        output = model.generate(**inputs, max_new_tokens=40, do_sample=False)
        answer = tokenizer.decode(
            output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        print(f"\nuser: {prompt}\nassistant: {answer.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
