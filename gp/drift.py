"""Drift along a latency table's file order: what no model of the architecture can predict.

    python -m gp.drift --dataset ../shared/datasets/help-nasbench201 --device gold_6226

A HELP table lists the archs in HELP's index order, which has nothing to do with their
structure. If the machine's speed wandered while the table was measured in that order, the
model's residuals are correlated between neighbours in the file; if not, they are not (raspi4 and
fpga tables, for instance). This fits the GP on the source devices, conditions on ``--measured``
random archs of the device, predicts the others and reports, on those:

- the residuals' autocorrelation at lags of 1, 5, 25, 125 and 625 positions in the file (the
  measured archs skipped);
- the drift: each residual's neighbours' mean (``--window`` positions, itself left out), and the
  share of the residuals' variance it holds;
- Spearman of the prediction against the table, and against the table less the drift;
- Spearman of the table less the drift against the table: about the most any prediction of the
  architecture alone can score against the table, the drift being no property of the arch.

The last two mean something only where the drift holds much of the residuals' variance; where it
holds little (raspi4: 6%), the neighbour mean is mostly the residuals' own scatter averaged.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from gp.benchmark import fit_sources, measured_posterior
from gp.data import HELP_SOURCE_DEVICES, LatencyDataset, load_help_dataset
from gp.errors import DatasetError
from gp.model import FitSettings, LatencyModel
from gp.spaces.nasbench201 import NUM_ARCHS

LAGS: tuple[int, ...] = (1, 5, 25, 125, 625)


def lag_autocorrelation(series: np.ndarray, lags: tuple[int, ...] = LAGS) -> list[float]:
    """Pearson correlation of ``series`` with itself shifted by each lag."""
    if len(series) <= max(lags) + 2:
        raise ValueError(f"a series of {len(series)} is too short for lag {max(lags)}")
    return [float(np.corrcoef(series[:-lag], series[lag:])[0, 1]) for lag in lags]


def check_window(window: int) -> None:
    """Raises ValueError unless ``window`` has a middle and neighbours on both sides."""
    if window < 3 or window % 2 == 0:
        raise ValueError(f"the window must be odd and at least 3, got {window}")


def neighbour_mean(series: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window - 1`` values around each position, the position itself left out (so
    an arch's own residual is not counted as drift); fewer at the ends."""
    check_window(window)
    weights = np.ones(window)
    weights[window // 2] = 0.0
    # The full convolution's middle: mode "same" is as long as the longer input, so a window
    # wider than the series would return more values than the series has.
    centre = slice(window // 2, window // 2 + len(series))
    total = np.convolve(series, weights, mode="full")[centre]
    count = np.convolve(np.ones_like(series), weights, mode="full")[centre]
    return total / count


def check_seed(seed: int) -> None:
    """Raises ValueError unless ``seed`` is one numpy's generators take (not negative)."""
    if seed < 0:
        raise ValueError(f"the seed must be 0 or more, got {seed}")


@dataclass(frozen=True)
class DriftReport:
    """Residuals of a device's unmeasured archs, in file order (see the module docstring)."""

    residual_sd: float
    autocorrelation: dict[int, float]
    drift_variance_share: float
    spearman_vs_table: float
    spearman_vs_table_less_drift: float
    table_less_drift_vs_table: float


def drift_report(
    model: LatencyModel,
    dataset: LatencyDataset,
    device: str,
    measured: int = 1000,
    seed: int = 0,
    window: int = 25,
) -> DriftReport:
    """Conditions ``model`` on ``measured`` random archs of ``device`` and examines the rest."""
    check_seed(seed)
    if dataset.file_order is None:
        raise DatasetError("the dataset does not say in which order its tables list the archs")
    truth = dataset.table(device)
    chosen = np.random.default_rng(seed).choice(NUM_ARCHS, size=measured, replace=False)
    posterior = measured_posterior(model, truth, chosen)
    held_out = dataset.file_order[~np.isin(dataset.file_order, chosen)]
    predicted = posterior.predict(model.features.universe_rows(torch.as_tensor(held_out))).mean_ms
    table = np.log(truth[held_out])
    residual = table - np.log(predicted)
    drift = neighbour_mean(residual, window)
    return DriftReport(
        residual_sd=float(residual.std()),
        autocorrelation=dict(zip(LAGS, lag_autocorrelation(residual), strict=True)),
        drift_variance_share=float(drift.var() / residual.var()),
        spearman_vs_table=_spearman(predicted, table),
        spearman_vs_table_less_drift=_spearman(predicted, table - drift),
        table_less_drift_vs_table=_spearman(table - drift, table),
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sources = [s for s in HELP_SOURCE_DEVICES if s != args.device]
    try:
        # Only the tables used, as the benchmark: another one, unreadable, stopped the run.
        dataset = load_help_dataset(args.dataset, sources + [args.device])
        model = fit_sources(dataset, sources, FitSettings())
        result = drift_report(model, dataset, args.device, args.measured, args.seed, args.window)
    except (DatasetError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    _print_report(args.device, args.window, result)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gp.drift", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, type=Path, help="HELP-format directory")
    parser.add_argument("--device", required=True, help="the device whose table is examined")
    parser.add_argument(
        "--measured",
        type=int,
        default=1000,
        # 14,625 took 245 s and 9 GB (a review, 2026-12-06): say so before a user tries it.
        help="archs conditioned on (default %(default)s: 30 s and 1 GB; memory grows with its"
        " square, 14,625 took 9 GB)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the measured archs (default %(default)s)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=25,
        help="positions the drift averages, an odd number (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.measured <= NUM_ARCHS - 1000:
        parser.error(f"--measured must be between 1 and {NUM_ARCHS - 1000}")
    # Before the fit: numpy refuses a negative seed only once the fit is done.
    for flag, check, value in (
        ("--window", check_window, args.window),
        ("--seed", check_seed, args.seed),
    ):
        try:
            check(value)
        except ValueError as exc:
            parser.error(f"{flag}: {exc}")
    return args


def _print_report(device: str, window: int, result: DriftReport) -> None:
    lags = "  ".join(f"{lag}: {r:.3f}" for lag, r in result.autocorrelation.items())
    print(f"{device}: residual sd {result.residual_sd:.4f} (log), file-order lags {lags}")
    print(f"drift ({window}-position neighbour mean) holds {result.drift_variance_share:.0%}")
    print(
        f"Spearman: prediction vs table {result.spearman_vs_table:.4f}, vs table less drift "
        f"{result.spearman_vs_table_less_drift:.4f}; table less drift vs table "
        f"{result.table_less_drift_vs_table:.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
