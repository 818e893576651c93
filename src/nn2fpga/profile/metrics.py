"""Classification metrics of a profile: one-vs-rest macro ROC AUC from average ranks (NumPy only)."""

from __future__ import annotations

import numpy as np


def roc_auc_ovr(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """One-vs-rest macro ROC AUC (Mann-Whitney U with average ranks for ties); classes lacking positives or
    negatives are skipped. None when no class can be scored."""
    labels = np.asarray(labels)
    aucs = []
    for c in range(scores.shape[1]):
        pos = labels == c
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = average_ranks(scores[:, c])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else None


def average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks of `v`, ties sharing their average rank."""
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_v)) + 1]
    ends = np.r_[starts[1:], len(v)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks
