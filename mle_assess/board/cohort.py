"""The cohort's picture: score histogram (an SVG drawn here), percentiles, module means, and
item analysis of the quiz. Pure functions over official results."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from html import escape

SCALE_MIN, SCALE_MAX, BIN = 200, 600, 25
MIN_FOR_ITEMS = 20  # item statistics mean little on fewer candidates


def histogram(scores: list[int]) -> list[tuple[int, int]]:
    """(bin start, count) for bins of 25 points from 200 to 600 (600 falls in the last)."""
    starts = list(range(SCALE_MIN, SCALE_MAX, BIN))
    counts = dict.fromkeys(starts, 0)
    for score in scores:
        start = min(SCALE_MAX - BIN, SCALE_MIN + (score - SCALE_MIN) // BIN * BIN)
        counts[max(SCALE_MIN, start)] += 1
    return list(counts.items())


def histogram_svg(scores: list[int], width: int = 640, height: int = 240) -> str:
    """The histogram as an accessible inline SVG (a title, a description, one labelled bar per
    bin), with no script and no external resource."""
    bins = histogram(scores)
    top = max((c for _, c in bins), default=0) or 1
    pad, base = 30, height - 30
    bar = (width - 2 * pad) / len(bins)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="hist-title hist-desc">',
        '<title id="hist-title">Scaled scores of the cohort</title>',
        f'<desc id="hist-desc">{len(scores)} official scores in bins of {BIN} points '
        f"from {SCALE_MIN} to {SCALE_MAX}.</desc>",
    ]
    for i, (start, count) in enumerate(bins):
        h = (base - pad) * count / top
        x = pad + i * bar
        label = f"{start} to {start + BIN - 1 if start + BIN < SCALE_MAX else SCALE_MAX}: {count}"
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
            f'fill="#1a5fb4"><title>{escape(label)}</title></rect>'
        )
        if i % 4 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="18">{start}</text>')
    # Labels big enough to read when the chart shrinks to a phone's width; the axis line, and
    # the tallest bar's count on a guide line.
    parts.append(f'<text x="{width - pad - 30}" y="{height - 6}" font-size="18">600</text>')
    parts.append(
        f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#555"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{width - pad}" y2="{pad}" stroke="#bbb" '
        f'stroke-dasharray="4 4"/>'
        f'<text x="{pad}" y="{pad - 6}" font-size="16">{top if scores else 0} candidates</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def percentiles(scores: list[int]) -> dict[int, float]:
    """The 10th, 25th, 50th, 75th and 90th percentiles (inclusive method), or {} when empty."""
    if not scores:
        return {}
    if len(scores) == 1:
        return dict.fromkeys((10, 25, 50, 75, 90), float(scores[0]))
    cuts = statistics.quantiles(scores, n=100, method="inclusive")
    return {p: round(cuts[p - 1], 1) for p in (10, 25, 50, 75, 90)}


def module_means(results: list[dict]) -> dict[str, float]:
    """Each module's mean share of its points, in percent."""
    shares: dict[str, list[float]] = {}
    for data in results:
        for module, pair in data["extra_data"]["modules"].items():
            if pair["max_score"]:
                shares.setdefault(module, []).append(pair["score"] / pair["max_score"])
    return {m: round(100 * statistics.fmean(v), 1) for m, v in sorted(shares.items())}


@dataclass(frozen=True)
class Item:
    """One quiz question across the cohort."""

    name: str
    share_right: float
    point_biserial: float | None


def item_analysis(results: list[dict]) -> list[Item]:
    """For each quiz question: the share of candidates who got it fully right, and the
    point-biserial correlation between getting it right and the scaled score."""
    totals = [float(d["extra_data"]["scaled_score"]) for d in results]
    names = sorted(
        {t["name"] for d in results for t in d["tests"] if {"module1", "module2"} & set(t["tags"])}
    )
    items = []
    for name in names:
        right = []
        for data in results:
            test = next((t for t in data["tests"] if t["name"] == name), None)
            right.append(1.0 if test and test["score"] >= test["max_score"] else 0.0)
        items.append(Item(name, round(sum(right) / len(right), 3), _point_biserial(right, totals)))
    return items


def _point_biserial(right: list[float], totals: list[float]) -> float | None:
    """Pearson's r between a 0/1 item and the totals; None when either does not vary."""
    if len(set(right)) < 2 or len(set(totals)) < 2:
        return None
    mean_r, mean_t = statistics.fmean(right), statistics.fmean(totals)
    cov = sum((r - mean_r) * (t - mean_t) for r, t in zip(right, totals, strict=True))
    var_r = sum((r - mean_r) ** 2 for r in right)
    var_t = sum((t - mean_t) ** 2 for t in totals)
    return round(cov / math.sqrt(var_r * var_t), 3)
