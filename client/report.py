"""The accuracy report of one device: predicted vs measured latency and a calibration curve.

Builds a :class:`matplotlib.figure.Figure` directly (no pyplot), so it touches no global state
and needs no display; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
import logging
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from client.api import Predictions
from client.metrics import ACC10_LIMIT, Scores, calibration_curve, score, spearman_text
from service.outputs import write_atomically
from service.wording import quantity

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: Columns per line of the figure's title (11-point type across its 12 inches).
TITLE_WIDTH = 100
#: Above this many points only a random subset gets error bars, which would hide the cloud.
MAX_ERROR_BARS = 300
INSIDE_COLOR = "#1f77b4"
OUTSIDE_COLOR = "#d62728"


@dataclass(frozen=True)
class Report:
    """Measured latencies, their predictions and the scores (arrays of shape ``(n,)``)."""

    device: str
    measured_ms: np.ndarray
    prediction: Predictions
    scores: Scores
    median_ms: np.ndarray

    @classmethod
    def build(cls, device: str, measured_ms: np.ndarray, prediction: Predictions) -> Report:
        measured = np.asarray(measured_ms, dtype=np.float64)
        scores, median = score(
            prediction.lower_ms, prediction.upper_ms, measured, median_ms=prediction.median_ms
        )
        return cls(device, measured, prediction, scores, median)


def draw(report: Report) -> Figure:
    """The two-panel figure: predicted vs measured (log axes) and calibration."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 5.4), layout="constrained")
    scatter, calibration = figure.subplots(1, 2, width_ratios=(1.25, 1))
    _draw_scatter(scatter, report)
    _draw_calibration(calibration, report)
    scores = report.scores
    # The scores on a line of their own, the rest wrapped: on one line a 40-character name
    # pushed both ends off the figure, and names may have 200 (reviews, 2026-12-06).
    heading = _wrapped(
        f"{report.device}: {quantity(scores.n, 'measured architecture')}"
        f"    model {report.prediction.model_version or '?'}"
    )
    figure.suptitle(
        f"{heading}\n"
        f"Spearman {spearman_text(scores.spearman, scores.n)}    acc10 {scores.acc10:.1%}"
        f"    bias {scores.bias:+.1f}%    90% coverage {scores.coverage90:.1%}",
        fontsize=11,
        parse_math=False,  # a device name is the user's text, not TeX between two '$'
    )
    return figure


def _wrapped(text: str) -> str:
    """``text`` in lines of at most TITLE_WIDTH columns, an East Asian wide character taking
    two: "设备" x 30 ran off the figure at 100 characters a line (a review, 2026-12-06)."""
    lines, line, used = [], "", 0
    for character in text:
        width = 2 if unicodedata.east_asian_width(character) in "WF" else 1
        if used + width > TITLE_WIDTH:
            lines.append(line.rstrip())
            line, used = character.lstrip(), 0 if character.isspace() else width
            continue
        line, used = line + character, used + width
    return "\n".join([*lines, line])


def _draw_scatter(ax: Axes, report: Report) -> None:
    bars = _error_bar_points(report)
    _draw_points(ax, report, bars)
    # Limits follow the points; a wide interval may run off the axes rather than squash them.
    measured, median = report.measured_ms, report.median_ms
    low = float(min(measured.min(), median.min()))
    high = float(max(measured.max(), median.max()))
    bounds = (low / 1.25, high * 1.25)
    line = np.array(bounds)
    ax.plot(line, line, color="black", linewidth=1, label="predicted = measured")
    # The band acc10 counts: within 10% of the measurement, 0.9-1.1 times it.
    within = (line * (1 - ACC10_LIMIT), line * (1 + ACC10_LIMIT))
    ax.fill_between(line, *within, color="gray", alpha=0.15, label="within 10%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        _log_ticks(axis, bounds)
    ax.set_xlim(bounds)
    ax.set_ylim(bounds)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms): median, 90% interval")
    title = "Predicted vs measured"
    if len(bars) < len(measured):
        title += f" (error bars on {quantity(len(bars), 'point')})"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)


