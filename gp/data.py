"""Reading HELP-format latency tables (Lee et al., "HELP: Hardware-Adaptive Efficient Latency
Prediction for NAS via Meta-Learning", NeurIPS 2021).

A dataset directory holds ``str_arch2idx.pt`` (NB201 arch string -> HELP index),
``latency/<device>.pt`` (15,625 latencies in ms, HELP index order) and optionally
``hardware_embedding_index.pt`` (HELP's 10 reference architectures). Everything is loaded with
``torch.load(weights_only=True)``, which refuses to unpickle anything but plain containers and
tensors, so a hostile file cannot run code.

Tables are re-indexed to our canonical NB201 order (see :mod:`gp.spaces.nasbench201`).
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gp.errors import DatasetError, GPInputError, InvalidArchitectureError
from gp.latency import LATENCY_RULE, first_out_of_range
from gp.spaces.nasbench201 import NUM_ARCHS, arch_to_index

logger = logging.getLogger(__name__)

#: Why ``torch.load(weights_only=True)`` refused a file; torch's own message runs to several
#: lines and suggests weights_only=False, which would run whatever the file holds.
NOT_PLAIN_TORCH_FILE = (
    "not a torch file of plain tensors, lists and dicts (other objects are refused unread: "
    "unpickling them could run code)"
)
#: Why torch.load failed on a file of another format: its own words were a pickle opcode's
#: KeyError ("174812789" for a text file), "pop from empty list" or a zip reader's internals.
NOT_A_TORCH_FILE = "not a file torch.save wrote (another kind of file, or one cut off)"

# The names users know some HELP devices by.
DEVICE_ALIASES: dict[str, list[str]] = {"raspi4": ["pi4", "raspberry_pi_4"]}

# HELP Table 3: the devices learned from and the devices predicted.
HELP_SOURCE_DEVICES: tuple[str, ...] = (
    "1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50",
    "pixel3", "essential_ph_1", "samsung_s7", "titanx_1", "titanx_32", "titanx_256", "gold_6240",
)  # fmt: skip
HELP_TARGET_DEVICES: tuple[str, ...] = (
    "titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss",
)  # fmt: skip

#: HELP's published scores rank, on each unseen device, the files' positions 900-1899 (after
#: the 900 its samples come from) less the 10% fastest and 10% slowest of them there: 800 archs.
HELP_QUERY_POSITIONS = range(900, 1900)
HELP_QUERY_TRIMMED_SHARE = 0.1


@dataclass
class LatencyDataset:
    """Latency tables of one search space, indexed by our canonical arch index.

    Attributes:
        latency_ms: device name -> array of shape (NUM_ARCHS,): every arch measured (a table
            with a latency the model refuses, not finite or outside 1e-6 to 1e7 ms, is
            refused at loading).
        reference_archs: canonical indices of the reference architectures (HELP's hardware
            embedding), empty when the dataset has none.
        root: the directory the tables were read from.
        file_order: canonical index of each position of the files' tables (the order they were
            measured in, if it was theirs), None when unknown.
    """

    latency_ms: dict[str, np.ndarray]
    reference_archs: list[int] = field(default_factory=list)
    root: Path | None = None
    file_order: np.ndarray | None = None

    @property
    def devices(self) -> list[str]:
        """The devices' names, sorted."""
        return sorted(self.latency_ms)

    def table(self, device: str) -> np.ndarray:
        """``device``'s latencies (ms), shape (NUM_ARCHS,), by canonical arch index;
        DatasetError where the dataset has no such device."""
        self.require([device])
        return self.latency_ms[device]

    def help_query_archs(self, device: str) -> np.ndarray | None:
        """Canonical indices of the 800 archs HELP's published scores rank on ``device``
        (:data:`HELP_QUERY_POSITIONS`, trimmed by the device's latency), fastest first; None
        when the files' order is unknown. Ranking them is harder than ranking all 15,625:
        the trimmed ends are the archs easiest to tell apart."""
        if self.file_order is None:
            return None
        query = self.file_order[HELP_QUERY_POSITIONS.start : HELP_QUERY_POSITIONS.stop]
        trimmed = int(len(query) * HELP_QUERY_TRIMMED_SHARE)
        # Ties at the cuts (pixel2's whole milliseconds) go by file position: HELP's loader
        # sorts with numpy's unstable default, whose ties fall differently from one numpy
        # release, and one CPU, to the next (5-24 archs of the 800 on some devices).
        by_latency = query[np.argsort(self.table(device)[query], kind="stable")]
        return by_latency[trimmed : len(query) - trimmed]

    def require(self, devices: list[str]) -> None:
        """Raises DatasetError naming every one of ``devices`` the dataset lacks (all at once:
        a benchmark checks its devices before minutes of fitting)."""
        _require(devices, self.devices, self.root or "the dataset")


