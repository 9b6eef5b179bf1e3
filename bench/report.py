"""Rows of the results table: per-round figures, their medians, the ratio and the target."""

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# A figure is one number, or several shown together (p50 / p99 / p99.9): each is the
# median of its own column over the rounds.
Figure = tuple[float, ...]


@dataclass(frozen=True)
class Target:
    """What a row must show, written as it is checked: on `ours`, or on ours / reference."""

    text: str
    check: Callable[[float, float], bool]


def ratio_at_least(limit: float) -> Target:
    return Target(f"ratio ≥ {limit:g}", lambda ours, ratio: ratio >= limit)


def ratio_at_most(limit: float) -> Target:
    return Target(f"ratio ≤ {limit:g}", lambda ours, ratio: ratio <= limit)


def faster(times: float) -> Target:
    """For times: ours / reference at most 1 / `times`."""
    return Target(f"≥ {times:g}x faster", lambda ours, ratio: ratio <= 1 / times)


def ratio_within(share: float) -> Target:
    return Target(f"ratio {1 - share:g}-{1 + share:g}", lambda ours, ratio: abs(ratio - 1) <= share)


def ours_at_most(limit: float, unit: str) -> Target:
    return Target(f"≤ {limit:g} {unit}".strip(), lambda ours, ratio: ours <= limit)


def ours_at_least(limit: float, unit: str) -> Target:
    return Target(f"≥ {limit:,g} {unit}".strip(), lambda ours, ratio: ours >= limit)


def both(first: Target, second: Target) -> Target:
    return Target(
        f"{first.text}; {second.text}",
        lambda ours, ratio: first.check(ours, ratio) and second.check(ours, ratio),
    )


@dataclass
class Row:
    scenario: str
    measure: str
    unit: str
    reference: str = ""
    target: Target | None = None
    # Which number of a figure the ratio and the target use (p99 of p50 / p99 / p99.9).
    key: int = 0
    ours: list[Figure] = field(default_factory=list)
    refs: list[Figure] = field(default_factory=list)
    note: str = ""
    # Set when the measurement went wrong (errors, no figure): the verdict is FAIL.
    failed: str = ""

    def add(self, ours: float | Figure | None = None, ref: float | Figure | None = None) -> None:
        if ours is not None:
            self.ours.append(ours if isinstance(ours, tuple) else (ours,))
        if ref is not None:
            self.refs.append(ref if isinstance(ref, tuple) else (ref,))

    def ours_median(self) -> Figure | None:
        return medians(self.ours)

    def ref_median(self) -> Figure | None:
        return medians(self.refs)

    def ratio(self) -> float | None:
        ours, ref = self.ours_median(), self.ref_median()
        if ours is None or ref is None or ref[self.key] == 0:
            return None
        return ours[self.key] / ref[self.key]

    def verdict(self) -> str:
        if self.failed:
            return "FAIL"
        ours = self.ours_median()
        if self.target is None or ours is None:
            return ""
        ratio = self.ratio()
        if ratio is None and "ratio" in self.target.text:
            return "?"
        passed = self.target.check(ours[self.key], math.nan if ratio is None else ratio)
        return "pass" if passed else "FAIL"

    def cells(self) -> list[str]:
        ours, ref, ratio = self.ours_median(), self.ref_median(), self.ratio()
        rounds = max(len(self.ours), len(self.refs))
        measure = f"{self.measure} [{self.unit}]" if self.unit else self.measure
        return [
            self.scenario,
            f"{measure} x{rounds}" if rounds > 1 else measure,
            show(ours) if self.ours else self.failed,
            show(ref) + (f" ({self.reference})" if self.reference and ref else ""),
            "" if ratio is None else f"{ratio:.2f}",
            self.target.text if self.target else "",
            self.verdict(),
        ]


def rounds(row: Row) -> str:
    """Every round's figures, ours then the reference's: how much the medians hide."""
    ours = "; ".join(show(figure) for figure in row.ours)
    refs = "; ".join(show(figure) for figure in row.refs)
    return ours + (f" | {refs}" if refs else "")


def medians(figures: Sequence[Figure]) -> Figure | None:
    if not figures:
        return None
    return tuple(statistics.median(column) for column in zip(*figures, strict=True))


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def show(figure: Figure | None) -> str:
    return "" if figure is None else " / ".join(number(value) for value in figure)


HEADER = ["scenario", "measure", "ours", "reference", "ratio", "target", "verdict"]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table, its columns padded so that it also reads as plain text."""
    grid = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(cells) for cells in grid[1:])])
