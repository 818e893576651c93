"""The `Serving:` section: the Triton model repository the project writes (triton/)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from nn2fpga.config.schema import boolean, choice, fail, listed, non_negative_int, positive_int, section

# YAML key -> (default, doc); `Serving:` fills what it does not set from here.
SERVING_KEYS: dict[str, tuple[Any, str]] = {
    "Backend": ("csim", "what the Triton model runs: csim (the g++-built kernel) | reference (NumPy) | xrt (a card)"),
    "MaxBatchSize": (64, "max_batch_size: largest batch one request or one dynamic batch may hold"),
    "DynamicBatching": (True, "let Triton merge requests into batches"),
    "PreferredBatchSizes": ([], "dynamic_batching.preferred_batch_size; [] = as large as the queue allows"),
    "MaxQueueDelayMicroseconds": (100, "dynamic_batching.max_queue_delay_microseconds"),
    "Instances": (1, "instance_group count (KIND_CPU): model instances, each its own process"),
}
serving_backend = choice("csim", "reference", "xrt")


def serving_section(value: Any, path: str) -> dict[str, Any]:
    """The `Serving:` section, completed with the defaults of `SERVING_KEYS`."""
    checks: dict[str, Callable[[Any, str], Any]] = {
        "Backend": serving_backend,
        "MaxBatchSize": positive_int,
        "DynamicBatching": boolean,
        "PreferredBatchSizes": lambda v, p: [positive_int(b, f"{p}[{i}]") for i, b in enumerate(listed(v, p))],
        "MaxQueueDelayMicroseconds": non_negative_int,
        "Instances": positive_int,
    }
    out = {name: copy.copy(default) for name, (default, _) in SERVING_KEYS.items()} | section(value, path, checks)
    for i, size in enumerate(out["PreferredBatchSizes"]):
        if size > out["MaxBatchSize"]:
            fail(f"{path}.PreferredBatchSizes[{i}]", f"{size} exceeds MaxBatchSize {out['MaxBatchSize']}")
    return out
