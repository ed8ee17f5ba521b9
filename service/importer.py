"""Bulk import of HELP-format NB201 latency tables as devices (``import-help``).

Idempotent: a device that already exists only gets the architectures it lacks, so a re-run
(or a run after an interrupted one, or two at once) never duplicates measurements, nor brings
back those a user deleted (DeleteMeasurements). A table whose device cannot be created (its
name or an alias belongs to another device) stops the import before any table is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from gp.data import DEVICE_ALIASES, LatencyDataset, load_help_dataset
from gp.errors import DatasetError
from gp.spaces import NASBench201Space
from gp.spaces.nasbench201 import all_archs
from service.errors import DeviceExistsError, DeviceNotFoundError
from service.names import name_problem
from service.outputs import beside_real_file
from service.store import DeviceRecord, MeasurementRow, Store

logger = logging.getLogger(__name__)

NB201 = NASBench201Space.name


def import_marker(store_path: Path) -> Path:
    """The file that marks an import in progress, a first start's (``serve --dataset``) or
    ``import-help``'s (:func:`import_help_mark`): the next start with the dataset finishes a
    first start's import that a stop interrupted; an ``import-help`` stopped is finished by
    itself, run again. Any completed import into the store settles what the store holds and
    removes it. Beside the store's real file: an import-help through a link to the store held
    back a start through another path to it no more (a review)."""
    return beside_real_file(store_path, ".importing")


#: How :func:`import_help_mark` tells import-help's marks from a first start's.
_BY_IMPORT_HELP = "by import-help"


def import_help_mark(directory: Path | str, devices: Sequence[str] | None) -> str:
    """What the marker holds while ``import-help`` imports ``devices`` (None: all) of
    ``directory``: a start with ``--dataset`` took it for its own first import and imported
    every table into a store of chosen ones (a review)."""
    tables = f", tables {', '.join(devices)}" if devices is not None else ""
    return f"{directory} ({_BY_IMPORT_HELP}{tables})"


def is_import_help_mark(text: str) -> bool:
    """Whether the marker's ``text`` is :func:`import_help_mark`'s."""
    return f"({_BY_IMPORT_HELP}" in text


@dataclass
class ImportSummary:
    """What an import did."""

    devices_created: int = 0
    measurements_added: int = 0
    #: Devices that held their whole table already.
    devices_skipped: int = 0
    #: Devices an earlier, interrupted import had created that got the archs they lacked.
    devices_completed: int = 0
    #: Archs left out because their measurements were deleted (DeleteMeasurements): their
    #: devices' tables stay incomplete until the right latencies are uploaded.
    archs_deleted: int = 0
    #: The devices those archs belong to, counted neither complete nor completed.
    devices_left_incomplete: list[str] = field(default_factory=list)


def import_help(
    root: str | Path,
    store: Store,
    devices: Sequence[str] | None = None,
    progress: bool = True,
) -> ImportSummary:
    """Imports HELP tables (all, or ``devices``: an empty list imports none) into ``store``.

    Raises:
        DatasetError: the directory is not a HELP dataset, lacks one of ``devices``, or a table
            is unreadable (nothing is imported then).
        DeviceExistsError: a table's name or alias belongs to another device (nothing is
            imported then).
        GPInputError: ``devices`` is a single str, not a list of them.
    """
    return import_tables(read_tables(root, devices), store, progress)


def read_tables(root: str | Path, devices: Sequence[str] | None = None) -> LatencyDataset:
    """HELP's tables in ``root`` (all, or ``devices``), each read and checked, and each name
    checked as a device's, before a store is touched: a bad one fails the import before any
    device is created (and before ``serve`` marks an import pending).

    Raises:
        DatasetError: the directory is not a HELP dataset, lacks one of ``devices``, a table
            is unreadable, or a table's file name cannot be a device's.
        GPInputError: ``devices`` is a single str, not a list of them.
    """
    # As given: an empty list names no table ([] read as None imported all 27), and a str
    # is refused rather than read as a list of one-letter names.
    dataset = load_help_dataset(root, devices)
    _check_table_names(dataset.latency_ms)
    return dataset


def import_tables(dataset: LatencyDataset, store: Store, progress: bool = True) -> ImportSummary:
    """Imports the NB201 tables of a HELP ``dataset`` (:func:`read_tables`) into ``store``.

    Raises:
        DeviceExistsError: a table's name or alias belongs to another device (nothing is
            imported then).
    """
    tables = dataset.latency_ms
    _check_names(store, tables)
    summary = ImportSummary()
    archs = all_archs()
    for stem in tqdm(tables, desc="importing HELP tables", unit="device", disable=not progress):
        table = tables[stem]
        device, created = _ensure_device(store, stem)
        summary.devices_created += created
        # The user took those back (DeleteMeasurements): add_unmeasured leaves them out.
        deleted = store.wholly_deleted_archs(device.id, NB201)
        summary.archs_deleted += len(deleted)
        if deleted:
            summary.devices_left_incomplete.append(device.name)
        table_rows = [MeasurementRow(NB201, arch, float(table[i])) for i, arch in enumerate(archs)]
        rows = store.add_unmeasured(device.id, table_rows)
        summary.measurements_added += len(rows)
        # A device without its whole table is no source: "complete" would tell otherwise.
        if not deleted:
            if not rows:
                summary.devices_skipped += 1
            elif not created:
                summary.devices_completed += 1
    logger.info("import from %s: %s", dataset.root, summary)
    return summary


def _check_table_names(stems: Iterable[str]) -> None:
    """Raises DatasetError unless each table's name can be a device's: the file's name becomes
    one unchecked otherwise, and an escape sequence in it reached the store and forged log
    lines (a review, 2026-12-06)."""
    for stem in stems:
        if problem := name_problem("HELP table name", stem):
            raise DatasetError(f"{problem}; rename its file")


def _check_names(store: Store, stems: Iterable[str]) -> None:
    """Raises DeviceExistsError unless each table's device exists or can be created.

    A device named like the table that an earlier import made (its description says so) is
    reused. Otherwise the name and every alias the new device would get must be free: a
    device a user registered under a table's name got the whole table merged into its own
    measurements.
    """
    for stem in stems:
        if _made_by_import(store, stem):
            continue
        for name in [stem, *DEVICE_ALIASES.get(stem, [])]:
            owner = _owner(store, name)
            if owner is not None:
                raise DeviceExistsError(
                    f"HELP table {stem} needs the name or alias {name!r}, which device"
                    f" {owner!r} already has; leave {stem} out of --devices, or import into"
                    " another store"
                )


def _owner(store: Store, name: str) -> str | None:
    """The name of the device that ``name`` names (as its name or an alias), if any."""
    try:
        return store.resolve(name).name
    except DeviceNotFoundError:
        return None


def _made_by_import(store: Store, stem: str) -> bool:
    """Whether a device of table ``stem``'s name exists and an import made it."""
    try:
        device = store.resolve(stem)
    except DeviceNotFoundError:
        return False
    return _is_tables(device, stem)


