"""The rounds of a settle sweep decided on hand-made records, injected between rounds as a driver would."""

import numpy as np

from senet_ablate.report.sequential import Design
from senet_ablate.report.settle import BUDGET, MAX_SEEDS, SETTLED, decide, next_round

PAIRS = [("A", "ref"), ("B", "ref")]
DESIGN = Design((3, 6, 9, 12), len(PAIRS))
MARGIN, CHANCE = 0.2, 100.0
NOISE = {label: np.random.default_rng(i).standard_normal(12) for i, label in enumerate(("A", "B", "ref"))}


def record(label: str, seed: int, means: dict, spreads: dict) -> dict:
    value = means[label] + spreads[label] * float(NOISE[label][seed])
    return {"status": "completed", "top1_err": value, "wall_time_s": 3600.0, "env": {"world_size": 1}}


def sweep(means: dict, spreads: dict, budget: float | None = None, runs: dict | None = None):
    """Rounds until the round logic stops, each adding the seeds it asks for: (rounds, runs, last round)."""
    runs = runs if runs is not None else {label: {} for label in means}
    rounds = []
    while (step := next_round(DESIGN, runs, PAIRS, MARGIN, CHANCE, budget)).stop is None:
        rounds.append((step.rows, step.seeds))
        for label in step.rows:
            for seed in range(step.seeds):
                runs[label].setdefault(seed, record(label, seed, means, spreads))
    return rounds, runs, step


# A 2-point gain at a tiny spread (at 3 seeds Welch has ~4 df: the first look needs t > 60); B as good as the
# reference at a spread that needs 9 seeds to be called equivalent.
MEANS, SPREADS = {"A": 23.0, "B": 25.0, "ref": 25.0}, {"A": 0.02, "B": 0.15, "ref": 0.02}


def test_a_row_settled_in_round_one_gets_no_more_seeds():
    rounds, runs, last = sweep(MEANS, SPREADS)
    assert rounds[0] == (("A", "ref", "B"), 3)
    assert all("A" not in rows for rows, _ in rounds[1:])
    assert sorted(runs["A"]) == [0, 1, 2]
    assert last.decisions[("A", "ref")].verdict == "better" and last.decisions[("A", "ref")].look == 0
    assert last.stop == SETTLED


def test_an_equivalence_row_runs_to_its_boundary_and_stops_there():
    rounds, runs, last = sweep(MEANS, SPREADS)
    decision = last.decisions[("B", "ref")]
    assert decision.verdict == "equivalent" and decision.look == 2 and decision.seeds == 9
    assert rounds[1:] == [(("B", "ref"), 6), (("B", "ref"), 9)]  # the reference runs while B is open
    assert sorted(runs["B"]) == sorted(runs["ref"]) == list(range(9))
    earlier = {label: {s: r for s, r in by_seed.items() if s < 6} for label, by_seed in runs.items()}
    assert decide(DESIGN, earlier, PAIRS, MARGIN, CHANCE)[("B", "ref")].look is None  # open at 6 seeds


def test_a_comparison_still_open_at_the_last_look_stops_at_the_maximum_seeds():
    _, runs, last = sweep(MEANS, {**SPREADS, "B": 0.6})
    assert last.stop == MAX_SEEDS
    assert last.decisions[("B", "ref")].verdict == "unresolved" and last.decisions[("B", "ref")].seeds == 12
    assert sorted(runs["B"]) == list(range(12))


def test_the_budget_stops_before_a_round_that_would_exceed_it():
    """Each run costs one device-hour: 9 in round one, 6 in round two; round three's 6 more exceed 20."""
    rounds, runs, last = sweep(MEANS, SPREADS, budget=20.0)
    assert last.stop == BUDGET and last.rows == ()
    assert len(rounds) == 2 and sum(map(len, runs.values())) == 15
    assert last.decisions[("B", "ref")].look is None


def test_a_killed_round_resumes_with_the_same_rows_and_ends_with_the_same_decisions():
    _, whole, finished = sweep(MEANS, SPREADS)
    runs = {label: {s: r for s, r in by_seed.items() if s < 3} for label, by_seed in whole.items()}
    for seed in (3, 4, 5):  # the driver was killed in round two, where one seed of the reference failed
        runs["B"][seed], runs["ref"][seed] = (record(label, seed, MEANS, SPREADS) for label in ("B", "ref"))
    runs["ref"][3] = {**runs["ref"][3], "status": "failed", "top1_err": None}
    again = next_round(DESIGN, runs, PAIRS, MARGIN, CHANCE)
    assert (again.rows, again.seeds) == (("ref",), 6)  # not judged at 6 seeds before that seed has run
    runs["ref"].pop(3)  # the same command runs it again
    _, _, resumed = sweep(MEANS, SPREADS, runs=runs)
    assert resumed.decisions == finished.decisions
