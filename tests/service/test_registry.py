"""Model lifecycle: the fitted state is cached beside the store and reused when it matches."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from gp.estimator import LatencyEstimator
from gp.model import FitSettings
from gp.spaces import FBNetSpace, NASBench201Space
from gp.spaces.nasbench201 import all_archs
from service import registry as registry_module
from service.errors import CallEndedError, DeadlineExceededError
from service.outputs import ABANDONED_AFTER_S
from service.registry import LruCache, Registry, describe_key_change, fit_key
from service.store import MeasurementRow, Store
from tests.service.conftest import fit_settings


def test_cached_model_is_reused_without_refit(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_file = Path(f"{store_path}.model.pt")
    assert model_file.exists() and Path(f"{model_file}.key").exists()
    LatencyEstimator.load(model_file)  # the cache is whole

    def no_fit(*args: object, **kwargs: object) -> LatencyEstimator:
        raise AssertionError("refitted although the cache matches")

    monkeypatch.setattr(LatencyEstimator, "fit", no_fit)
    store = Store(store_path)
    registry = Registry(store, fit_settings())  # fresh memory cache: must read the file
    registry.start()
    assert registry.ready.is_set() and registry.source_names
    store.close()


def test_a_start_from_the_cache_logs_how_long_it_took(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The service issue asks for the reload at start-up to be timed, like a refit is.
    caplog.set_level("INFO", logger="service.registry")
    store = Store(store_path)
    Registry(store, fit_settings()).start()
    store.close()
    assert "loaded cached model" in caplog.text
    assert re.search(r"model \w+ ready \(\d+ source devices\) in \d+\.\d s", caplog.text)


@pytest.mark.parametrize(
    ("iterations", "logged"),
    [(300, ["50", "100", "150", "200", "250"]), (5, ["1", "2", "3", "4"])],  # steps done
)
def test_a_fit_logs_its_progress(
    iterations: int,
    logged: list[str],
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The log said "fitting on 27 source devices", then nothing until "fitted in 321.0 s" on
    a busy 2-core machine: minutes of silence that read as a hung server."""
    cached = LatencyEstimator.load(Path(f"{store_path}.model.pt"))

    def stepping_fit(
        sources: object,
        settings: FitSettings,
        progress: Callable[[int, float], None] | None = None,
        tag: str = "",
    ) -> LatencyEstimator:
        if progress is not None:  # the code before passed none
            for iteration in range(settings.iterations):
                progress(iteration, 0.0)
        return cached

    monkeypatch.setattr(LatencyEstimator, "fit", stepping_fit)
    caplog.set_level("INFO", logger="service.registry")
    store = Store(store_path)
    settings = FitSettings(iterations=iterations)
    Registry(store, settings, model_path=tmp_path / "model.pt").start()
    store.close()
    assert re.findall(rf"fitting: step (\d+) of {iterations} after \d+ s", caplog.text) == logged


def test_fit_key_depends_on_settings(store_path: Path) -> None:
    store = Store(store_path)
    sources = {"a": None}  # one table, the same in both keys (None hashed as NaN)
    store.register_device("a")
    short = fit_key(Registry(store, fit_settings())._key_inputs(sources))  # type: ignore[arg-type]
    long = fit_key(Registry(store)._key_inputs(sources))  # type: ignore[arg-type]
    assert short != long
    store.close()


def test_whole_space_prediction_is_cached_per_device_version(store_path: Path) -> None:
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    registry.start()
    space = NASBench201Space()
    archs = all_archs()
    device = store.register_device("fresh")
    few = registry.predict(device, space, archs[:5])[0]
    whole = registry.predict(device, space, archs)[0]  # computes and caches the whole space
    with pytest.MonkeyPatch.context() as patch:  # answered from the cache, not predicted
        patch.setattr(registry_module, "_predicted_in_chunks", None)
        again = registry.predict(device, space, archs[:5])[0]
    np.testing.assert_allclose(whole.mean_ms[:5], few.mean_ms, rtol=1e-9)
    np.testing.assert_allclose(again.upper_ms, few.upper_ms, rtol=1e-9)
    rows = [MeasurementRow(space.name, a, 3.0) for a in archs[:5]]
    device = store.add_measurements(device.id, rows)
    updated = registry.predict(device, space, archs[:5])[0]  # a new version: not the stale cache
    assert np.all(np.abs(np.log(updated.mean_ms / 3.0)) < np.abs(np.log(few.mean_ms / 3.0)))
    store.close()


