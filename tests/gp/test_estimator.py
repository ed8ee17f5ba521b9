"""The estimator as a library: measurements and candidate pools as callers pass them (spaces
without source tables, so no fit is needed)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from gp.errors import (
    GPInputError,
    InvalidArchitectureError,
    InvalidMeasurementError,
    NotFittedError,
)
from gp.estimator import (
    FIT_REVISION,
    REFERENCE_LATENCY_PREFIX,
    SURPRISE_CHECK_MAX_ARCHS,
    LatencyEstimator,
    Measurements,
    prior_only_model,
    surprise_check_sample,
)
from gp.model import FitSettings, LatencyPrediction
from gp.spaces import FBNetSpace, NASBench201Space, VectorSpace
from gp.spaces.nasbench201 import NUM_ARCHS, all_archs

VECTORS = VectorSpace(3)
NB201 = NASBench201Space()


@pytest.mark.parametrize(
    ("archs", "latency_ms"),
    [
        (["1,2,3", "4,5,6"], [5.0]),  # would be broadcast to both archs
        (["1,2,3"], [5.0, 6.0]),
        (["1,2,3"], [[5.0]]),  # would make every prediction 2-D
        (["1,2,3"], ["fast"]),
    ],
)
def test_measurements_need_one_latency_per_arch(archs: list[str], latency_ms: list) -> None:
    with pytest.raises(InvalidMeasurementError, match="latenc"):
        LatencyEstimator(None).predict(VECTORS, [[1, 2, 3]], Measurements(archs, latency_ms))


@pytest.mark.parametrize(
    "latency_ms",
    [[True, 5.0], np.array([True, True]), torch.tensor([True, False]), (np.bool_(True), 5.0)],
)
def test_bools_are_not_latencies(latency_ms: object) -> None:
    """numpy made True a measurement of 1 ms (a mask passed for the latencies, say)."""
    with pytest.raises(InvalidMeasurementError, match="not bools"):
        Measurements(["1,2,3", "4,5,6"], latency_ms)


@pytest.mark.parametrize(
    ("latency_ms", "named"),
    [
        ([5.0, "3.5"], "measurement 1: latency '3.5'"),
        ((b"3.5", 5.0), "measurement 0: latency b'3.5'"),
        (np.array(["3.5", "4"]), "measurement 0: latency '3.5'"),
        (np.array([b"3.5", b"4"]), "measurement 0: latency b'3.5'"),
        (np.array([5.0, "4"], dtype=object), "measurement 1: latency '4'"),
        ([5.0, True], "measurement 1: latency True"),
        ([5.0, None], "measurement 1: latency None"),  # was "latency nan ms"
    ],
)
def test_strings_are_not_latencies(latency_ms: object, named: str) -> None:
    """numpy read "3.5" (a CSV's cells left unparsed, say) as a measurement of 3.5 ms."""
    with pytest.raises(InvalidMeasurementError, match=re.escape(named) + ": latencies must be"):
        Measurements(["1,2,3", "4,5,6"], latency_ms)


@pytest.mark.parametrize(
    "latency_ms",
    [
        np.array([5000, 6000], dtype="timedelta64[us]"),
        np.array([5_000_000, 6_000_000], dtype="timedelta64[ns]"),
        [5.0, np.timedelta64(6, "ms")],
    ],
)
def test_durations_are_not_latencies(latency_ms: object) -> None:
    """numpy took a duration as its count of its own unit: 5 ms in microseconds was a
    measurement of 5,000 ms (in nanoseconds 5,000,000), and was scored as such without a
    word (a review, 2026-12-06)."""
    with pytest.raises(InvalidMeasurementError, match="np.timedelta64"):
        Measurements(["1,2,3", "4,5,6"], latency_ms)


def test_an_int_beyond_any_float_is_refused_as_a_latency() -> None:
    """numpy's OverflowError escaped, no GPInputError."""
    with pytest.raises(InvalidMeasurementError, match="latencies must be numbers"):
        Measurements(["1,2,3"], [10**400])


def test_a_tensor_of_any_real_dtype_is_taken() -> None:
    """bfloat16 has no numpy twin: torch's TypeError escaped, no GPInputError."""
    latency = torch.tensor([5.0, 6.0], dtype=torch.bfloat16)
    assert Measurements(["1,2,3", "4,5,6"], latency).latency_ms.tolist() == [5.0, 6.0]


@pytest.mark.parametrize(
    ("latency_ms", "named"),
    [
        ([5.0, 4 + 1j], "measurement 1: latency (4+1j)"),
        (np.array([5.0, 4 + 0j]), "measurement 0: latency (5+0j)"),
        (torch.tensor([5.0, 4.0], dtype=torch.complex64), "measurement 0: latency (5+0j)"),
    ],
)
def test_complex_numbers_are_not_latencies(latency_ms: object, named: str) -> None:
    """numpy dropped the imaginary part with only a warning."""
    with pytest.raises(InvalidMeasurementError, match=re.escape(named) + ": latencies must be"):
        Measurements(["1,2,3", "4,5,6"], latency_ms)


def test_latencies_in_a_tensor_that_requires_grad_are_taken() -> None:
    """It failed with torch's bare RuntimeError "Can't call numpy() on Tensor that requires
    grad"."""
    latency = torch.tensor([5.0, 4.0], requires_grad=True)
    taken = Measurements(["1,2,3", "4,5,6"], latency)
    np.testing.assert_array_equal(taken.latency_ms, [5.0, 4.0])


def test_a_string_reference_latency_is_refused() -> None:
    descriptor = {REFERENCE_LATENCY_PREFIX + all_archs()[9]: "3.5"}
    with pytest.raises(InvalidMeasurementError, match="descriptor 'latency:.*'3.5'.*strings"):
        LatencyEstimator(None).predict(NB201, all_archs()[:1], None, descriptor)


def test_a_bool_reference_latency_is_refused() -> None:
    descriptor = {REFERENCE_LATENCY_PREFIX + all_archs()[9]: True}
    with pytest.raises(InvalidMeasurementError, match="descriptor 'latency:.*not bools"):
        LatencyEstimator(None).predict(NB201, all_archs()[:1], None, descriptor)


@pytest.mark.parametrize("latency_ms", [[5.0], 5.0])
def test_one_arch_given_as_a_bare_string_is_named_as_such(latency_ms: object) -> None:
    """Its characters were counted as archs: "147 archs need as many latencies"."""
    arch = FBNetSpace().random_archs(1)[0]
    with pytest.raises(InvalidArchitectureError, match="got a single str; wrap it in a list"):
        Measurements(arch, latency_ms)  # type: ignore[arg-type]


@pytest.mark.parametrize("archs", [{"a", "b"}, {"a": 1, "b": 2}, (a for a in "ab"), None])
def test_archs_in_no_order_are_refused(archs: object) -> None:
    """A set paired archs and latencies in an order that changed from one process to the next
    (2.1 ms or 19.8 ms for one arch); None raised a bare TypeError (a review, 2026-12-07)."""
    with pytest.raises(InvalidArchitectureError, match="a list of architectures in the latencies"):
        Measurements(archs, [2.0, 20.0])  # type: ignore[arg-type]


class _LabelledColumn:
    """Indexed by labels (here from 10) and sized, but no Sequence, and with no iteration of
    its own: list() reads labels 0, 1, ..."""

    def __init__(self, values: list[str]) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, label: int) -> str:
        if not 10 <= label < 10 + len(self.values):
            raise KeyError(label)
        return self.values[label - 10]


