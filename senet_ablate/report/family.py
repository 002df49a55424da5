"""The comparisons a table makes, declared by its experiment file before any run: each row against
its reference (`exp.reference`) and each pair of rows its claims on top-1 compare (`exp.claims`).

This is the family the table's multiplicity is controlled over (`stats.py`): fixed by the file, so
a verdict never changes because another row finished, and one list for the Δ column and the
claims, so that both read one interval per pair. A pair and its reverse are one comparison.
"""

from collections.abc import Mapping, Sequence
from itertools import combinations

from senet_ablate.config import PAIRS
from senet_ablate.report.stats import Comparison, Pair


def references(reference: str | None, labels: Sequence[str]) -> dict[str, str]:
    """Row label -> the row it is compared with: in the paired tables (`pairs`) each SE-X's own X,
    elsewhere the one reference row for every other row."""
    if reference == PAIRS:
        return {label: label.removeprefix("SE-") for label in labels if label.startswith("SE-")}
    if reference is None:
        return {}
    return {label: reference for label in labels if label != reference}


def is_counted(claim: Mapping) -> bool:
    """Whether a claim is about a counted quantity (params, FLOPs), not about measured top-1 error."""
    return claim.get("metric", "top1_err") != "top1_err"


def pairs_of(claim: Mapping) -> list[Pair]:
    """The (row, other) comparisons a claim makes: each row with each `than`, or, for rows said to
    be equivalent to each other, each pair of them."""
    if claim["than"]:
        return [(row, other) for row in claim["rows"] for other in claim["than"]]
    return list(combinations(claim["rows"], 2))


def family(reference: str | None, labels: Sequence[str], claims: Sequence[Mapping]) -> list[Pair]:
    """The table's comparisons, in order: the reference comparisons, then the claims' other pairs."""
    declared = list(references(reference, labels).items())
    declared += [pair for claim in claims if not is_counted(claim) for pair in pairs_of(claim)]
    pairs: dict[frozenset, Pair] = {}
    for pair in declared:
        pairs.setdefault(frozenset(pair), pair)
    return list(pairs.values())


def oriented(comparisons: Mapping[Pair, Comparison], row: str, other: str) -> Comparison:
    """The family's comparison of `row` with `other`, in that direction (row − other)."""
    if (row, other) in comparisons:
        return comparisons[(row, other)]
    return comparisons[(other, row)].reversed()
