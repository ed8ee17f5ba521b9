"""Latency-constrained evolutionary search over NAS-Bench-201, with the latency service in the loop.

The search never looks at the device's latency table: it asks the service for predicted latency
(median and 90% interval) of every candidate, and for the few architectures worth measuring,
whose latency it then "measures" on a simulated device (the HELP table of ``--table``, revealed
one architecture at a time) and uploads. At the end it reports what it found, the true latency of
each find against the budget, and how many measurements it spent.

NAS-Bench-201's accuracies are not part of the shared dataset, so the search maximises a stand-in
for accuracy: the cell's capacity, i.e. its live convolutions weighted by kernel size plus the
depth of its longest live path. Like accuracy, it grows with latency, which is what makes the
budget bind. Swap :func:`capacity` for a real accuracy oracle (or a trained predictor) in a real
search.

Run it against a server that has the HELP source devices (see the README's "The service"; a
table the server was fitted on, after importing all 27, is no unseen device, and it says so).
Besides the client it needs torch, which reads the tables (``pip install
'nas-latency-estimator[measure]'``)::

    python examples/latency_constrained_search.py --table raspi4 --budget-ms 40

The device is registered under a fresh name (``--device`` to pick one); its measurements stay in
the service's store afterwards, like a real device's would, and a later run under that name
and table starts from them (they settle those archs and are not counted as spent again). A
device of that name not simulated from that table is refused.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from client import AlreadyExistsError, LatencyClient, LatencyServiceError, NotFoundError
from client.measure.networks import NB201_OPS, format_nb201, parse_nb201

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "help-nasbench201"

#: Cell edges (source node, target node) in arch-string order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: What each live op adds to the capacity score: 3x3 convs learn most, then 1x1, then the rest.
OP_CAPACITY = {"none": 0.0, "skip_connect": 0.2, "nor_conv_1x1": 1.0, "nor_conv_3x3": 2.5,
               "avg_pool_3x3": 0.3}  # fmt: skip
Z95 = 1.6448536269514722  # a central 90% interval spans +-Z95 sd


# ---- NB201 cells ---------------------------------------------------------------------------------
def parse(arch: str) -> tuple[str, ...]:
    """The 6 edge ops of ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, in edge order."""
    return tuple(op for node in parse_nb201(arch) for op in node)


def live_edges(ops: Sequence[str]) -> list[int]:
    """Edges on some input-to-output path of non-``none`` ops (the others never affect output)."""
    reach_in, reach_out = {0}, {3}
    for i, (src, dst) in enumerate(EDGES):  # EDGES is topologically ordered by target
        if ops[i] != "none" and src in reach_in:
            reach_in.add(dst)
    for i, (src, dst) in reversed(list(enumerate(EDGES))):
        if ops[i] != "none" and dst in reach_out:
            reach_out.add(src)
    return [
        i for i, (s, d) in enumerate(EDGES) if ops[i] != "none" and s in reach_in and d in reach_out
    ]


def capacity(arch: str) -> float:
    """The stand-in for accuracy (see the module docstring)."""
    ops = parse(arch)
    live = live_edges(ops)
    depth = {0: 0}
    for i, (src, dst) in enumerate(EDGES):
        if i in live and src in depth:
            depth[dst] = max(depth.get(dst, 0), depth[src] + 1)
    return sum(OP_CAPACITY[ops[i]] for i in live) + 0.5 * depth.get(3, 0)


def random_cell(rng: np.random.Generator) -> str:
    return format_nb201([NB201_OPS[i] for i in rng.integers(len(NB201_OPS), size=len(EDGES))])


def mutate(arch: str, rng: np.random.Generator) -> str:
    """Changes the op of one random edge."""
    ops = list(parse(arch))
    edge = int(rng.integers(len(EDGES)))
    ops[edge] = str(rng.choice([op for op in NB201_OPS if op != ops[edge]]))
    return format_nb201(ops)


# ---- the simulated device ------------------------------------------------------------------------
class UnknownTableError(ValueError):
    """``--table`` names no table of the dataset (the dataset itself is fine)."""


class SimulatedDevice:
    """Answers latency measurements from a HELP table and counts them."""

    def __init__(self, dataset: Path, table: str) -> None:
        # An example may use the modelling package to read the table; the client library may not.
        from gp.data import help_device_stems, load_help_dataset
        from gp.spaces.nasbench201 import all_archs, arch_to_index

        tables = help_device_stems(dataset)  # DatasetError where the directory is wrong
        if table not in tables:
            raise UnknownTableError(f"--table {table}: {dataset} has {', '.join(tables)}")
        self._latency = load_help_dataset(dataset, [table]).latency_ms[table]
        self._index = arch_to_index
        self.all_archs = all_archs()
        self.measured: dict[str, float] = {}
        self.recalled = 0

    def recall(self, pairs: Sequence[tuple[str, float]]) -> None:
        """Measurements the device holds from an earlier run: known to the search (settled,
        and no candidates for suggestion, which the service would refuse), not spent by it."""
        self.measured.update(pairs)
        self.recalled = len(self.measured)

    @property
    def spent(self) -> int:
        """Measurements taken by this run."""
        return len(self.measured) - self.recalled

    def measure(self, archs: Sequence[str]) -> list[float]:
        values = [float(self._latency[self._index(arch)]) for arch in archs]
        self.measured.update(zip(archs, values, strict=True))
        return values

    def truth(self, arch: str) -> float:
        """For the final report only: the search itself never calls this."""
        return float(self._latency[self._index(arch)])


# ---- the search ----------------------------------------------------------------------------------
@dataclass
class Settings:
    budget_ms: float
    generations: int = 15
    population: int = 40
    initial_measurements: int = 8
    measure_per_generation: int = 3
    top: int = 5
    seed: int = 0


@dataclass
class Find:
    """One architecture the search returns."""

    arch: str
    capacity: float
    predicted_ms: float
    upper_ms: float
    measured: bool
    true_ms: float = math.nan


@dataclass
class SearchResult:
    device: str
    budget_ms: float
    finds: list[Find]
    measurements: int
    predictions: int
    best_possible: float = math.nan
    history: list[str] = field(default_factory=list)


def feasibility(
    median: np.ndarray, lower: np.ndarray, upper: np.ndarray, budget: float
) -> np.ndarray:
    """P(latency <= budget), reading the service's 90% interval as a log-normal's (close to
    the service's Gaussian while the interval is a few tens of percent wide); an unbounded
    interval (nothing known yet) gives 1/2."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.maximum(np.log(upper / lower) / (2 * Z95), 1e-9)
        z = np.where(np.isfinite(sd), (math.log(budget) - np.log(median)) / sd, 0.0)
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def search(
    latency: LatencyClient, device: str, simulator: SimulatedDevice, settings: Settings
) -> SearchResult:
    rng = np.random.default_rng(settings.seed)
    budget = settings.budget_ms
    history: list[str] = []
    predictions = 0

    def measure_and_upload(archs: Sequence[str]) -> None:
        values = simulator.measure(archs)
        latency.add_measurements(device, list(zip(archs, values, strict=True)))

    # Seed the device's model with the service's own choice of informative architectures.
    measure_and_upload(latency.suggest(device, count=settings.initial_measurements).archs)
    population = list(dict.fromkeys(random_cell(rng) for _ in range(settings.population)))
    for generation in range(settings.generations):
        children = []
        for _ in range(settings.population):
            contenders = rng.choice(len(population), size=min(3, len(population)), replace=False)
            parent = max((population[i] for i in contenders), key=capacity)
            children.append(mutate(parent, rng))
        pool = list(dict.fromkeys(population + children))
        result = latency.predict(device, pool)
        predictions += len(pool)
        p_ok = feasibility(result.median_ms, result.lower_ms, result.upper_ms, budget)
        for i, arch in enumerate(pool):  # a measurement settles feasibility
            if arch in simulator.measured:
                p_ok[i] = float(simulator.measured[arch] <= budget)
        scores = np.array([capacity(arch) for arch in pool])
        # Survivors: the most capable of the probably-feasible, topped up with the most capable
        # of the rest (the faster first among equals): they may turn out feasible.
        order = sorted(
            range(len(pool)), key=lambda i: (p_ok[i] < 0.5, -scores[i], result.median_ms[i])
        )
        population = [pool[i] for i in order[: settings.population]]
        # Where feasibility is in doubt among the most capable, a measurement pays most: let
        # the service pick which of those teach its model most.
        doubtful = [
            pool[i] for i in order if 0.05 < p_ok[i] < 0.95 and pool[i] not in simulator.measured
        ]
        doubtful = sorted(doubtful, key=capacity, reverse=True)[
            : 4 * settings.measure_per_generation
        ]
        if doubtful:
            count = min(settings.measure_per_generation, len(doubtful))
            measure_and_upload(latency.suggest(device, count=count, candidates=doubtful).archs)
        best = population[0]
        history.append(
            f"generation {generation + 1:2d}: best capacity {capacity(best):.2f}"
            f" (p_ok {p_ok[order[0]]:.2f}), {simulator.spent} measured"
        )

    finds = _finds(latency, device, population, simulator, settings)
    predictions += len(population)  # _finds predicts the last population once more
    return SearchResult(device, budget, finds, simulator.spent, predictions, history=history)


def _finds(
    latency: LatencyClient,
    device: str,
    population: list[str],
    simulator: SimulatedDevice,
    settings: Settings,
) -> list[Find]:
    """The most capable archs that are within budget with 95% confidence, or measured so."""
    result = latency.predict(device, population)
    finds = []
    for i, arch in enumerate(population):
        measured = arch in simulator.measured
        if (simulator.measured[arch] if measured else result.upper_ms[i]) > settings.budget_ms:
            continue
        finds.append(
            Find(
                arch,
                capacity(arch),
                float(result.median_ms[i]),
                float(result.upper_ms[i]),
                measured,
            )
        )
    finds.sort(key=lambda f: (-f.capacity, f.predicted_ms))
    for find in finds[: settings.top]:
        find.true_ms = simulator.truth(find.arch)  # revealed for the report, not the search
    return finds[: settings.top]


# ---- command line --------------------------------------------------------------------------------
def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` above zero."""
    return _number(
        kind, lambda value: math.isfinite(value) and value > 0, "a finite number above 0"
    )


def _not_negative(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind``, 0 or more (a float may be infinite: no limit)."""
    return _number(kind, lambda value: value >= 0, "0 or more")  # NaN fails too


def _number(
    kind: type[int] | type[float], accepts: Callable[[float], bool], requirement: str
) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` that ``accepts`` (else "must be ``requirement``")."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target",
        default=os.environ.get("LATENCY_TARGET", "127.0.0.1:50051"),
        help="host:port of the latency service (env LATENCY_TARGET; default %(default)s)",
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        # The tests' variable, else the server's: a user who set LATENCY_DATASET for `serve`
        # was told the default was no dataset (a review, 2026-12-06).
        default=Path(
            os.environ.get("LATENCY_DATASET_DIR")
            or os.environ.get("LATENCY_DATASET")
            or DEFAULT_DATASET
        ),
        help="HELP NB201 dataset directory (env LATENCY_DATASET_DIR, else LATENCY_DATASET;"
        " default %(default)s)",
    )
    parser.add_argument(
        "--table", default="raspi4", help="HELP table that plays the device (default %(default)s)"
    )
    parser.add_argument("--device", help="name to register the device under (default: fresh)")
    parser.add_argument(
        "--budget-ms",
        type=_positive(float),
        help="latency budget (default: the table's 30th percentile)",
    )
    count = _positive(int)
    for flag, default, what in (
        ("--generations", Settings.generations, "rounds of mutation and selection"),
        ("--population", Settings.population, "candidates per generation"),
        ("--initial-measurements", Settings.initial_measurements, "archs measured first"),
        ("--measure-per-generation", Settings.measure_per_generation, "archs measured per round"),
        ("--top", Settings.top, "finds reported"),
    ):
        parser.add_argument(flag, type=count, default=default, help=f"{what} (default %(default)s)")
    parser.add_argument(
        "--seed",
        type=_not_negative(int),
        default=Settings.seed,
        help="search seed (default %(default)s)",
    )
    parser.add_argument(
        "--wait",
        type=_not_negative(float),
        default=600.0,
        help="seconds to wait for a server still fitting its model (one not listening yet:"
        " 30 s at most; default %(default)s)",
    )
    return parser.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> SearchResult:
    args = parse_args(argv)
    simulator = SimulatedDevice(args.dataset, args.table)
    all_latency = np.array([simulator.truth(a) for a in simulator.all_archs])
    budget = args.budget_ms if args.budget_ms is not None else float(np.quantile(all_latency, 0.3))
    settings = Settings(
        budget_ms=budget,
        generations=args.generations,
        population=args.population,
        initial_measurements=args.initial_measurements,
        measure_per_generation=args.measure_per_generation,
        top=args.top,
        seed=args.seed,
    )
    device = args.device or f"sim-{args.table}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    with LatencyClient.from_env(target=args.target) as latency:
        # A server started moments ago fits its model first (up to a minute): wait for it
        # rather than fail at the first suggestion.
        latency.wait_until_ready(args.wait, on_wait=lambda message: print(message, file=sys.stderr))
        _warn_if_source(latency, args.table)
        description = f"simulated from HELP table {args.table}"
        try:
            latency.register_device(device, description=description)
        except AlreadyExistsError:
            # Only a device an earlier run simulated from this table: another's (a real
            # machine's) got this table's latencies stored for good (a review, 2026-12-06).
            if latency.device(device).description != description:
                sys.exit(f"error: {device} exists and was not {description}: name a new --device")
            # Its measurements settle those archs, as this run's own do; unknown to the search,
            # they were doubtful candidates, and a suggestion among them alone was refused.
            simulator.recall(latency.measurements(device))
            print(
                f"note: {device} exists; continuing with its measurements of"
                f" {simulator.recalled} archs",
                file=sys.stderr,
            )
        result = search(latency, device, simulator, settings)
    feasible = [
        capacity(a) for a, t in zip(simulator.all_archs, all_latency, strict=True) if t <= budget
    ]
    result.best_possible = max(feasible) if feasible else math.nan
    return result