class _Series(_LabelledColumn):
    """A pandas Series' shape: as above, iterating its values (pandas registers no Sequence)."""

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)


def test_archs_in_an_indexed_column_keep_its_order() -> None:
    archs = FBNetSpace().random_archs(2, seed=0)
    measured = Measurements(_Series(archs), [2.0, 20.0])  # type: ignore[arg-type]
    assert measured.archs == archs
    # No iteration of its own: list() asked for label 0, a bare KeyError (a review).
    with pytest.raises(InvalidArchitectureError, match="could not be read in order"):
        Measurements(_LabelledColumn(archs), [2.0, 20.0])  # type: ignore[arg-type]


def test_a_descriptor_keyed_by_other_than_text_is_refused() -> None:
    """An int key raised a bare AttributeError ('int' object has no attribute 'startswith')."""
    with pytest.raises(GPInputError, match="descriptor must be a mapping of str keys"):
        descriptor = {3: 4.0}
        LatencyEstimator(None).predict(NASBench201Space(), all_archs()[:1], descriptor=descriptor)  # type: ignore[arg-type]


def test_a_count_beyond_the_candidates_left_unmeasured_says_why() -> None:
    """4 candidates, 3 of them measured or repeated: the refusal said only "the pool size 1"."""
    measured = Measurements(["1,2,3", "4,5,6"], [5.0, 6.0])
    candidates = ["1,2,3", "4.0,5,6", "7,8,9", [7, 8, 9]]
    for count in (2, 5):
        with pytest.raises(GPInputError, match=f"count {count} is more than the 1 candidates left"):
            LatencyEstimator(None).suggest(VECTORS, count, measured, candidates)
    with pytest.raises(GPInputError, match="count must be between 1 and the pool size 2, got 3"):
        LatencyEstimator(None).suggest(VECTORS, 3, measured, ["7,8,9", "1,1,1"])


@pytest.mark.parametrize("strategy", ["random", "active", "greedy"])
def test_a_batch_never_repeats_a_candidate_given_twice(strategy: str) -> None:
    candidates = [[1, 2, 3], "1.0,2.0,3.0", [4, 5, 6], "1,2,3"]  # one vector, three spellings
    for seed in range(10):
        picks = LatencyEstimator(None).suggest(VECTORS, 2, None, candidates, strategy, seed=seed)
        assert sorted(picks.archs) == ["1.0,2.0,3.0", "4.0,5.0,6.0"], (seed, picks.archs)


@pytest.mark.parametrize("strategy", ["random", "active", "greedy"])
def test_suggestions_leave_out_measured_candidates_however_spelt(strategy: str) -> None:
    measured = Measurements(["1,2,3"], [5.0])  # canonical: "1.0,2.0,3.0"
    candidates = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    for seed in range(10):
        picks = LatencyEstimator(None).suggest(
            VECTORS, 2, measured, candidates, strategy, seed=seed
        )
        assert sorted(picks.archs) == ["4.0,5.0,6.0", "7.0,8.0,9.0"], (seed, picks.archs)


def test_reference_latencies_in_the_descriptor_condition_nb201_devices_only() -> None:
    """A device's descriptor holds its latencies on NB201 reference archs; in another space
    they are not archs of that space (and would be rejected as malformed)."""
    estimator = LatencyEstimator(None)
    fbnet = FBNetSpace()
    archs = fbnet.random_archs(3, seed=0)
    measured = Measurements(archs[:1], [7.0])
    descriptor = {f"{REFERENCE_LATENCY_PREFIX}{all_archs()[5]}": 3.0, "memory_gb": 4.0}
    for space, candidates in ((fbnet, archs), (VECTORS, [[1, 2, 3], [4, 5, 6]])):
        described = estimator.predict(space, candidates, None, descriptor)
        plain = estimator.predict(space, candidates)
        np.testing.assert_allclose(described.mean_ms, plain.mean_ms)
    picks = estimator.suggest(fbnet, 2, measured, archs, descriptor=descriptor)
    assert sorted(picks.archs) == sorted(archs[1:])


@pytest.mark.parametrize(
    ("bad_table", "message"),
    [
        (np.ones(100), "source 'c': expected 15625 latencies"),  # was torch's lstsq error
        (np.ones((NUM_ARCHS, 1)), "source 'c': expected 15625 latencies"),  # "two devices"
        (np.r_[0.0, np.ones(NUM_ARCHS - 1)], "source 'c': measurement 0: latency 0.0"),
        # NaN is "not measured" (the table is skipped); inf was taken for that too
        (np.r_[np.ones(NUM_ARCHS - 1), np.inf], "source 'c': measurement 15624: latency inf"),
        # read by a plain float conversion, which took these for latencies (a review, 2026-12-06)
        (np.full(NUM_ARCHS, 5000, dtype="timedelta64[us]"), "source 'c': measurement 0: latency"),
        (np.ones(NUM_ARCHS, dtype=bool), "source 'c': measurement 0: latency True"),
        (np.full(NUM_ARCHS, "3.5"), "source 'c': measurement 0: latency '3.5'"),
        (  # torch's RuntimeError ("Can't call numpy() on Tensor that requires grad") escaped
            torch.cat([torch.zeros(1), torch.ones(NUM_ARCHS - 1)]).requires_grad_(),
            "source 'c': measurement 0: latency 0.0",
        ),
    ],
)
def test_fit_names_the_source_whose_table_is_malformed(bad_table: object, message: str):
    tables = {"a": np.ones(NUM_ARCHS), "b": list(np.full(NUM_ARCHS, 2.0)), "c": bad_table}
    with pytest.raises(GPInputError) as raised:
        LatencyEstimator.fit(tables)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("latency:nope", 3.0, InvalidArchitectureError),
        (f"latency:{all_archs()[3]}", float("nan"), InvalidMeasurementError),
        (f"latency:{all_archs()[3]}", "fast", InvalidMeasurementError),
    ],
)
def test_a_bad_reference_latency_is_named_by_its_descriptor_key(
    key: str, value: object, error: type[Exception]
) -> None:
    """Before, a NaN was 'measurement 2' of a device with two measurements, and a string a
    TypeError from numpy."""
    measured = Measurements(all_archs()[:2], [4.0, 5.0])
    with pytest.raises(error, match="^" + re.escape(f"descriptor {key!r}: ")):
        LatencyEstimator(None).predict(NB201, all_archs()[:1], measured, {key: value})