def _require(devices: Sequence[str], available: Sequence[str], where: object) -> None:
    if isinstance(devices, str):  # its letters would be reported missing one by one
        raise GPInputError(f"expected a list of device names, got the str {devices!r}")
    if missing := [d for d in devices if d not in available]:
        # pi4 is what the service calls raspi4: the tables know only their own names.
        named = [f"{d} ({table}'s alias)" if (table := _aliased(d)) else d for d in missing]
        raise DatasetError(f"not in {where}: {', '.join(named)}; it has: {', '.join(available)}")


def _aliased(name: str) -> str | None:
    """The table whose alias ``name`` is (DEVICE_ALIASES), or None."""
    return next((table for table, names in DEVICE_ALIASES.items() if name in names), None)


def help_device_stems(root: str | Path, devices: Sequence[str] | None = None) -> list[str]:
    """The device tables of a HELP dataset directory: all of them, or ``devices`` once each is
    checked to be there (before anything is read or written); an empty list names none.

    Raises:
        DatasetError: ``root`` is not a HELP dataset directory, or lacks one of ``devices``.
        GPInputError: ``devices`` is a single str, not a list of them.
    """
    root = Path(root)
    if not root.exists():
        # A relative path is the working folder's: ../shared/... from another folder said
        # "not a HELP dataset directory" of a folder that is not there (a review, 2026-12-06).
        raise DatasetError(f"{root}: no such folder (from {Path.cwd()})")
    if not (root / "latency").is_dir():
        raise DatasetError(f"{root}: not a HELP dataset directory (no latency/ folder)")
    # Not hidden files: a Mac's copy adds "._fpga.pt" beside each table, which was read as
    # device "._fpga" and failed the import (a review, 2026-12-06).
    tables = (root / "latency").glob("*.pt")
    available = sorted(p.stem for p in tables if not p.name.startswith("."))
    if not available:
        raise DatasetError(f"{root / 'latency'}: no latency tables (*.pt)")
    if devices is None:
        return available
    # Listed once: an iterator checked by _require was empty by the time it was returned.
    names = devices if isinstance(devices, str) else list(devices)
    _require(names, available, root)
    return list(names)


def _load(path: Path) -> object:
    try:
        with warnings.catch_warnings():
            # Said of a plain pickle (not torch.save's format) on stderr, beside our one line.
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise DatasetError(f"missing dataset file: {path}") from None
    except Exception as exc:  # torch names no single error type for a file of another format
        raise DatasetError(f"cannot read {path}: {unreadable_torch_file(path, exc)}") from exc


