"""``make fuzz``: 10,000 hypothesis-generated hostile inputs through ``tfconv convert``
(tests/fuzzing.py). Prints the outcome counts and every distinct failure; exits 1 on any
traceback, internal error, hang (> 10 s), write outside the output directory, changed input or
partial output. ``--cases N`` and ``--seed S`` change the run."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fuzzing  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    args = parser.parse_args()
    start = time.perf_counter()

    def progress(outcome, done):
        if outcome.problems:
            print(f"FAIL case {done}: {outcome.problems} ({outcome.case.seed}, "
                  f"{outcome.case.mutation}, args {outcome.case.args})\n  "
                  + "\n  ".join(outcome.stderr.strip().splitlines()[-3:]), flush=True)
        if done % 500 == 0:
            print(f"... {done} cases, {time.perf_counter() - start:.0f} s", flush=True)

    outcomes = fuzzing.run_many(args.cases, derandomize=args.seed is None and False,
                                seed=args.seed, progress=progress)
    print(fuzzing.summary(outcomes))
    print(f"fuzz: {len(outcomes)} cases in {time.perf_counter() - start:.0f} s")
    return 1 if any(o.problems for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