def test_an_arch_measured_several_times_counts_as_one_measurement() -> None:
    """Leave-one-out residuals, which scale the intervals, left one copy out and kept the
    others: uploading the same ten measurements five times made the intervals of a HELP device
    cover 13% instead of 76%. Repeats now condition as their median, once."""
    fbnet = FBNetSpace()
    archs = fbnet.random_archs(10, seed=0)
    latency = np.exp(np.random.default_rng(0).normal(2.0, 0.3, size=10))
    once = LatencyEstimator(None).predict(fbnet, archs, Measurements(archs, latency))
    spelt_otherwise = [arch.replace("skip", "8") for arch in archs]  # block 8 is skip
    repeated = Measurements(archs * 4 + spelt_otherwise, np.tile(latency, 5))
    five_times = LatencyEstimator(None).predict(fbnet, archs, repeated)
    np.testing.assert_allclose(five_times.lower_ms, once.lower_ms)
    np.testing.assert_allclose(five_times.upper_ms, once.upper_ms)
    spread = np.r_[latency, latency * 1.1, latency * 1.3]  # median 1.1 x, each arch
    thrice = LatencyEstimator(None).predict(fbnet, archs, Measurements(archs * 3, spread))
    at_median = LatencyEstimator(None).predict(fbnet, archs, Measurements(archs, latency * 1.1))
    np.testing.assert_allclose(thrice.mean_ms, at_median.mean_ms)


