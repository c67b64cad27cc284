"""500 derandomised fuzz cases (tests/fuzzing.py): every mutated model and flag value fails or
converts cleanly; ``make fuzz`` runs 10,000 fresh ones."""
from __future__ import annotations

import fuzzing


def test_fuzz_smoke():
    outcomes = fuzzing.run_many(500, derandomize=True)
    assert len(outcomes) == 500
    bad = [o for o in outcomes if o.problems]
    report = "\n".join(f"{o.problems} {o.case.seed} {o.case.mutation} {o.case.args}\n{o.stderr[-500:]}"
                       for o in bad[:10])
    assert not bad, f"{len(bad)} failing cases:\n{report}\n{fuzzing.summary(outcomes)}"
    codes = {o.code for o in outcomes}
    assert {0, 2} <= codes, fuzzing.summary(outcomes)  # the mutations reach both outcomes
