"""Bulk import of HELP-format NB201 latency tables as devices (``import-help``).

Idempotent: a device that already exists only gets the architectures it lacks, so a re-run
(or a run after an interrupted one) never duplicates measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from gp.data import DEVICE_ALIASES, LatencyDataset, load_help_dataset
from gp.spaces import NASBench201Space
from gp.spaces.nasbench201 import all_archs
from service.errors import DeviceNotFoundError
from service.store import DeviceRecord, MeasurementRow, Store

logger = logging.getLogger(__name__)

NB201 = NASBench201Space.name


@dataclass
class ImportSummary:
    """What an import did."""

    devices_created: int = 0
    measurements_added: int = 0
    devices_skipped: int = 0


def import_help(
    root: str | Path,
    store: Store,
    devices: Sequence[str] | None = None,
    progress: bool = True,
) -> ImportSummary:
    """Imports HELP tables (all, or ``devices``) into ``store``.

    Raises:
        DatasetError: the directory is not a HELP dataset, lacks one of ``devices``, or a table
            is unreadable (nothing is imported then).
        DeviceExistsError: an alias from ``DEVICE_ALIASES`` belongs to another device.
    """
    # Every table is read (and checked) before the store is touched: a bad one fails the
    # import before any device is created.
    dataset = load_help_dataset(root, list(devices) if devices else None)
    return import_tables(dataset, store, progress)


def import_tables(dataset: LatencyDataset, store: Store, progress: bool = True) -> ImportSummary:
    """Imports the NB201 tables of a loaded HELP ``dataset`` into ``store``.

    Raises:
        DeviceExistsError: an alias from ``DEVICE_ALIASES`` belongs to another device.
    """
    tables = dataset.latency_ms
    summary = ImportSummary()
    archs = all_archs()
    for stem in tqdm(tables, desc="importing HELP tables", unit="device", disable=not progress):
        table = tables[stem]
        device = _ensure_device(store, stem, summary)
        have = set(store.measurements(device.id, NB201)[0])
        rows = [
            MeasurementRow(NB201, arch, float(table[i]))
            for i, arch in enumerate(archs)
            if arch not in have
        ]
        if not rows:
            summary.devices_skipped += 1
            continue
        store.add_measurements(device.id, rows)
        summary.measurements_added += len(rows)
    logger.info("import from %s: %s", dataset.root, summary)
    return summary


def _ensure_device(store: Store, stem: str, summary: ImportSummary) -> DeviceRecord:
    try:
        return store.resolve(stem)
    except DeviceNotFoundError:
        summary.devices_created += 1
        return store.register_device(
            stem,
            DEVICE_ALIASES.get(stem, []),
            description=f"HELP NAS-Bench-201 latency table {stem}",
        )
