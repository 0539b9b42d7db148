"""Task metrics at the end of a run: ROUGE for summaries, exact match and F1 for spans.

Small, dependency-free versions of the standard definitions (lower-cased word tokens; the
SQuAD normalisation drops punctuation and articles).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _f1(overlap: int, predicted: int, reference: int) -> float:
    if overlap == 0 or predicted == 0 or reference == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def _ngrams(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-measures."""
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for predicted, reference in zip(predictions, references, strict=True):
        p, r = _words(predicted), _words(reference)
        for n, key in ((1, "rouge1"), (2, "rouge2")):
            pn, rn = _ngrams(p, n), _ngrams(r, n)
            totals[key] += _f1(sum((pn & rn).values()), sum(pn.values()), sum(rn.values()))
        totals["rougeL"] += _f1(_lcs(p, r), len(p), len(r))
    count = max(len(predictions), 1)
    return {k: v / count for k, v in totals.items()}


def _normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Exact match and token F1, as percentages."""
    exact = f1 = 0.0
    for predicted, reference in zip(predictions, references, strict=True):
        p, r = _normalize(predicted).split(), _normalize(reference).split()
        exact += float(p == r)
        f1 += _f1(sum((Counter(p) & Counter(r)).values()), len(p), len(r))
    count = max(len(predictions), 1)
    return {"exact_match": 100 * exact / count, "f1": 100 * f1 / count}


def perplexity(loss: float | None) -> float | None:
    if loss is None or math.isnan(loss):
        return None
    return math.exp(min(loss, 50.0))