def test_predictions_come_in_chunks_that_stop_when_the_call_ends(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the whole space, 100,000 vectors were predicted at once (2.4 GB for 9 s), past
    their deadline, holding the device's lock (a review, 2026-12-06)."""
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    registry.start()
    space, archs = NASBench201Space(), all_archs()[:50]
    device = store.add_measurements(
        store.register_device("chunked").id,
        [MeasurementRow(space.name, a, 2.0 + i) for i, a in enumerate(archs[:8])],
    )
    whole = registry.predict(device, space, archs)[0]
    monkeypatch.setattr(registry_module, "PREDICT_CHUNK", 16)
    chunked = registry.predict(device, space, archs)[0]
    for name in ("mean_ms", "var_ms2", "lower_ms", "upper_ms", "obs_var_log"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-12)
    asked: list[int] = []
    chunks: list[int] = []
    rows = LatencyEstimator.rows
    monkeypatch.setattr(LatencyEstimator, "rows", lambda *args: chunks.append(1) or rows(*args))

    def ends_after_the_first_chunk() -> bool:
        asked.append(1)
        return True

    with pytest.raises(CallEndedError, match="ended while its archs were predicted"):
        registry.predict(device, space, archs, ends_after_the_first_chunk)
    assert asked == chunks == [1]  # asked after the first chunk, not before it
    store.close()


def test_fit_key_depends_on_the_fit_revision(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(store_path)
    store.register_device("a")
    sources = {"a": None}
    before = fit_key(Registry(store, fit_settings())._key_inputs(sources))  # type: ignore[arg-type]
    monkeypatch.setattr("service.registry.FIT_REVISION", 10**6)
    after = fit_key(Registry(store, fit_settings())._key_inputs(sources))  # type: ignore[arg-type]
    assert after != before
    store.close()


def test_fit_key_depends_on_the_sources_data(store_path: Path) -> None:
    """A source measured again (its table changed) invalidates the cached fit."""
    registry = Registry(Store(store_path), fit_settings())
    table = np.full(15_625, 2.0)
    before = fit_key(registry._key_inputs({"a": table}))
    table[0] = 2.5
    assert fit_key(registry._key_inputs({"a": table})) != before
    registry.store.close()


def test_lru_cache_forgets_the_least_recently_used_entry() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    cache.drop(lambda key: key == "a")
    assert len(cache) == 1 and cache.get("a") is None


def test_a_weighted_lru_cache_forgets_old_entries_beyond_its_weight_but_keeps_the_newest() -> None:
    """The measurement cache counted devices only: 256 full NB201 tables held ~570 MB."""
    cache: LruCache[str, list[int]] = LruCache(10, len, max_weight=5)
    cache.put("a", [1, 2])
    cache.put("b", [1, 2])
    cache.put("a", [1, 2, 3])  # replaced: its old weight no longer counts
    assert (len(cache), cache.weight) == (2, 5)
    cache.put("c", [1])
    assert cache.get("b") is None and cache.get("a") == [1, 2, 3] and cache.weight == 4
    cache.put("huge", list(range(9)))  # alone over the bound: kept, the others forgotten
    assert (len(cache), cache.weight, cache.get("huge")) == (1, 9, list(range(9)))
    cache.drop(lambda key: key == "huge")
    assert (len(cache), cache.weight) == (0, 0)


def test_the_heap_is_trimmed_after_each_posterior_built_not_after_a_cached_one(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the build and an evicted posterior freed goes back to the system: kept by the C
    allocator, it grew the server's RSS with every device queried (service.heap)."""
    trims: list[int] = []
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    monkeypatch.setattr(registry.heap, "release_free_heap", lambda: trims.append(1))
    registry.start()
    device = store.register_device("fresh")
    registry.predict(device, NASBench201Space(), all_archs()[:5])
    assert len(trims) == 1
    registry.predict(device, NASBench201Space(), all_archs()[5:9])  # the cached posterior
    assert len(trims) == 1
    store.close()


def _measurements_cached(store_path: Path, devices: int, rows: int) -> tuple[int, int]:
    """The registry's measurement cache (entries, rows) once ``devices`` devices of ``rows``
    measurements each were read through it."""
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    archs = all_archs()
    for name in [f"many{i}" for i in range(devices)]:
        device = store.register_device(name)
        if rows:
            measured = [MeasurementRow("nasbench201", a, 1.0) for a in archs[:rows]]
            device = store.add_measurements(device.id, measured)
        registry.measurements(device, ("nasbench201", 0))
    store.close()
    return len(registry._measurements), registry._measurements.weight


def test_measurements_of_many_devices_stay_bounded(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.registry.MEASUREMENT_CACHE_SIZE", 3)
    assert _measurements_cached(store_path, devices=5, rows=0) == (3, 0)


def test_measurements_cached_stay_within_their_rows_bound(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device's full table is ~2 MB: a count of devices alone let 256 of them hold ~570 MB."""
    monkeypatch.setattr("service.registry.MEASUREMENT_CACHE_ROWS", 10)
    assert _measurements_cached(store_path, devices=4, rows=4) == (2, 8)


def test_a_device_lock_is_kept_only_while_a_call_holds_it(store_path: Path) -> None:
    """A lock per device ever asked about, kept for good, grew with the store's devices."""
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    first, second = store.register_device("one"), store.register_device("two")
    with registry.device_lock(first), registry.device_lock(second), registry.device_lock(first):
        assert sorted(registry._device_locks) == [first.id, second.id]
    assert len(registry._device_locks) == 0
    store.close()


def test_a_device_s_lock_handed_to_a_waiting_call_keeps_the_next_call_out(
    store_path: Path,
) -> None:
    """The lock is kept while a call holds or waits for it: dropped when its first holder
    left, the call that waited held one lock and the next caller a new one, both "the
    device's lock" at once (an upload landing in the middle of an answer)."""
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    device = store.register_device("contended")
    waiting, inside, leave = threading.Event(), threading.Event(), threading.Event()

    def waiter_ended() -> bool:  # asked between the waiter's slices: it is waiting now
        waiting.set()
        return False

    def second_call() -> None:
        with registry.device_lock(device, ended=waiter_ended):
            inside.set()
            leave.wait(timeout=30)

    waiter = threading.Thread(target=second_call)
    with registry.device_lock(device):
        waiter.start()
        assert waiting.wait(timeout=30)
    assert inside.wait(timeout=30)
    try:
        with pytest.raises(DeadlineExceededError), registry.device_lock(device, timeout=0):
            pass
    finally:
        leave.set()
        waiter.join()
    with registry.device_lock(device, timeout=0):  # free again once the waiter left
        pass
    store.close()


def store_of_complete_tables(tmp_path: Path, scales: dict[str, float]) -> Store:
    """A store of a complete NB201 table per name, ``scale`` times 1-7 ms."""
    store = Store(tmp_path / "store.sqlite")
    archs = all_archs()
    for name, scale in scales.items():
        device = store.register_device(name)
        rows = [MeasurementRow("nasbench201", a, scale * (1 + i % 7)) for i, a in enumerate(archs)]
        store.add_measurements(device.id, rows)
    return store


def test_two_source_tables_serve_the_prior_rather_than_fail(tmp_path: Path) -> None:
    # The fit holds each source out in turn and a profile basis takes two: two tables are one
    # short, which used to fail deep in the fit instead of falling back to the prior.
    store = store_of_complete_tables(tmp_path, {"gpu_a": 1.0, "gpu_b": 2.0})
    registry = Registry(store, fit_settings())
    registry.start()
    assert registry.source_names == {"gpu_a", "gpu_b"}
    assert registry.estimator.nasbench201 is None  # prior only
    store.close()


def test_three_source_tables_are_enough_to_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted_on: list[list[str]] = []

    def recording_fit(sources: dict[str, np.ndarray], *args: object, **kwargs: object) -> None:
        fitted_on.append(sorted(sources))
        raise _Fitted

    class _Fitted(Exception):
        pass

    store = store_of_complete_tables(tmp_path, {"gpu_a": 1.0, "gpu_b": 2.0, "gpu_c": 3.0})
    monkeypatch.setattr(LatencyEstimator, "fit", recording_fit)
    with pytest.raises(_Fitted):
        Registry(store, fit_settings(), model_path=tmp_path / "model.pt").start()
    assert fitted_on == [["gpu_a", "gpu_b", "gpu_c"]]
    store.close()


def test_a_source_measured_twice_has_its_measurements_averaged(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.sqlite")
    archs = all_archs()
    device = store.register_device("twice")
    store.add_measurements(device.id, [MeasurementRow("nasbench201", a, 1.0) for a in archs])
    store.add_measurements(device.id, [MeasurementRow("nasbench201", archs[5], 3.0)])
    table = Registry(store, fit_settings())._source_tables()["twice"]
    assert table[5] == pytest.approx(2.0)
    assert np.delete(table, 5) == pytest.approx(np.ones(len(archs) - 1))
    store.close()


def test_a_source_whose_arch_is_deleted_is_no_source_until_measured_again(
    tmp_path: Path,
) -> None:
    """A deletion leaves the measurements in their table: counted by rows, the table was
    complete still, and a slip deleted from a source was fitted on."""
    store = Store(tmp_path / "store.sqlite")
    archs = all_archs()
    device = store.register_device("src")
    store.add_measurements(device.id, [MeasurementRow("nasbench201", a, 1.0) for a in archs])
    store.add_measurements(device.id, [MeasurementRow("nasbench201", archs[5], 1000.0)])
    store.delete_batch(device.id, [("nasbench201", archs[5])])
    assert "src" not in Registry(store, fit_settings())._source_tables()
    store.add_measurements(device.id, [MeasurementRow("nasbench201", archs[5], 3.0)])
    table = Registry(store, fit_settings())._source_tables()["src"]
    assert table[5] == pytest.approx(3.0)  # the slip, deleted, counts no more
    store.close()


def test_a_device_of_15625_rows_that_lacks_an_arch_is_no_source(tmp_path: Path) -> None:
    """As many rows as NB201 has archs, one arch measured twice and another never: its table
    is not complete, and its missing arch must not be fitted as a mean of no measurement."""
    store = Store(tmp_path / "store.sqlite")
    archs = all_archs()
    device = store.register_device("gappy")
    rows = [MeasurementRow("nasbench201", a, 1.0) for a in [archs[1], *archs[1:]]]
    store.add_measurements(device.id, rows)
    assert "gappy" not in Registry(store, fit_settings())._source_tables()
    store.close()


def test_vector_measurements_are_read_per_length(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A device measured in vectors of two lengths: each length's model reads its own, and the
    other length's are no stored vectors "outside what the space now accepts"."""
    store = Store(tmp_path / "store.sqlite")
    device = store.register_device("vectors")
    pairs, triples = ["1.0,2.0", "2.0,1.0"], ["1.0,2.0,0.5"]
    rows = [MeasurementRow("vector", v, 3.0) for v in [*pairs, *triples]]
    device = store.add_measurements(device.id, rows)
    registry = Registry(store, fit_settings())
    assert registry.measurements(device, ("vector", 2)).archs == pairs
    assert registry.measurements(device, ("vector", 3)).archs == triples
    assert "left out of its model" not in caplog.text
    store.close()


def test_a_posterior_conditions_on_at_most_max_conditioning_measurements(
    store_path: Path,
) -> None:
    store = Store(store_path)
    registry = Registry(store, fit_settings(), max_conditioning=5)
    registry.start()
    device = store.register_device("many")
    rows = [MeasurementRow("nasbench201", a, 2.0 + i) for i, a in enumerate(all_archs()[:8])]
    device = store.add_measurements(device.id, rows)
    _, posterior = registry.posterior(device, NASBench201Space())
    assert posterior.count == 5
    assert len(registry.predict(device, NASBench201Space(), all_archs()[:3])[0].mean_ms) == 3
    store.close()


def test_beyond_max_conditioning_an_arch_keeps_all_its_measurements(store_path: Path) -> None:
    """Rows were drawn, not archs: an arch measured thrice, once wrong, could enter with the
    wrong value alone, and a device of few archs measured often lost some of them."""
    store = Store(store_path)
    registry = Registry(store, fit_settings(), max_conditioning=5)
    registry.start()
    archs = all_archs()[:8]
    device = store.register_device("thrice")
    rows = [
        MeasurementRow("nasbench201", a, (2.0 + i) * f)
        for f in (1.0, 1.05, 10.0)  # one slip x10 of each
        for i, a in enumerate(archs)
    ]
    device = store.add_measurements(device.id, rows)
    measured = registry.measurements(device, registry_module.space_key(NASBench201Space()))
    kept = registry._conditioning(measured, NASBench201Space())
    assert len(set(kept.archs)) == 5 and len(kept.archs) == 15
    _, posterior = registry.posterior(device, NASBench201Space())
    assert posterior.count == 5  # an arch at the median of its three
    store.close()


def test_a_vector_device_s_conditioning_subsample_does_not_depend_on_the_features_units(
    store_path: Path,
) -> None:
    """Drawn from the archs sorted as strings, it changed with a feature's units ("12.0"
    sorts before "3.5"), and so did the device's predictions (a review, 2026-12-06)."""
    from gp.estimator import Measurements
    from gp.spaces import VectorSpace

    space = VectorSpace(3)
    features = np.random.default_rng(0).uniform(1.0, 9.0, (12, 3))
    registry = Registry(Store(store_path), fit_settings(), max_conditioning=5)

    def kept(units: np.ndarray) -> list[int]:
        archs = [space.canonical(vector) for vector in features * units]
        sample = registry._conditioning(Measurements(archs, np.ones(12)), space)
        return sorted(archs.index(arch) for arch in sample.archs)

    assert len(kept(np.ones(3))) == 5
    assert kept(np.ones(3)) == kept(np.array([3.0, 1.0, 1.0])) == kept(np.array([0.3, 1.0, 1.0]))
    registry.store.close()


def test_the_conditioning_subsample_does_not_depend_on_the_upload_order(
    store_path: Path,
) -> None:
    store = Store(store_path)
    registry = Registry(store, fit_settings(), max_conditioning=5)
    registry.start()
    archs = all_archs()[:12]
    # Each arch measured twice, alike but for 10%: which of the two is drawn must not depend
    # on which came first either.
    measured = [(a, (2.0 + i) * f) for i, a in enumerate(archs) for f in (1.0, 1.1)]
    predictions = []
    for name, order in (("forward", measured), ("backward", measured[::-1])):
        device = store.register_device(name)
        rows = [MeasurementRow("nasbench201", a, ms) for a, ms in order]
        device = store.add_measurements(device.id, rows)
        predictions.append(registry.predict(device, NASBench201Space(), archs)[0].mean_ms)
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-9)
    store.close()


def test_the_model_cache_takes_the_stores_permissions(store_path: Path, tmp_path: Path) -> None:
    """It came out with the umask's, readable by all beside a store only its owner may read,
    though the fit holds the sources' names and per-arch deviations (an operator's review)."""
    store_path.chmod(0o640)
    store = Store(store_path)
    model = tmp_path / "model.pt"
    Registry(store, fit_settings(), model_path=model).start()
    store.close()
    for path in (model, Path(f"{model}.inputs.json"), Path(f"{model}.key")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


def test_a_reused_cache_is_narrowed_to_the_stores_permissions(store_path: Path) -> None:
    """A cache written before it followed the store's stayed readable by all beside a
    private store until the next refit (a review); one narrower than the store stays so."""
    model = Path(f"{store_path}.model.pt")
    store_path.chmod(0o600)
    model.chmod(0o644)
    key = Path(f"{model}.key")
    key.chmod(0o400)
    store = Store(store_path)
    Registry(store, fit_settings()).start()  # reuses the cache
    store.close()
    assert stat.S_IMODE(model.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.stat().st_mode) == 0o400


def test_a_model_cache_that_cannot_be_written_does_not_stop_the_start(
    store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Disk full or no permission beside the store: serve the fit, warn, refit next time."""
    store = Store(store_path)
    unwritable = tmp_path / "missing-folder" / "model.pt"
    registry = Registry(store, fit_settings(), model_path=unwritable)
    registry.start()
    assert registry.ready.is_set() and registry.estimator.nasbench201 is not None
    assert "cannot write the model cache" in caplog.text
    assert not unwritable.exists()
    store.close()


def test_a_refit_says_which_input_of_the_cached_fit_changed(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Restarting after a source was measured again refits for a minute: the log says why."""
    store = Store(store_path)
    Registry(store, fit_settings()).start()  # writes the inputs file beside the cache
    source = sorted(Registry(store, fit_settings())._source_tables())[0]
    device = store.resolve(source)
    store.add_measurements(device.id, [MeasurementRow("nasbench201", all_archs()[0], 2.0)])
    caplog.clear()
    caplog.set_level("INFO", logger="service.registry")
    Registry(store, fit_settings()).start()
    assert f"measurements of source device(s) {source} changed" in caplog.text
    store.close()


def test_a_refit_after_a_deletion_from_a_source_does_not_say_it_left_the_store(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting one arch of a source's table said "source device(s) no longer in the store",
    though the device and its other measurements were all there."""
    store = Store(store_path)
    Registry(store, fit_settings()).start()  # writes the inputs file beside the cache
    source = sorted(Registry(store, fit_settings())._source_tables())[0]
    store.delete_batch(store.resolve(source).id, [("nasbench201", all_archs()[0])])
    caplog.clear()
    caplog.set_level("INFO", logger="service.registry")
    Registry(store, fit_settings()).start()
    assert f"source device(s) without a complete NB201 table now {source}" in caplog.text
    store.close()


def test_a_write_to_a_source_in_another_space_does_not_refit(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit key held each source's version, which every write bumps, of any space: an
    FBNet upload to a source, or its deletion, made the next start refit (a minute), though the
    fit reads the NB201 tables alone."""
    store = Store(store_path)
    source = store.resolve(sorted(Registry(store, fit_settings())._source_tables())[0])
    Registry(store, fit_settings()).start()  # the cached fit
    fbnet = FBNetSpace().random_archs(1, seed=0)
    store.add_measurements(source.id, [MeasurementRow("fbnet", fbnet[0], 3.0)])
    assert not _start_refits(store, monkeypatch)
    store.delete_batch(source.id, [("fbnet", fbnet[0])])
    assert not _start_refits(store, monkeypatch)
    store.close()


def test_a_cache_keyed_by_versions_refits_once_and_says_the_key_changed(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache written by the code that keyed sources by version: the refit names the upgrade,
    not every source as changed."""
    store = Store(store_path)
    Registry(store, fit_settings()).start()
    inputs = Path(f"{store_path}.model.pt.inputs.json")
    old = json.loads(inputs.read_text())
    old["sources"] = dict.fromkeys(old["sources"], 7)
    del old["format"]
    inputs.write_text(json.dumps(old))
    Path(f"{store_path}.model.pt.key").write_text(fit_key(old))
    caplog.set_level("INFO", logger="service.registry")
    assert _start_refits(store, monkeypatch)
    assert "the fit key now holds each source table's contents (code upgrade)" in caplog.text
    assert "measurements of source device(s)" not in caplog.text
    assert not _start_refits(store, monkeypatch)
    store.close()


def test_describe_key_change_names_each_changed_input() -> None:
    # "d" and "seed" are unchanged; "noise" is a setting only the current code has.
    cached = {"sources": {"a": 1, "b": 2, "d": 1}, "settings": {"iterations": 5, "seed": 0}}
    current = {
        "sources": {"a": 2, "c": 1, "d": 1},
        "settings": {"iterations": 20, "seed": 0, "noise": 0.1},
    }
    reason = describe_key_change({**cached, "revision": 3}, {**current, "revision": 4})
    assert "new source device(s) c" in reason
    assert "without a complete NB201 table now b" in reason
    assert "NB201 measurements of source device(s) a changed" in reason
    assert "other fit settings (iterations 5 -> 20, noise None -> 0.1)" in reason
    assert "fit revision 3 -> 4" in reason


def test_a_truncated_model_cache_is_refitted_over_with_one_warning_line(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model_file = Path(f"{store_path}.model.pt")
    model_file.write_bytes(model_file.read_bytes()[:5000])  # the key still matches
    store = Store(store_path)
    Registry(store, fit_settings()).start()  # fresh memory cache: must read the file
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "ignoring unreadable model cache" in warnings[0].getMessage()
    assert "is not a saved estimator" in warnings[0].getMessage()
    LatencyEstimator.load(model_file)  # the refit wrote a whole cache again
    store.close()


def test_a_model_cache_key_of_garbled_bytes_is_refitted_over_with_one_warning_line(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = Path(f"{store_path}.model.pt.key")
    key.write_bytes(b"\xff\xfe garbled")
    store = Store(store_path)
    Registry(store, fit_settings()).start()
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage().startswith("ignoring unreadable model cache")
    assert key.read_text().strip()  # the refit wrote its key again
    store.close()


def test_a_bug_while_reading_the_model_cache_is_not_taken_for_a_corrupt_cache(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-all took any error there for an unreadable cache, and refitted on every start
    without a traceback (a design review)."""

    def broken(*args: object) -> str:
        raise RuntimeError("a bug")

    Path(f"{store_path}.model.pt.key").write_text("another fit")
    monkeypatch.setattr(registry_module, "describe_key_change", broken)
    store = Store(store_path)
    with pytest.raises(RuntimeError, match="a bug"):
        Registry(store, fit_settings()).start()
    store.close()


def test_a_start_removes_what_a_cache_write_killed_long_ago_left_beside_the_store(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A start killed while it wrote the cache left a hidden 2-5 MB file there for good."""
    left = store_path.parent / f".{'0' * 32}.tmp"
    left.write_bytes(b"half a model")
    long_ago = time.time() - ABANDONED_AFTER_S - 60
    os.utime(left, (long_ago, long_ago))
    caplog.set_level("INFO", logger="service.outputs")
    store = Store(store_path)
    Registry(store, fit_settings()).start()
    store.close()
    assert not left.exists()
    assert f"removed 1 temporary file that writes killed mid-way left in {left.parent}" in (
        caplog.text
    )


def test_a_first_start_says_there_is_no_cached_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not that a key file is missing: that would send an operator looking for a cache that
    was never written (a mutation review, 2026-12-07)."""
    caplog.set_level("INFO", logger="service.registry")
    store = Store(tmp_path / "fresh.sqlite")
    Registry(store, fit_settings()).start()
    store.close()
    assert f"no cached model at {tmp_path / 'fresh.sqlite'}.model.pt" in caplog.text
    assert "key file" not in caplog.text


def test_a_model_without_its_key_file_is_named_as_such(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log said "no cached model at M" of a model file that was there, then refitted."""
    key = Path(f"{store_path}.model.pt.key")
    key.unlink()
    caplog.set_level("INFO", logger="service.registry")
    store = Store(store_path)
    Registry(store, fit_settings()).start()
    store.close()
    model = f"{store_path}.model.pt"
    assert f"not reusing the cached model {model}: its key file {key} is missing" in caplog.text
    assert "no cached model" not in caplog.text


def test_a_cache_whose_key_was_not_written_is_not_loaded_as_the_fit_before_it(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A refit with other settings wrote the model but not its key (disk full, or killed in
    between): the old key vouched for the new fit, and a start with the old settings served it."""
    store = Store(store_path)
    other = dataclasses.replace(fit_settings(), seed=fit_settings().seed + 1)

    write = registry_module.write_atomically

    def disk_full_after_the_model(path: Path, content: str | bytes, mode: int) -> None:
        if not path.name.endswith(".model.pt"):
            raise OSError(28, "No space left on device")
        write(path, content, mode)

    monkeypatch.setattr(registry_module, "write_atomically", disk_full_after_the_model)
    Registry(store, other).start()  # refits, writes the model file, then fails
    _assert_a_default_start_refits(store, monkeypatch, caplog, "key file could not be written")
    store.close()


def test_starts_with_other_settings_writing_the_cache_at_once_leave_no_key_beside_the_other_fit(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two servers started at once on one store, with other fit settings, each refit and wrote
    the cache: one's key file could end up beside the other's model file (A writes its model,
    B writes its model, inputs and key, A writes its inputs and key), and a later start with
    A's settings loaded B's fit as its own."""
    store = Store(store_path)
    Path(f"{store_path}.model.pt.key").unlink()  # A (the default settings) refits
    other = dataclasses.replace(fit_settings(), seed=fit_settings().seed + 1)
    write = registry_module.write_atomically
    interleaved = []

    def write_then_another_start(path: Path, content: str | bytes, mode: int) -> None:
        write(path, content, mode)
        if not interleaved:  # A's model is written: B's whole start runs before A's key
            assert path.name.endswith(".model.pt")
            interleaved.append(True)
            Registry(store, other).start()

    monkeypatch.setattr(registry_module, "write_atomically", write_then_another_start)
    Registry(store, fit_settings()).start()
    _assert_a_default_start_refits(store, monkeypatch, caplog, "another start, with other sources")
    store.close()


def test_a_cache_saved_without_its_fit_key_is_refitted_over_with_one_line(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A model file of older code holds no key: its key file alone cannot tell whose it is."""
    model_file = Path(f"{store_path}.model.pt")
    state = torch.load(model_file, weights_only=True)
    del state["tag"]
    torch.save(state, model_file)
    store = Store(store_path)
    caplog.set_level("INFO", logger="service.registry")
    assert _start_refits(store, monkeypatch)
    said = [r.getMessage() for r in caplog.records if "holds no fit key" in r.getMessage()]
    assert len(said) == 1 and "\n" not in said[0]
    assert not any(r.exc_info or r.levelname == "WARNING" for r in caplog.records)
    assert LatencyEstimator.load(model_file).tag  # the refit wrote a keyed cache
    store.close()


def test_an_upload_to_a_source_while_its_table_is_read_makes_the_next_start_refit(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key must be of the tables the fit read: once it took the sources' versions after
    their tables were read, and an upload in between (device RPCs are served during the
    start-up) was in the key but not in the fit, which the next start reused."""
    store = Store(store_path)
    read = store.measurements
    uploaded = []

    def read_then_upload(device_id: int, space: str) -> tuple[list[str], np.ndarray]:
        table = read(device_id, space)
        if not uploaded:  # an AddMeasurements lands right after the first table is read
            row = MeasurementRow("nasbench201", all_archs()[0], 2.0)
            uploaded.append(store.add_measurements(device_id, [row]).name)
        return table

    monkeypatch.setattr(store, "measurements", read_then_upload)
    Registry(store, fit_settings()).start()  # the upload changed the key: fits, writes it
    monkeypatch.undo()
    assert _start_refits(store, monkeypatch), (
        f"reused a fit made without the upload to {uploaded[0]}"
    )
    store.close()


def _assert_a_default_start_refits(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, why: str
) -> None:
    """Undoes the test's patches; then a start with the default settings refits over the other
    settings' model file, logging ``why``."""
    monkeypatch.undo()
    caplog.set_level("INFO", logger="service.registry")
    assert _start_refits(store, monkeypatch), "loaded the other settings' fit as this one's"
    assert why in caplog.text


def _start_refits(store: Store, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether a start with the default settings, from a fresh memory cache (so it reads the
    cache files), fits rather than loads."""
    fitted = []
    fit = LatencyEstimator.fit

    def counted_fit(*args: object, **kwargs: object) -> LatencyEstimator:
        fitted.append(True)
        return fit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LatencyEstimator, "fit", counted_fit)
    Registry(store, fit_settings()).start()
    return bool(fitted)


def test_the_share_of_drawn_picks_counts_every_measurement_beyond_max_conditioning(
    store_path: Path,
) -> None:
    """The posterior of a device measured beyond ``max_conditioning`` counts only its
    subsample: a loop of single active picks got a drawn one every time (or never), where it
    alternates greedy, drawn, greedy... by the device's measurements (gp.active.drawn_count)."""
    store = Store(store_path)
    registry = Registry(store, fit_settings(), max_conditioning=5)
    registry.start()
    space = NASBench201Space()
    archs = all_archs()
    device = store.register_device("beyond")
    for measured in (8, 9, 10):
        rows = [MeasurementRow("nasbench201", a, 2.0 + i) for i, a in enumerate(archs[:measured])]
        device = store.add_measurements(device.id, rows[-1:] if measured > 8 else rows)
        inputs = registry.suggestion_inputs(device, space, 1, None)
        active = registry.suggest(inputs, "active", seed=3).archs
        greedy = registry.suggest(inputs, "greedy", seed=3).archs
        # An even count is followed by a greedy pick, an odd one by a drawn one.
        assert (active == greedy) == (measured % 2 == 0), measured
    store.close()


def test_archs_answered_from_the_whole_space_cache_are_each_their_own(store_path: Path) -> None:
    """Once the whole space is cached, any archs, in any order, take their own rows of it: the
    cache test above asks for the first five archs, whose rows are their positions."""
    store = Store(store_path)
    registry = Registry(store, fit_settings())
    registry.start()
    space, archs = NASBench201Space(), all_archs()
    device = store.add_measurements(
        store.register_device("cached").id,
        [MeasurementRow(space.name, a, 2.0 + i) for i, a in enumerate(archs[:6])],
    )
    asked = [archs[15_624], archs[7], archs[4_321]]
    fresh = registry.predict(device, space, asked)[0]  # below the threshold: not cached
    registry.predict(device, space, archs)  # caches the whole space
    with pytest.MonkeyPatch.context() as patch:  # answered from the cache, not predicted
        patch.setattr(registry_module, "_predicted_in_chunks", None)
        cached = registry.predict(device, space, asked)[0]
    for name in ("mean_ms", "var_ms2", "lower_ms", "upper_ms"):
        np.testing.assert_allclose(getattr(cached, name), getattr(fresh, name), rtol=1e-9)
    store.close()