def synthetic_vectors(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(n x 3) FLOPs, parameters and depth, and latencies (ms) that follow the FLOPs."""
    rng = np.random.default_rng(seed)
    features = np.c_[rng.uniform(1e7, 1e9, n), rng.uniform(1e5, 1e7, n), rng.integers(5, 30, n)]
    return features, 1 + features[:, 0] / 1e7 * (1 + 0.02 * rng.normal(size=n))


def test_vector_predictions_do_not_depend_on_the_features_units() -> None:
    """Vectors come in the caller's units (FLOPs, bytes, counts); the kernel's lengthscales and
    variances are for standardised features. Raw FLOPs ranked 300 archs whose latency follows
    them at Spearman 0.81 from 20 measurements (0.73 from 5), against 0.99 once standardised."""
    features, latency = synthetic_vectors(0)
    measured = np.random.default_rng(0).choice(300, 20, replace=False)

    def predict(units: np.ndarray) -> np.ndarray:
        vectors = features * units
        archs = [VECTORS.canonical(vector) for vector in vectors[measured]]
        return (
            LatencyEstimator(None)
            .predict(VECTORS, vectors, Measurements(archs, latency[measured]))
            .mean_ms
        )

    in_units = predict(np.ones(3))
    np.testing.assert_allclose(predict(np.array([1e-6, 1e-3, 10.0])), in_units, rtol=1e-6)
    assert stats.spearmanr(in_units, latency).statistic > 0.95


def test_vector_predictions_from_one_measurement_do_not_depend_on_the_units() -> None:
    """One measurement leaves nothing to standardise by, and the scale's error was the raw
    features' prior variance capped at the level prior's: the same archs with FLOPs and
    parameters given in G and M were predicted 8.5 times lower than in units. Each arch's ratio
    variance was uncapped: in units the intervals' upper bound was about 1e9 times the lower
    (17.5 in G and M)."""
    features, latency = synthetic_vectors(0, 20)

    def predict(units: np.ndarray) -> LatencyPrediction:
        vectors = features * units
        device = Measurements([VECTORS.canonical(vectors[0])], latency[:1])
        return LatencyEstimator(None).predict(VECTORS, vectors[1:], device)

    in_units, in_gflops = predict(np.ones(3)), predict(np.array([1e-9, 1e-6, 1.0]))
    np.testing.assert_allclose(in_units.mean_ms, in_gflops.mean_ms, rtol=0.1)
    np.testing.assert_allclose(in_units.upper_ms, in_gflops.upper_ms, rtol=0.1)
    np.testing.assert_allclose(in_units.lower_ms, in_gflops.lower_ms, rtol=0.1)


@pytest.mark.parametrize("strategy", ["active", "greedy"])
@pytest.mark.parametrize("measured_count", [0, 1])
def test_vector_suggestions_do_not_depend_on_the_features_units(
    strategy: str, measured_count: int
) -> None:
    """Too few measurements to standardise by, the features are standardised by the pool:
    on raw features a column in FLOPs swamped the others and the picks changed with units."""
    features, latency = synthetic_vectors(0, 100)
    measured = np.arange(measured_count)

    def picks(units: np.ndarray) -> list[int]:
        vectors = features * units
        archs = [VECTORS.canonical(vector) for vector in vectors]
        device = Measurements([archs[i] for i in measured], latency[measured])
        chosen = LatencyEstimator(None).suggest(VECTORS, 10, device, archs, strategy, seed=3)
        return [archs.index(arch) for arch in chosen.archs]

    in_units = picks(np.ones(3))
    assert picks(np.array([1e-6, 1.0, 1.0])) == in_units
    assert picks(np.array([1.0, 1.0, 1e6])) == in_units


@pytest.mark.parametrize("measured_count", [0, 1])
def test_vector_suggestions_answer_as_predict(measured_count: int) -> None:
    """The pool-standardised posterior that picks answered the picks' variances too, tens to
    thousands of times smaller than predict's for the same archs."""
    features, latency = synthetic_vectors(0, 60)
    archs = [VECTORS.canonical(vector) for vector in features]
    device = Measurements(archs[:measured_count], latency[:measured_count])
    estimator = LatencyEstimator(None)
    chosen = estimator.suggest(VECTORS, 5, device, archs, "active", seed=3)
    predicted = estimator.predict(VECTORS, chosen.archs, device)
    np.testing.assert_allclose(chosen.prediction.mean_ms, predicted.mean_ms, rtol=1e-9)
    np.testing.assert_allclose(chosen.prediction.var_ms2, predicted.var_ms2, rtol=1e-9)


def test_an_estimator_saved_by_another_fit_revision_is_refused(tmp_path: Path) -> None:
    """save wrote no revision, so a fit of older code loaded whenever its shapes fitted."""
    path = tmp_path / "model.pt"
    path.write_bytes(_quick_fit().to_bytes())
    assert LatencyEstimator.load(path).nasbench201 is not None
    state = torch.load(path, weights_only=True)
    for revision in (FIT_REVISION - 1, None):
        torch.save(state | {"revision": revision}, path)
        with pytest.raises(
            NotFittedError, match=f"not a saved estimator of this code: fit revision {revision},"
        ):
            LatencyEstimator.load(path)


def test_the_tag_of_a_fit_is_saved_with_it_and_a_file_without_one_still_loads(
    tmp_path: Path,
) -> None:
    """The tag is what lets a caller tell its own fit from another's in a file."""
    path = tmp_path / "model.pt"
    path.write_bytes(_quick_fit(tag="fit-a").to_bytes())
    assert LatencyEstimator.load(path).tag == "fit-a"
    state = torch.load(path, weights_only=True)
    del state["tag"]  # as saved before tags were kept
    torch.save(state, path)
    assert LatencyEstimator.load(path).tag == ""


def _quick_fit(tag: str = "") -> LatencyEstimator:
    """A fit of one iteration on three made-up sources, for what needs only some fit."""
    flops = NB201.encode(all_archs())[:, NB201.feature_names.index("flops_m")].numpy()
    sources = {f"d{i}": flops * (1 + i) for i in range(3)}
    return LatencyEstimator.fit(
        sources, FitSettings(iterations=1, query_size=20, context_sizes=(5,)), tag=tag
    )


@pytest.mark.parametrize("content", [{"kernel": {}}, [1.0, 2.0], b"not torch", Path("x")])
def test_loading_a_file_that_is_not_a_saved_estimator_names_it(tmp_path, content) -> None:
    """A missing key, another object, a non-torch file or a pickled object torch refuses to
    load was a KeyError, TypeError or unpickling error; a missing file stays
    FileNotFoundError (the service refits then)."""
    path = tmp_path / "model.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(NotFittedError, match=re.escape(f"{path} is not a saved estimator")) as err:
        LatencyEstimator.load(path)
    # One line, logged as one warning by the service; torch's refusal ran to six and
    # suggested weights_only=False.
    assert "\n" not in str(err.value) and "weights_only" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        LatencyEstimator.load(tmp_path / "absent.pt")


class _TouchesAFile:
    """Unpickling this would make the file ``path``: what a hostile file does with os.system."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


def test_loading_a_saved_estimator_runs_none_of_its_code(tmp_path: Path) -> None:
    """A file of other objects is refused unread: loaded unsafely (weights_only=False) it was
    refused all the same, but only after its code had run (a mutation review, 2026-12-07)."""
    marker, path = tmp_path / "ran", tmp_path / "model.pt"
    torch.save({"kernel": _TouchesAFile(marker)}, path)
    with pytest.raises(NotFittedError, match="is not a saved estimator"):
        LatencyEstimator.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"kernel": 1}', "not a file torch.save wrote"),  # was "objects refused unread"
        (b"arch,latency_ms\n", "not a file torch.save wrote"),  # was "IndexError: pop from"
        (b"", "the file is empty"),  # was "(EOFError: )"
    ],
)
def test_a_file_torch_cannot_read_is_named_as_a_dataset_s_file_is(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(NotFittedError, match=f"is not a saved estimator: {says}") as refused:
        LatencyEstimator.load(path)
    # torch.save(estimator) is what a library user tries first (a review, 2026-12-06).
    assert str(refused.value).endswith(
        "(one is saved as Path(path).write_bytes(estimator.to_bytes()), not with torch.save)"
    )


def test_a_latency_the_other_measurements_do_not_explain_is_named() -> None:
    """Vector archs whose latency follows their first feature: one entered in seconds, one
    10 times too slow; both are named (the second is not hidden behind the first), the clean
    ones are not, and ``among`` limits the check to the archs given."""
    rng = np.random.default_rng(1)
    features = np.c_[rng.uniform(1.0, 10.0, 30), rng.uniform(0.0, 1.0, (30, 2))]
    latency = 2.0 * features[:, 0] * (1 + 0.02 * rng.normal(size=30))
    archs = [VECTORS.canonical(vector) for vector in features]
    estimator = LatencyEstimator(None)

    def surprising(latency_ms: np.ndarray, among: list[str] | None = None) -> dict[str, float]:
        found = estimator.surprising(VECTORS, Measurements(archs, latency_ms), among=among).found
        return {arch: surprise.expected_ms for arch, surprise in found}

    assert surprising(latency) == {}
    wrong = latency.copy()
    wrong[[3, 17]] = latency[[3, 17]] * [1e-3, 10.0]
    found = surprising(wrong)
    assert set(found) == {archs[3], archs[17]}
    for i in (3, 17):
        assert found[archs[i]] == pytest.approx(latency[i], rel=0.2)
    assert set(surprising(wrong, among=[archs[17], archs[0]])) == {archs[17]}


def test_the_surprise_check_keeps_the_checked_archs_and_a_sample_of_the_others() -> None:
    """A device of 500 archs (each measured twice) conditions the check on 100 of them: the
    archs of the upload (50 of them where more), both measurements of each."""
    rng = np.random.default_rng(2)
    archs = [VECTORS.canonical(vector) for vector in rng.uniform(0.0, 1.0, (500, 3))]
    measured = Measurements(archs * 2, rng.uniform(1.0, 2.0, 1000))
    for uploaded, count in ((archs[:30], 30), (archs[:300], 50)):
        sample, checked = surprise_check_sample(VECTORS, measured, uploaded)
        kept = set(sample.archs)
        assert len(kept) == SURPRISE_CHECK_MAX_ARCHS
        assert len(sample.archs) == 2 * len(kept)
        assert len(checked) == count and checked <= kept & set(uploaded)
    small = Measurements(archs[:80], np.ones(80))
    assert surprise_check_sample(VECTORS, small, archs[:5]) == (small, set(archs[:5]))


def test_the_surprise_check_gives_one_verdict_whatever_the_upload_order() -> None:
    """Its samples were drawn by position in the upload: the same 150 measurements, two of
    them wrong, gave other samples, p-values and findings when uploaded in another order."""
    rng = np.random.default_rng(3)
    features = np.c_[rng.uniform(1.0, 10.0, 150), rng.uniform(0.0, 1.0, (150, 2))]
    latency = 2.0 * features[:, 0] * (1 + 0.02 * rng.normal(size=150))
    latency[[5, 70]] *= [1e-3, 10.0]
    archs = [VECTORS.canonical(vector) for vector in features]
    uploaded = archs[:80]  # more than the check takes: it samples them too

    def check(order: np.ndarray) -> tuple[set[str], set[str], dict[str, tuple[float, float]]]:
        measured = Measurements([archs[i] for i in order], latency[order])
        among = [arch for arch in (archs[i] for i in order) if arch in uploaded]
        sample, checked = surprise_check_sample(VECTORS, measured, among)
        found = LatencyEstimator(None).surprising(VECTORS, measured, among=among).found
        return set(sample.archs), checked, {a: (s.expected_ms, s.p_value) for a, s in found}

    first = check(np.arange(150))
    assert first[2]  # a wrong one was among those checked
    for seed in (4, 5):
        again = check(np.random.default_rng(seed).permutation(150))
        assert again[:2] == first[:2]
        assert again[2].keys() == first[2].keys()
        for arch, figures in again[2].items():
            assert figures == pytest.approx(first[2][arch], rel=1e-6)


def test_vector_predictions_do_not_depend_on_the_units_of_a_column_the_device_holds_constant():
    """A column the measured archs do not vary in was scaled by 1 in the caller's units: the
    depth counted in thousandths moved the other archs' means by up to 20% and widened their
    intervals."""
    features, latency = synthetic_vectors(0, 40)
    features[:20, 2] = 5.0  # the measured archs share one depth; the others do not

    def predict(units: np.ndarray) -> LatencyPrediction:
        vectors = features * units
        archs = [VECTORS.canonical(vector) for vector in vectors]
        device = Measurements(archs[:20], latency[:20])
        return LatencyEstimator(None).predict(VECTORS, archs[20:], device)

    in_units, in_thousandths = predict(np.ones(3)), predict(np.array([1.0, 1.0, 1000.0]))
    for field in ("mean_ms", "var_ms2", "lower_ms", "upper_ms"):
        np.testing.assert_allclose(getattr(in_thousandths, field), getattr(in_units, field))


def test_a_column_constant_up_to_rounding_is_standardised_as_constant() -> None:
    """A depth of 0.3 that half the measured archs' features wrote as 0.1 + 0.2 was scaled by
    that rounding (sd 4e-17): archs of depth 0.6 lay 7e15 sds out and were predicted at 1.5e14
    ms from measurements of 2-96 ms. They are now predicted as where the depth is exactly 0.3."""
    features, latency = synthetic_vectors(0, 40)
    features[20:, 2] = 0.6

    def predict(measured_depths: np.ndarray) -> LatencyPrediction:
        features[:20, 2] = measured_depths
        archs = [VECTORS.canonical(vector) for vector in features]
        device = Measurements(archs[:20], latency[:20])
        return LatencyEstimator(None).predict(VECTORS, archs[20:], device)

    rounded = predict(np.where(np.arange(20) % 2, 0.1 + 0.2, 0.3))
    exact = predict(np.full(20, 0.3))
    for field in ("mean_ms", "var_ms2", "lower_ms", "upper_ms"):
        np.testing.assert_allclose(getattr(rounded, field), getattr(exact, field), rtol=1e-6)


def test_a_column_that_hardly_varies_is_no_ruler_of_its_spread() -> None:
    """Just above the rounding threshold a column was scaled by its tiny spread: an arch
    differing in it lay thousands of sds out, predicted at 3 ms with an interval of 0-3.2 ms
    where every measurement said 11 (latency 1 + x0 / 50, the column playing no part; a
    review, 2026-12-06). Its interval now holds the truth."""
    x0 = np.array([100.0, 300.0, 500.0, 700.0, 900.0])
    space = VectorSpace(2)
    for x1 in ([50.0] * 5, [50.0, 50.002, 49.998, 50.001, 49.999]):
        device = Measurements([[a, b] for a, b in zip(x0, x1, strict=True)], 1 + x0 / 50)
        p = LatencyEstimator(None).predict(space, [[500.0, 75.0], [500.0, 100.0]], device)
        assert np.all(p.lower_ms < 11.0) and np.all(11.0 < p.upper_ms), x1
        np.testing.assert_allclose(p.mean_ms, 11.0, rtol=0.05)


def test_a_constant_column_is_scaled_as_one_that_varies_by_a_hair() -> None:
    """A column constant over the measured archs was scaled by its whole magnitude, one that
    varied by just more than rounding by 5% of it: the predictions of archs differing in it
    jumped (at 1.5 times the value 4.56 ms [2.23, 6.90] against 6.46 [1.51, 17.61]; a
    review, 2026-12-06)."""
    rng = np.random.default_rng(0)
    work = rng.uniform(1.0, 10.0, 13)
    features = np.c_[work, np.linspace(0.0, 1.0, 13), np.full(13, 100.0)]
    features[10:, 2] = [100.0, 150.0, 200.0]
    latency = 1.0 + work

    def predict(first_depth: float) -> LatencyPrediction:
        features[0, 2] = first_depth
        archs = [VECTORS.canonical(vector) for vector in features]
        return LatencyEstimator(None).predict(
            VECTORS, archs[10:], Measurements(archs[:10], latency[:10])
        )

    constant, hair = predict(100.0), predict(100.0 + 1.1e-4)
    for field in ("mean_ms", "lower_ms", "upper_ms"):
        np.testing.assert_allclose(getattr(constant, field), getattr(hair, field), rtol=1e-3)


def test_a_column_of_zeros_up_to_rounding_is_taken_as_zeros(caplog) -> None:
    """A column that should be 0, computed as a - b of equal quantities, holds rounding noise
    (1e-16) that is no constant relative to its own tiny mean: scaled by its sd, other archs'
    rounding (1e-14) lay 100 sds out and were predicted at 0.2-2.6 times their latency. The
    column is now taken as 0, as an exact one, and the caller is told which it is."""
    features, latency = synthetic_vectors(0, 40)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 1, 40), rng.uniform(0, 1, 40) * np.r_[np.ones(20), np.full(20, 100.0)]

    def predict(zeros: np.ndarray) -> LatencyPrediction:
        features[:, 2] = zeros
        archs = [VECTORS.canonical(vector) for vector in features]
        device = Measurements(archs[:20], latency[:20])
        return LatencyEstimator(None).predict(VECTORS, archs[20:], device)

    exact = predict(np.zeros(40))
    assert not caplog.records
    rounded = predict((a + b) - b - a)
    assert np.any(features[:20, 2] != 0) and np.any(features[20:, 2] != 0)
    for field in ("mean_ms", "var_ms2", "lower_ms", "upper_ms"):
        np.testing.assert_allclose(getattr(rounded, field), getattr(exact, field), rtol=1e-6)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert caplog.records[0].getMessage().startswith("vector features x2: 0 up to rounding")
    device = Measurements([VECTORS.canonical(vector) for vector in features[:20]], latency[:20])
    model, _ = LatencyEstimator(None).posterior(VECTORS, device)
    assert model.warnings == (caplog.records[0].getMessage(),)  # for the service to pass on


def test_a_genuine_column_of_tiny_values_is_standardised_by_its_spread(caplog) -> None:
    """Standardisation keeps a column in odd units: a depth counted in millions (5e-6 to 3e-5)
    beside FLOPs of up to 1e9 is predicted as in units, and is not taken for rounding."""
    features, latency = synthetic_vectors(0, 40)

    def predict(units: np.ndarray) -> LatencyPrediction:
        archs = [VECTORS.canonical(vector) for vector in features * units]
        device = Measurements(archs[:20], latency[:20])
        return LatencyEstimator(None).predict(VECTORS, archs[20:], device)

    in_units, in_millions = predict(np.ones(3)), predict(np.array([1.0, 1.0, 1e-6]))
    for field in ("mean_ms", "var_ms2", "lower_ms", "upper_ms"):
        np.testing.assert_allclose(getattr(in_millions, field), getattr(in_units, field))
    assert not caplog.records


def test_one_measurement_in_a_space_without_sources_predicts_the_others_near_it() -> None:
    """The scale's error after one measurement was the hand-set kernel's whole prior variance
    of that arch's ratio (30-90 on raw FBNet encodings, capped at the level prior's 9): one
    4 ms measurement predicted other FBNet archs at 350-400 ms."""
    fbnet = FBNetSpace()
    archs = fbnet.random_archs(20, seed=3)
    prediction = LatencyEstimator(None).predict(fbnet, archs, Measurements(archs[:1], [4.0]))
    work = fbnet.encode(archs)[:, fbnet.feature_names.index(fbnet.work_feature)].numpy()
    # Within the archs' work ratio, give or take the scale's and overhead's allowance.
    relative_work = (work + fbnet.typical_work) / (work[0] + fbnet.typical_work)
    assert np.all(prediction.mean_ms / (4.0 * relative_work) < 1.5), prediction.mean_ms
    assert np.all(prediction.mean_ms / (4.0 * relative_work) > 0.67), prediction.mean_ms
    assert np.all(prediction.lower_ms < prediction.mean_ms)
    assert np.all(prediction.upper_ms > prediction.mean_ms)


def test_ten_measurements_in_a_space_without_sources_give_intervals_of_their_errors_size() -> None:
    """FBNet latencies that follow the FLOPs baseline with 5% noise, 10 of them measured: the
    hand-set kernel's prior variance is hundreds of times their scatter, and the variance
    ratio's prior, centred on 1 with 0.1 pseudo-observations, outweighed the residuals. The
    other 300 archs were covered at 1.000 by intervals 2.5-3.1 times what 90% of the errors
    needed (10 seeds)."""
    fbnet = FBNetSpace()
    archs = fbnet.random_archs(310, seed=11)
    work = fbnet.encode(archs)[:, fbnet.feature_names.index(fbnet.work_feature)].numpy()
    baseline = 6.0 * (work + fbnet.typical_work) / (2 * fbnet.typical_work)
    coverage, width_over_need = [], []
    for seed in range(10):
        noise = np.random.default_rng(seed).normal(0.0, 0.05, len(archs))
        latency = baseline * np.exp(noise)
        measured = Measurements(archs[:10], latency[:10])
        prediction = LatencyEstimator(None).predict(fbnet, archs[10:], measured)
        truth = latency[10:]
        inside = (prediction.lower_ms <= truth) & (truth <= prediction.upper_ms)
        coverage.append(inside.mean())
        half_width = np.log(prediction.upper_ms / prediction.lower_ms) / 2
        needed = np.quantile(np.abs(np.log(truth / prediction.mean_ms)), 0.9)
        width_over_need.append(np.median(half_width) / needed)
    assert 0.8 <= np.mean(coverage) <= 0.97, coverage
    assert np.median(width_over_need) < 1.5, width_over_need


def _fbnet_device(
    seed: int, count: int, per_layer_ms: float
) -> tuple[list[str], np.ndarray, Measurements]:
    """310 random FBNet archs whose latency is 0.035 ms per MFLOP plus ``per_layer_ms`` per
    layer run (every block but skip), or where that is 0 the FLOPs baseline's shape (a fixed
    overhead, the typical arch's work), 3% noise; the first ``count`` measured."""
    fbnet = FBNetSpace()
    archs = fbnet.random_archs(310, seed=100 + seed)
    encoding = fbnet.encode(archs).numpy()
    work = encoding[:, fbnet.feature_names.index("flops_m")]
    layers_run = 22 - encoding[:, fbnet.feature_names.index("count_skip")]
    noise = np.random.default_rng(seed).normal(0.0, 0.03, len(archs))
    overhead = 0.0 if per_layer_ms else fbnet.typical_work
    latency = (0.035 * (work + overhead) + per_layer_ms * layers_run) * np.exp(noise)
    return archs, latency, Measurements(archs[:count], latency[:count])


