"""Random-graph differential fuzzing (issue 15, item 1): random Keras graphs (branches, skips, merges), random
fixed-point types (every rounding and overflow mode), both IO types and random folds; csim == reference bit for
bit, the reference within the derived bound of Keras, the bounded-FIFO simulation without deadlock
(tests/fuzz/property.py). 40 cases by default, 2,000 in the slow run (docs/fuzzing.md):

    NN2FPGA_FUZZ_SEED=1 NN2FPGA_FUZZ_COUNTS=counts.json pytest -m slow tests/fuzz -s

The seed is printed (a random one unless NN2FPGA_FUZZ_SEED gives it); the counts per layer kind and mode go to
$NN2FPGA_FUZZ_COUNTS. A failure shrinks to a minimal graph, printed as the `Case` of a regression test."""

from __future__ import annotations

import os
import random

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("keras")

from build import repro  # noqa: E402
from hypothesis import HealthCheck, given, note, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from property import check_case, write_counts  # noqa: E402
from strategies import cases  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
SEED = int(os.environ.get("NN2FPGA_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
SLOW_CASES = int(os.environ.get("NN2FPGA_FUZZ_CASES") or 2000)
SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "print_blob": True}


def _property(case, cases_run: list) -> None:
    note(repro(case))
    if os.environ.get("NN2FPGA_FUZZ_FAILURES"):  # the case in progress: what a crash (abort in csim) leaves behind
        with open(os.environ["NN2FPGA_FUZZ_FAILURES"] + ".current", "w") as f:
            f.write(repro(case) + "\n")
    try:
        outcome = check_case(case)
    except Exception as e:  # every failing example as it is found and shrunk, the smallest last
        if os.environ.get("NN2FPGA_FUZZ_FAILURES"):
            with open(os.environ["NN2FPGA_FUZZ_FAILURES"], "a") as f:
                f.write(f"{repro(case)}\n# {type(e).__name__}: {str(e)[:400]}\n\n")
        raise
    if outcome.startswith("refused"):
        print(outcome)
    cases_run.append(outcome)
    write_counts({"seed": SEED, "examples": len(cases_run)})


def _run(examples: int) -> None:
    print(f"NN2FPGA_FUZZ_SEED={SEED} ({examples} cases)")
    cases_run: list[str] = []

    @seed(SEED)
    @settings(max_examples=examples, **SETTINGS)
    @given(st.sampled_from([1, 1, 2]).flatmap(lambda n: cases(inputs=n)))  # a second model input one time in three
    def fuzz(case) -> None:
        _property(case, cases_run)

    fuzz()
    refused = sum(o.startswith("refused") for o in cases_run)
    print(f"seed {SEED}: {len(cases_run)} cases run, {refused} refused, 0 mismatches")


def test_random_graphs() -> None:
    _run(40)


@pytest.mark.slow
def test_random_graphs_slow() -> None:
    _run(SLOW_CASES)
