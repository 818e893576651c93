"""Classification metrics (NumPy only): ROC AUC from average ranks, one-vs-rest per class and macro; ROC curves;
background rejection 1 / eps_B at a signal efficiency (the top-tagging figure of merit)."""

from __future__ import annotations

import numpy as np


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of `score` for the boolean `positive` (Mann-Whitney U with average ranks for ties); None without
    both positives and negatives."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(np.asarray(score))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_per_class(labels: np.ndarray, scores: np.ndarray) -> list[float | None]:
    """One-vs-rest ROC AUC of every class (column of `scores`)."""
    labels = np.asarray(labels)
    return [binary_auc(labels == c, scores[:, c]) for c in range(scores.shape[1])]


def roc_auc_ovr(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """One-vs-rest macro ROC AUC; classes lacking positives or negatives are skipped. None when no class can
    be scored."""
    aucs = [a for a in auc_per_class(labels, scores) if a is not None]
    return float(np.mean(aucs)) if aucs else None


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(background efficiency, signal efficiency) at every threshold, the highest scores first."""
    positive = np.asarray(positive, bool)
    order = np.argsort(-np.asarray(score), kind="mergesort")
    tp = np.cumsum(positive[order]) / max(int(positive.sum()), 1)
    fp = np.cumsum(~positive[order]) / max(int((~positive).sum()), 1)
    return np.r_[0.0, fp], np.r_[0.0, tp]


def rejection(positive: np.ndarray, score: np.ndarray, signal_efficiency: float = 0.3) -> float:
    """1 / eps_B at the threshold that keeps `signal_efficiency` of the positives (inf when no background
    passes)."""
    eps_b, eps_s = roc_curve(positive, score)
    i = int(np.searchsorted(eps_s, signal_efficiency))
    eb = eps_b[min(i, len(eps_b) - 1)]
    return float("inf") if eb == 0 else float(1.0 / eb)


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