def test_a_space_that_counts_layers_learns_their_overhead_from_ten_measurements() -> None:
    """FBNet latencies that are a per-layer overhead plus work, as timed on this project's VM:
    from 10 random measurements the FLOPs baseline and the encoding kernel alone ranked the other
    300 archs at 0.83 on average (0.79-0.87, 10 seeds); with the skip count as a direction of
    its own, at 0.90 (0.86-0.94)."""
    ranked = []
    for seed in range(10):
        archs, latency, measured = _fbnet_device(seed, 10, per_layer_ms=0.18)
        prediction = LatencyEstimator(None).predict(FBNetSpace(), archs[10:], measured)
        ranked.append(stats.spearmanr(prediction.mean_ms, latency[10:]).statistic)
    assert np.mean(ranked) > 0.88, ranked


@pytest.mark.parametrize(("per_layer_ms", "count", "counted"), [(0.18, 20, True), (0.0, 50, False)])
def test_the_layer_count_is_kept_where_the_measurements_are_likelier_with_it(
    per_layer_ms: float, count: int, counted: bool
) -> None:
    """The direction costs the ranking where layers cost nothing of their own (on the VM at
    batch 8, and on latencies that follow the FLOPs baseline): each device's evidence decides."""
    for seed in range(10):
        _, _, measured = _fbnet_device(seed, count, per_layer_ms)
        model, _ = LatencyEstimator(None).posterior(FBNetSpace(), measured)
        assert (model.features.layer_count is not None) == counted, seed


