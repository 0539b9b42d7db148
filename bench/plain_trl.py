"""What a user would otherwise write: a plain trl SFTTrainer script (the baseline).

Usage: python bench/plain_trl.py MODEL DATA.jsonl OUT_DIR STEPS SEED
Writes OUT_DIR/timings.json (the wall-clock time of every logged step and the process's
peak memory) and OUT_DIR/effective_args.json, recorded the way the modelforge_nb worker
records its runs, so that ``make bench`` can prove both sides train the same thing.
Arguments that trl defaults differently from modelforge_nb are set here explicitly, as a
user matching a notebook run would: trl turns gradient checkpointing on by default, and
transformers logs the mean of earlier losses in place of a NaN or infinite one (the worker
logs it as it is). ``tests/integration/test_bench.py`` fails when the two drift apart.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

from modelforge_nb.tuner.effective import FILE_NAME, effective_arguments, peak_memory_bytes


class StepTimes(TrainerCallback):
    def __init__(self) -> None:
        self.times: dict[int, float] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.times[state.global_step] = time.time()


def main() -> None:
    model_path, data, out, steps, seed = sys.argv[1:6]
    rows = [json.loads(line) for line in Path(data).read_text().splitlines()]
    examples = [
        {
            "prompt": [{"role": "user", "content": r["input"]}],
            "completion": [{"role": "assistant", "content": r["output"]}],
        }
        for r in rows
    ]
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    timer = StepTimes()
    args = SFTConfig(
        output_dir=str(Path(out) / "checkpoints"),
        max_steps=int(steps),
        per_device_train_batch_size=8,
        gradient_accumulation_steps=1,
        learning_rate=1e-2,
        lr_scheduler_type="cosine",
        warmup_steps=0.03,
        optim="adamw_torch",
        logging_steps=1,
        logging_first_step=True,
        logging_nan_inf_filter=False,
        gradient_checkpointing=False,
        save_steps=10**9,
        save_total_limit=2,
        seed=int(seed),
        use_cpu=True,
        bf16=False,
        fp16=False,
        report_to=[],
        disable_tqdm=True,
        max_length=256,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        callbacks=[timer],
        peft_config=LoraConfig(
            r=16,
            lora_alpha=32,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    (Path(out) / FILE_NAME).write_text(json.dumps(effective_arguments(trainer)))
    trainer.train()
    record = {"times": timer.times, "peak_memory_bytes": peak_memory_bytes(on_gpu=False)}
    (Path(out) / "timings.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