def _is_tables(device: DeviceRecord, stem: str) -> bool:
    """Whether ``device`` is the one an import made of table ``stem``."""
    return device.name == stem and device.description == _description(stem)


def _ensure_device(store: Store, stem: str) -> tuple[DeviceRecord, bool]:
    """The device of table ``stem``, and whether it was created now.

    Raises:
        DeviceExistsError: another device took the table's name after _check_names (a
            server serving the store registers devices meanwhile): the table is not merged
            into its measurements.
    """
    try:
        device = store.resolve(stem)
    except DeviceNotFoundError:
        try:
            device = store.register_device(
                stem, DEVICE_ALIASES.get(stem, []), description=_description(stem)
            )
            return device, True
        except DeviceExistsError:  # another import at once (reused), or a user, took it
            if _owner(store, stem) is None:  # an alias, not the name: nothing to reuse
                raise
            device = store.resolve(stem)
    if not _is_tables(device, stem):
        raise DeviceExistsError(
            f"HELP table {stem} needs the name {stem!r}, which device {device.name!r} took"
            " during the import (registered meanwhile); the tables before it are imported:"
            f" leave {stem} out of --devices, or import into another store"
        )
    return device, False


def _description(stem: str) -> str:
    """The description of the device an import makes of table ``stem``: how a later import
    knows the device for its own."""
    return f"HELP NAS-Bench-201 latency table {stem}"