@pytest.mark.parametrize("count", [1, 2])
def test_below_three_measurements_the_layer_count_is_kept_whatever_they_took(count: int) -> None:
    """With two measurements the evidence depended only on which archs were measured (the
    median's residual is 0 and the scale is maximised out): the second arch's latency, 0.2 ms
    or 500 ms, left the decision alike (a review). Below three it is not asked."""
    archs, latency, _ = _fbnet_device(0, count, per_layer_ms=0.0)
    for factor in (0.01, 1.0, 100.0):
        measured = Measurements(archs[:count], latency[:count] * [1.0, factor][:count])
        model, posterior = LatencyEstimator(None).posterior(FBNetSpace(), measured)
        assert posterior.log_evidence is None
        assert model.features.layer_count is not None


def test_the_evidence_compares_kernels_whatever_their_overall_scale() -> None:
    """It left out the noise's log-determinant, the same at every noise level but not for every
    kernel: scaling a kernel's variances and noise by 10 moved it by 23 where the marginal
    likelihood, the scale maximised out, does not move."""
    archs, latency, _ = _fbnet_device(0, 10, per_layer_ms=0.18)
    model = prior_only_model(FBNetSpace())
    rows = model.features.encoding_rows(FBNetSpace().encode(archs[:10]))
    log_latency = torch.log(torch.as_tensor(latency[:10]))
    evidence = model.condition(rows, log_latency, 0.0).log_evidence
    model.kernel.scale.fill_(10.0)
    scaled = model.condition(rows, log_latency, 0.0).log_evidence
    assert evidence is not None and scaled is not None
    assert float(scaled) == pytest.approx(float(evidence), abs=1e-6)


def test_a_source_table_with_a_nan_is_left_out_of_the_fit(caplog) -> None:
    """NaN marks an arch not measured: the table is skipped, with a warning, not refused."""
    flops = NB201.encode(all_archs())[:, NB201.feature_names.index("flops_m")].numpy()
    partial = flops.copy()
    partial[7] = np.nan
    sources = {"a": flops, "b": 2 * flops, "c": partial}
    with pytest.raises(NotFittedError, match="at least 3 complete NB201 source tables, got 2"):
        LatencyEstimator.fit(sources)
    assert "not used as sources (incomplete tables): c" in caplog.text


