"""The rounds of a settle sweep decided on hand-made records, injected between rounds as a driver would."""

from dataclasses import replace

import numpy as np

from senet_ablate.report import conclusions, stats, summary
from senet_ablate.report.experiments import Experiment, Section, section_evidence
from senet_ablate.report.sequential import Settle
from senet_ablate.report.settle import BUDGET, MAX_SEEDS, SETTLED, comparisons, decide, next_round

PAIRS = [("A", "ref"), ("B", "ref")]
DESIGN = Settle(12, 4).design(len(PAIRS))  # at 3, 6, 9 and 12 seeds, the default spending
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


def section(runs: dict) -> Section:
    return Section(
        {},
        {
            label: [{**r, "seed": s, "run_id": f"{label}-{s}"} for s, r in by_seed.items()]
            for label, by_seed in runs.items()
        },
    )


def test_the_table_reads_each_comparison_at_the_look_that_settled_it_and_says_why_it_stopped():
    _, runs, last = sweep(MEANS, SPREADS)
    shown = comparisons(Settle(12, 4), section(runs), PAIRS, MARGIN, CHANCE)
    for pair, decision in last.decisions.items():  # the driver's decision, interval for interval
        assert shown[pair].verdict == decision.verdict
        assert (shown[pair].low, shown[pair].high) == (decision.comparison.low, decision.comparison.high)
    assert shown[("A", "ref")].seeds == (3, 3)  # at look 1, though the reference ran 9 seeds for B
    assert shown[("A", "ref")].stopped == "settled after 3 seeds per row (look 1 of 4)"
    assert shown[("B", "ref")].stopped == "settled after 9 seeds per row (look 3 of 4)"
    fixed = stats.compare(section_evidence(section(runs)), PAIRS, MARGIN, CHANCE)  # not the fixed design's
    assert fixed[("A", "ref")].seeds == (3, 9) and shown[("A", "ref")].low < fixed[("A", "ref")].low  # wider: look 1


def test_a_comparison_stopped_by_the_budget_or_the_maximum_says_so_with_its_minimum_detectable_difference():
    _, runs, _ = sweep(MEANS, SPREADS, budget=20.0)
    budget = comparisons(Settle(12, 4, 20.0), section(runs), PAIRS, MARGIN, CHANCE)[("B", "ref")]
    assert budget.verdict == "unresolved" and budget.stopped == "budget reached at 6 seeds per row"
    assert budget.detectable > 0 and budget.seeds_needed is None  # no fixed-design seeds advice
    _, runs, _ = sweep(MEANS, {**SPREADS, "B": 0.6})
    most = comparisons(Settle(12, 4), section(runs), PAIRS, MARGIN, CHANCE)[("B", "ref")]
    assert most.stopped == "max seeds reached (12 per row)" and most.detectable > budget.detectable / 4


def test_a_claim_reads_the_same_comparisons_as_the_cells():
    _, runs, _ = sweep(MEANS, SPREADS, budget=20.0)
    shown = comparisons(Settle(12, 4, 20.0), section(runs), PAIRS, MARGIN, CHANCE)
    claims = [
        {"says": "A is better", "relation": "better", "rows": ["A"], "than": ["ref"]},
        {"says": "B is as good", "relation": "equivalent", "rows": ["B"], "than": ["ref"]},
    ]
    evidence = section_evidence(section(runs))
    better, same = conclusions.check(claims, shown, evidence, MARGIN, advise=False)
    assert better["verdict"] == "holds" and better["comparisons"][0]["low"] == shown[("A", "ref")].low
    assert same["verdict"] == "unresolved" and "seeds_needed" not in same
    assert conclusions.describe(same, MARGIN) == "B is as good: unresolved (budget reached at 6 seeds per row)"


def test_a_table_run_by_a_settle_sweep_reads_its_cells_and_claims_off_the_design_and_names_it():
    claims = [
        {"says": "A is better", "relation": "better", "rows": ["A"], "than": ["ref"]},
        {"says": "B is as good", "relation": "equivalent", "rows": ["B"], "than": ["ref"]},
    ]
    experiment = Experiment("t", None, {"A": {}, "B": {}, "ref": {}}, set(), {}, reference="ref", claims=claims)
    _, runs, last = sweep(MEANS, SPREADS, budget=20.0)
    settled = replace(section(runs), settle=Settle(12, 4, 20.0))
    cells = summary.section_comparisons(experiment, settled, {})
    assert cells == comparisons(Settle(12, 4, 20.0), section(runs), PAIRS, MARGIN, CHANCE)
    checked, open_ = summary.checked_claims(experiment, settled, {})
    assert checked["comparisons"][0]["low"] == cells[("A", "ref")].low
    assert open_["stopped"] == "budget reached at 6 seeds per row" and "seeds_needed" not in open_  # no advice
    method = summary.method_note(experiment, settled, cells)
    assert DESIGN.describe() in method and "a budget of 20 device-hours" in method and "Seeds advice" not in method
    fixed = summary.section_comparisons(experiment, section(runs), {})  # the same records, no settle sweep
    assert fixed[("A", "ref")].seeds == (3, 6) and fixed[("A", "ref")].stopped is None