def _error_bar_points(report: Report) -> np.ndarray:
    """Positions of the points that get an error bar: at most MAX_ERROR_BARS of those with a
    bounded interval."""
    lower, upper = report.prediction.lower_ms, report.prediction.upper_ms
    # An unbounded interval (a device the service knows nothing about) gets no bar.
    bars = np.flatnonzero(np.isfinite(lower) & np.isfinite(upper) & (lower > 0))
    if len(bars) > MAX_ERROR_BARS:
        bars = np.sort(np.random.default_rng(0).choice(bars, MAX_ERROR_BARS, replace=False))
    return bars


def _draw_points(ax: Axes, report: Report, bars: np.ndarray) -> None:
    """Predicted against measured, coloured by whether the 90% interval holds the measurement;
    ``bars``: the points that also get their interval as an error bar."""
    measured, median = report.measured_ms, report.median_ms
    lower, upper = report.prediction.lower_ms, report.prediction.upper_ms
    inside = (measured >= lower) & (measured <= upper)
    for mask, color, label in (
        (inside, INSIDE_COLOR, "inside"),
        (~inside, OUTSIDE_COLOR, "outside"),
    ):
        chosen = bars[mask[bars]]
        if len(chosen):
            # At 0 where a caller's own prediction lies outside its interval: matplotlib
            # refused a negative bar in a traceback (a review, 2026-12-06).
            yerr = np.vstack([median[chosen] - lower[chosen], upper[chosen] - median[chosen]])
            yerr = yerr.clip(min=0)
            ax.errorbar(
                measured[chosen], median[chosen], yerr=yerr, fmt="none",
                ecolor=color, alpha=0.35, linewidth=0.8,
            )  # fmt: skip
        count = int(mask.sum())
        ax.scatter(
            measured[mask], median[mask], s=10, color=color, alpha=0.7, linewidths=0,
            label=f"{label} the 90% interval ({count})",
        )  # fmt: skip


def _log_ticks(axis: Any, bounds: tuple[float, float]) -> None:
    """Log-axis ticks in plain numbers: at 1-2-5 where the axis spans at most 2 decades, else
    at decades only (labels at 1-2-5 over 7 decades ran into each other; a review)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = np.log10(bounds[1] / bounds[0])
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades <= 2 else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _draw_calibration(ax: Axes, report: Report) -> None:
    prediction = report.prediction
    levels, observed = calibration_curve(
        report.median_ms, prediction.lower_ms, prediction.upper_ms, report.measured_ms
    )
    ax.plot([0, 1], [0, 1], color="black", linewidth=1, linestyle="--", label="perfect calibration")
    ax.plot(levels, observed, marker="o", markersize=4, color=INSIDE_COLOR, label="observed")
    ax.scatter(
        [0.9], [report.scores.coverage90], s=80, facecolors="none", edgecolors=OUTSIDE_COLOR,
        linewidths=1.5, zorder=3, label=f"90% interval: {report.scores.coverage90:.1%}",
    )  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal coverage of the central interval")
    ax.set_ylabel("share of measurements inside")
    ax.set_title("Calibration (levels other than 90% rescaled from it)", fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)


def write_report(
    path: str | Path, device: str, measured_ms: np.ndarray, prediction: Predictions
) -> Report:
    """Scores ``prediction`` against ``measured_ms`` and saves the figure to ``path`` (the
    format follows its suffix: .png, .pdf, .svg), whole or not at all: matplotlib writes as
    it draws, so an interrupted save left part of a file."""
    report = Report.build(device, measured_ms, prediction)
    figure = draw(report)
    image = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(image, format=Path(path).suffix.lstrip(".").lower(), dpi=120)
    _say_warnings(caught, device)
    write_atomically(Path(path), image.getvalue())
    return report


def _say_warnings(caught: list[warnings.WarningMessage], device: str) -> None:
    """Passes on what matplotlib warned of while saving, but a font's missing glyphs, which
    it reported once per character and drawing, with a source line each: one line says it."""
    glyphs = [w for w in caught if "missing from font" in str(w.message)]
    if glyphs:
        logger.warning("the figure's font lacks characters of %r: they are drawn as boxes", device)
    for warning in caught:
        if warning not in glyphs:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