def test_a_saved_estimator_loads_with_the_same_profiles_and_a_tag_must_be_a_str(
    tmp_path: Path,
) -> None:
    path = tmp_path / "model.pt"
    fitted = _quick_fit()
    path.write_bytes(fitted.to_bytes())
    profiles = fitted.nasbench201.features.profiles
    loaded = LatencyEstimator.load(path).nasbench201.features.profiles
    assert (loaded.level_mean, loaded.level_sd, loaded.baseline_floor) == pytest.approx(
        (profiles.level_mean, profiles.level_sd, profiles.baseline_floor), rel=1e-6
    )
    assert profiles.level_mean != pytest.approx(profiles.level_sd)  # an exchange would show
    torch.save(torch.load(path, weights_only=True) | {"tag": 5}, path)
    with pytest.raises(NotFittedError, match="its tag is a int, not a str"):
        LatencyEstimator.load(path)
    for tag in (5, None):  # saved all the same, before: then the file could not be loaded
        with pytest.raises(GPInputError, match="tag must be a str, got a"):
            LatencyEstimator.fit({}, tag=tag)  # type: ignore[arg-type]
        with pytest.raises(GPInputError, match="tag must be a str, got a"):
            LatencyEstimator(fitted.nasbench201, tag=tag)  # type: ignore[arg-type]
    fitted.tag = 5  # type: ignore[assignment]  # set since: the file saved failed to load
    with pytest.raises(GPInputError, match="tag must be a str, got a int"):
        fitted.to_bytes()


@pytest.mark.parametrize(
    "model, message",
    [(None, "the estimator has no fitted model"),
     (prior_only_model(NB201), "the model was not fitted on source tables")],
    ids=["no model", "prior-only model"],
)  # fmt: skip
def test_only_a_model_fitted_on_sources_is_saved(model, message: str) -> None:
    """A prior-only model has no source profiles to save: an AttributeError on None before."""
    with pytest.raises(NotFittedError, match=f"nothing to save: {message}"):
        LatencyEstimator(model).to_bytes()


def test_vector_predictions_from_two_measurements_do_not_depend_on_the_units() -> None:
    """Two distinct archs are enough to standardise the features by."""
    features, latency = synthetic_vectors(0, 20)

    def predict(units: np.ndarray) -> np.ndarray:
        vectors = features * units
        archs = [VECTORS.canonical(vector) for vector in vectors[:2]]
        return LatencyEstimator(None).predict(VECTORS, vectors, Measurements(archs, latency[:2]))

    in_units = predict(np.ones(3))
    np.testing.assert_allclose(predict(np.array([1e-9, 1e-6, 1.0])).var_ms2, in_units.var_ms2)


def test_an_arch_measured_twice_suggests_as_one_measurement_of_it() -> None:
    """One distinct arch is too few to standardise by, however often it was measured: the
    pool standardises the posterior that picks, and the device's own answers for the picks."""
    features, latency = synthetic_vectors(0, 60)
    archs = [VECTORS.canonical(vector) for vector in features]
    estimator = LatencyEstimator(None)
    once = estimator.suggest(VECTORS, 5, Measurements(archs[:1], latency[:1]), archs, seed=3)
    twice = Measurements(archs[:1] * 2, np.repeat(latency[:1], 2))
    chosen = estimator.suggest(VECTORS, 5, twice, archs, seed=3)
    assert chosen.archs == once.archs
    np.testing.assert_allclose(chosen.prediction.var_ms2, once.prediction.var_ms2, rtol=1e-9)


def test_a_device_of_exactly_the_cap_of_archs_is_checked_whole() -> None:
    archs = [VECTORS.canonical(v) for v in np.random.default_rng(0).uniform(0, 1, (100, 3))]
    measured = Measurements(archs, np.ones(100))
    assert surprise_check_sample(VECTORS, measured, archs) == (measured, set(archs))


def test_a_measured_arch_s_reference_latency_is_left_out() -> None:
    """The measurement is what the device is conditioned on; the descriptor's latency of the
    same arch (1,000 times larger here) neither replaces nor joins it."""
    arch = all_archs()[5]
    descriptor = {REFERENCE_LATENCY_PREFIX + arch: 4000.0}
    _, posterior = LatencyEstimator(None).posterior(NB201, Measurements([arch], [4.0]), descriptor)
    assert posterior.count == 1
    assert float(posterior.log_latency[0]) == pytest.approx(math.log(4.0))


def test_a_bad_latency_among_repeats_is_named_by_its_position_in_the_upload() -> None:
    archs = all_archs()[:2]
    measured = Measurements([archs[0], archs[0], archs[1]], [1.0, 2.0, -1.0])
    with pytest.raises(InvalidMeasurementError, match="^measurement 2: latency -1.0 ms"):
        LatencyEstimator(None).predict(NB201, archs, measured)


def test_whole_millisecond_measurements_are_rounded_ones_though_their_medians_are_not() -> None:
    """An arch measured at 3 and 4 ms has a median of 3.5: still a device of whole ms."""
    archs = all_archs()[:4]
    measured = Measurements([archs[0], *archs], [3.0, 4.0, 7.0, 9.0, 12.0])
    _, posterior = LatencyEstimator(None).posterior(NB201, measured)
    assert posterior.step_ms == 1.0


def test_a_surprising_measurement_is_returned_as_measured() -> None:
    """Its latency came back as exp(log(latency)): 5 ms as 4.999999999999999."""
    rng = np.random.default_rng(1)
    features = np.c_[rng.uniform(1.0, 10.0, 30), rng.uniform(0.0, 1.0, (30, 2))]
    latency = 2.0 * features[:, 0] * (1 + 0.02 * rng.normal(size=30))
    slowest = int(features[:, 0].argmax())  # about 20 ms: 5 ms is 4 times too fast
    latency[slowest] = 5.0
    archs = [VECTORS.canonical(vector) for vector in features]
    [(arch, surprise)] = (
        LatencyEstimator(None).surprising(VECTORS, Measurements(archs, latency)).found
    )
    assert arch == archs[slowest] and surprise.measured_ms == 5.0


def test_a_count_beyond_nb201_less_the_measured_archs_says_why() -> None:
    measured = Measurements(all_archs()[:1], [4.0])
    # None given: the refusal said "of the 15625 given" (a review, 2026-12-06).
    with pytest.raises(GPInputError, match=f"15,624 candidates left of NB201's {NUM_ARCHS:,}:"):
        LatencyEstimator(None).suggest(NB201, NUM_ARCHS, measured)
    with pytest.raises(GPInputError, match=r"^candidates is empty \(None means the whole NB201"):
        LatencyEstimator(None).suggest(NB201, 3, measured, [])