def unreadable_torch_file(path: Path, failure: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed with ``failure``, in words."""
    if isinstance(failure, OSError):  # a folder, no permission
        return str(failure.strerror or failure)
    if isinstance(failure, pickle.UnpicklingError):
        # torch's refusal of an opcode it does not know reads like its refusal of an object:
        # a JSON or CSV file ("{", "1,2") was said to hold objects refused unread.
        return NOT_PLAIN_TORCH_FILE if _saved_by_torch(path) else NOT_A_TORCH_FILE
    return "the file is empty" if path.stat().st_size == 0 else NOT_A_TORCH_FILE


def _saved_by_torch(path: Path) -> bool:
    """Whether ``path`` starts as torch.save's files do: a zip archive (its format since torch
    1.6) or a pickle of protocol 2 or more (the legacy format)."""
    with path.open("rb") as file:
        return file.read(2) in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _real_numbers(value: object, path: Path, what: str) -> np.ndarray:
    """``value`` (a list or tensor of real numbers) as a 1-D array. Anything else (strings,
    dicts, nested or ragged lists, complex numbers, which numpy would silently make real) is a
    DatasetError naming ``path`` and ``what`` it should hold."""
    if isinstance(value, torch.Tensor):
        # One that requires grad (an nn.Parameter saved) has no numpy(), a bfloat16 one no
        # numpy dtype (it was "a ragged Tensor"); the model takes both (a review, 2026-12-06).
        value = value.detach().cpu()
        value = value.to(torch.float64) if value.is_floating_point() else value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise DatasetError(
            f"{path}: expected {what}, got a ragged {type(value).__name__}"
        ) from None
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        raise DatasetError(
            f"{path}: expected {what}, got {type(value).__name__} of shape {array.shape}, "
            f"dtype {array.dtype}"
        )
    return array


def _arch_indices(value: object, path: Path, what: str) -> np.ndarray:
    """``value`` as int64 indices into the NB201 space; DatasetError unless each is a whole
    number in 0..NUM_ARCHS-1 (numpy would wrap a negative one around, truncate a fraction)."""
    rule = f"{what}: whole numbers 0..{NUM_ARCHS - 1}"
    numbers = _real_numbers(value, path, rule)
    if not np.all((numbers >= 0) & (numbers < NUM_ARCHS) & (numbers == np.round(numbers))):
        raise DatasetError(f"{path}: expected {rule}, got some outside them")
    return numbers.astype(np.int64)


def _help_to_canonical(root: Path) -> np.ndarray:
    """Returns an int array mapping HELP index -> canonical index."""
    path = root / "str_arch2idx.pt"
    str_to_help = _load(path)
    if not isinstance(str_to_help, dict) or len(str_to_help) != NUM_ARCHS:
        got = (
            f"a dict of {len(str_to_help)} entries"
            if isinstance(str_to_help, dict)
            else f"a {type(str_to_help).__name__}"
        )
        raise DatasetError(
            f"{path}: expected a dict of the {NUM_ARCHS} NB201 arch strings to their HELP"
            f" indices, got {got}"
        )
    help_index = _arch_indices(list(str_to_help.values()), path, "HELP indices")
    try:
        canonical = [arch_to_index(arch) for arch in str_to_help]
    except InvalidArchitectureError as exc:
        raise DatasetError(f"{path}: a key is not an NB201 arch string: {exc}") from None
    order = np.full(NUM_ARCHS, -1, dtype=np.int64)
    order[help_index] = canonical
    if (order < 0).any() or len(set(order.tolist())) != NUM_ARCHS:
        raise DatasetError(f"{path}: HELP indices are not a permutation")
    return order


def _read_table(path: Path, help_to_canonical: np.ndarray) -> np.ndarray:
    values = _real_numbers(_load(path), path, f"{NUM_ARCHS} latencies").astype(np.float64)
    if values.shape != (NUM_ARCHS,):
        raise DatasetError(f"{path}: expected {NUM_ARCHS} latencies, got shape {values.shape}")
    # The model's own rule, checked here: a table that broke it loaded, and the benchmark
    # failed after the fit with a traceback naming the arch's position in our order.
    if (position := first_out_of_range(values)) is not None:
        raise DatasetError(
            f"{path}: latency {float(values[position])!r} at position {position}: latencies"
            f" {LATENCY_RULE}"
        )
    table = np.empty(NUM_ARCHS)
    table[help_to_canonical] = values
    return table


def load_help_dataset(root: str | Path, devices: Sequence[str] | None = None) -> LatencyDataset:
    """Loads a HELP-format NB201 dataset directory.

    Args:
        root: the directory (e.g. ``../shared/datasets/help-nasbench201``).
        devices: device stems to load; all tables under ``latency/`` when None (an empty
            list loads none).

    Raises:
        DatasetError: a file is missing, unreadable, or of the wrong shape.
        GPInputError: ``devices`` is a single str, not a list of them.
    """
    root = Path(root)
    stems = help_device_stems(root, devices)
    order = _help_to_canonical(root)
    tables = {stem: _read_table(root / "latency" / f"{stem}.pt", order) for stem in stems}
    reference: list[int] = []
    if (embedding := root / "hardware_embedding_index.pt").exists():
        help_index = _arch_indices(_load(embedding), embedding, "HELP indices of reference archs")
        reference = order[help_index].tolist()
        if repeated := sorted({int(i) for i in help_index if (help_index == i).sum() > 1}):
            # Zero-shot then conditioned on one arch as if measured ten times (coverage90 0.33).
            raise DatasetError(f"{embedding}: HELP indices listed twice: {repeated}")
    logger.info("loaded %d latency tables from %s", len(tables), root)
    return LatencyDataset(tables, reference, root, file_order=order)


def quantization_step(latency_ms: np.ndarray) -> float:
    """Returns the rounding step of a table: 1.0 for whole-millisecond tables, else 0.0.

    Phones measured by BRP-NAS report whole milliseconds; the rounding error is then part of the
    observation noise (variance step^2 / 12 in ms, see :mod:`gp.model`). With few measurements a
    real-valued table is all integers only by an absurd coincidence, so three suffice.
    """
    values = latency_ms[np.isfinite(latency_ms)]
    if len(values) >= 3 and np.all(values == np.round(values)):
        return 1.0
    return 0.0
