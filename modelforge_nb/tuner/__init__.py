"""Training: the launcher, the worker process and what it writes.

Only ``tuner.worker``, ``tuner.builders``, ``tuner.callbacks`` and ``tuner.metrics`` import
trl, peft or transformers' trainers; importing this package loads none of them.
"""