def test_a_vector_device_s_surprise_sample_does_not_depend_on_the_features_units() -> None:
    """Drawn from the archs sorted as strings, beyond SURPRISE_CHECK_MAX_ARCHS the sample
    changed with a feature's units (a review, 2026-12-06), as suggestion pools had."""
    features, latency = synthetic_vectors(0, 150)

    def sampled(units: np.ndarray) -> tuple[list[int], list[int]]:
        archs = [VECTORS.canonical(vector) for vector in features * units]
        sample, checked = surprise_check_sample(VECTORS, Measurements(archs, latency), archs[:60])
        kept = {archs.index(arch) for arch in VECTORS.canonicalize(sample.archs)}
        return sorted(kept), sorted(archs.index(arch) for arch in checked)

    in_units = sampled(np.ones(3))
    assert len(in_units[0]) == 100 and len(in_units[1]) == 50
    assert sampled(np.array([1e-6, 1.0, 1.0])) == in_units == sampled(np.array([1.0, 1.0, 1e6]))


def test_arguments_of_another_type_are_input_errors_that_say_what_is_wanted() -> None:
    """A space's name, a dict of arch -> ms or a list of tables met AttributeErrors naming
    internals (a review, 2026-12-06)."""
    archs = all_archs()
    estimator = LatencyEstimator(None)
    with pytest.raises(GPInputError, match=r"^space must be a SearchSpace \(gp.spaces.get_space"):
        estimator.predict("nasbench201", archs[:1])  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"^measured must be Measurements\(archs, latency_ms\)"):
        estimator.predict(NB201, archs[:1], {archs[0]: 1.0})  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"^measured must be Measurements"):
        estimator.suggest(NB201, 2, {archs[0]: 1.0})  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"^measured must be Measurements"):
        estimator.predict(NB201, archs[:1], {})  # type: ignore[arg-type]  # was taken as none
    for wrong in ("nasbench201", NB201):
        with pytest.raises(GPInputError, match=r"^(space|measured) must be"):
            estimator.surprising(wrong, {archs[0]: 1.0})  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"^candidates is empty"):
        estimator.suggest(NB201, 2, None, iter([]))  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"0 candidates left of the 1 given"):
        estimator.suggest(NB201, 2, Measurements(archs[:1], [1.0]), iter(archs[:1]))  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"shape \(\)"):
        Measurements(archs[:1], 5.0)  # type: ignore[arg-type]  # a scalar stays refused
    with pytest.raises(GPInputError, match=r"^sources must map each device's name"):
        LatencyEstimator.fit([np.ones(len(archs))] * 3)  # type: ignore[arg-type]
    with pytest.raises(GPInputError, match=r"^settings must be FitSettings, got dict"):
        LatencyEstimator.fit({}, {"iterations": 1})  # type: ignore[arg-type]


def test_reversed_float64_latencies_and_array_candidates_are_taken() -> None:
    """A reversed float64 array (a view of negative stride) reached torch, which refused it,
    and an array of candidates met `not candidates` (a review, 2026-12-06)."""
    from gp.model import check_latencies

    reversed_ms = np.array([1.0, 2.0, 3.0])[::-1]
    np.testing.assert_allclose(np.exp(check_latencies(reversed_ms).numpy()), [3.0, 2.0, 1.0])
    archs = all_archs()
    measured = Measurements(archs[:3], reversed_ms)
    forward = Measurements(archs[:3], np.array([3.0, 2.0, 1.0]))
    np.testing.assert_array_equal(
        LatencyEstimator(None).predict(NB201, archs[3:5], measured).mean_ms,
        LatencyEstimator(None).predict(NB201, archs[3:5], forward).mean_ms,
    )
    picks = LatencyEstimator(None).suggest(NB201, 2, measured, np.array(archs[:50]))
    assert len(picks.archs) == 2 and not set(picks.archs) & set(archs[:3])
    vectors = np.random.default_rng(0).uniform(1.0, 5.0, (20, 3))
    assert len(LatencyEstimator(None).suggest(VECTORS, 2, None, vectors).archs) == 2


@pytest.mark.parametrize("strategy", ["random", "active", "greedy"])
def test_the_same_candidates_in_another_order_give_the_same_picks(strategy: str) -> None:
    """The draws and the scoring sample are positions in the pool: a pool built from a Python
    set, in another order in each process, gave other picks for the same seed (a review)."""
    pool = all_archs()[::7]  # 2,233 archs: over the 512 that active picks are scored on
    shuffled = list(np.random.default_rng(1).permutation(pool))
    picks = [
        LatencyEstimator(None).suggest(NB201, 6, None, order, strategy, seed=3).archs
        for order in (pool, shuffled, pool[::-1])
    ]
    assert picks[0] == picks[1] == picks[2]


def test_a_universe_s_rows_are_those_of_its_encodings_as_they_are() -> None:
    """The benchmark's prior-only model addresses archs by index; its rows were of encodings
    standardised by the universe's own statistics, not as the caller gave them."""
    universe = torch.as_tensor(np.random.default_rng(0).uniform(0, 100, (20, 3)))
    index = torch.tensor([3, 11])
    by_index = prior_only_model(VECTORS, universe).features.universe_rows(index)
    by_encoding = prior_only_model(VECTORS).features.encoding_rows(universe[index])
    torch.testing.assert_close(by_index, by_encoding)


def test_a_column_constant_at_a_rounding_residue_is_taken_as_zeros() -> None:
    """0.1 + 0.2 - 0.3 (5.6e-17) in every measured arch is constant and zero up to rounding:
    scaled by its magnitude, an exact 0 elsewhere was a whole sd from the measured archs."""
    features, latency = synthetic_vectors(0, 40)

    def predict(residue: float) -> LatencyPrediction:
        features[:, 2] = np.r_[np.full(20, residue), np.zeros(20)]
        archs = [VECTORS.canonical(vector) for vector in features]
        device = Measurements(archs[:20], latency[:20])
        return LatencyEstimator(None).predict(VECTORS, archs[20:], device)

    exact = predict(0.0)
    np.testing.assert_allclose(predict(0.1 + 0.2 - 0.3).var_ms2, exact.var_ms2, rtol=1e-6)


def test_an_empty_among_checks_no_measurement() -> None:
    rng = np.random.default_rng(1)
    features = np.c_[rng.uniform(1.0, 10.0, 30), rng.uniform(0.0, 1.0, (30, 2))]
    latency = 2.0 * features[:, 0] * (1 + 0.02 * rng.normal(size=30))
    latency[3] *= 1e-3
    measured = Measurements([VECTORS.canonical(vector) for vector in features], latency)
    assert LatencyEstimator(None).surprising(VECTORS, measured, among=[]).found == []
    assert len(LatencyEstimator(None).surprising(VECTORS, measured).found) == 1


def test_an_nb201_descriptor_s_other_keys_are_not_reference_latencies() -> None:
    archs = all_archs()[:3]
    measured = Measurements(archs[:1], [7.0])
    described = LatencyEstimator(None).predict(NB201, archs, measured, {"memory_gb": 4.0})
    plain = LatencyEstimator(None).predict(NB201, archs, measured)
    np.testing.assert_allclose(described.mean_ms, plain.mean_ms)