def _warn_if_source(latency: LatencyClient, table: str) -> None:
    """A table the service fitted on (after importing all 27) is no unseen device: the model
    already knows it, through the relatives it weighs, and predicted it exactly."""
    try:
        known = latency.device(table)
    except NotFoundError:
        return
    if known.source:
        print(
            f"note: the service's model was fitted on {table}'s table, so the simulated device is"
            " no unseen one and is predicted near exactly; import only HELP's 13 source tables"
            " (import-help --devices) to simulate an unseen device",
            file=sys.stderr,
        )


def report(result: SearchResult) -> str:
    lines = [*result.history, ""]
    lines.append(f"device {result.device}, budget {result.budget_ms:.2f} ms")
    lines.append(f"{'capacity':>8}  {'predicted':>9}  {'90% upper':>9}  {'true':>8}  within  arch")
    for f in result.finds:
        ok = "yes" if f.true_ms <= result.budget_ms else "NO"
        numbers = f"{f.capacity:8.2f}  {f.predicted_ms:9.2f}  {f.upper_ms:9.2f}  {f.true_ms:8.2f}"
        lines.append(f"{numbers}  {ok:>6}  {f.arch}" + ("  (measured)" if f.measured else ""))
    within = sum(f.true_ms <= result.budget_ms for f in result.finds)
    # No arch of the table within the budget: its best capacity was printed as "nan".
    best = (
        f"best capacity possible under the budget {result.best_possible:.2f}"
        if not math.isnan(result.best_possible)
        else "no arch of the table is within the budget"
    )
    lines.append(
        f"{within} of {len(result.finds)} finds within budget; {result.measurements} measurements"
        f" spent of 15,625 archs, {result.predictions} predictions asked; {best}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from client import ClientInputError
    from gp.errors import DatasetError

    try:
        result = run(argv)
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        # The client alone (pip install .) has no torch, and the tables are torch files.
        print(
            "error: the simulated device reads HELP's tables with torch: pip install"
            " 'nas-latency-estimator[measure]' installs it",
            file=sys.stderr,
        )
        return 1
    except UnknownTableError as exc:  # a misused option, like argparse's own errors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (LatencyServiceError, ClientInputError, DatasetError) as exc:
        hint = " (--dataset or LATENCY_DATASET_DIR)" if isinstance(exc, DatasetError) else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 1
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
