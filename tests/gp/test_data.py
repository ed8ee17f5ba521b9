"""Reading HELP-format directories: every malformed file is a DatasetError naming it."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gp.data import (
    HELP_SOURCE_DEVICES,
    HELP_TARGET_DEVICES,
    NOT_A_TORCH_FILE,
    NOT_PLAIN_TORCH_FILE,
    LatencyDataset,
    help_device_stems,
    load_help_dataset,
    quantization_step,
)
from gp.errors import DatasetError, GPInputError
from gp.spaces.nasbench201 import NUM_ARCHS, all_archs
from tests.helpers import write_help_dataset

ONE_TABLE = {"a": [1.0] * NUM_ARCHS}


def _dataset(root: Path, **files: object) -> Path:
    """A one-table dataset whose ``files`` (name -> content) replace or join the good ones."""
    write_help_dataset(root, ONE_TABLE)
    for name, content in files.items():
        torch.save(content, root / name)
    return root


def test_a_table_is_read_in_help_s_order_and_stored_in_the_space_s(tmp_path: Path) -> None:
    """Each latency is filed under the arch HELP's index gives it. Every synthetic dataset's
    index was the identity, under which the inverse mapping reads alike: only the real data
    told them apart, and its tests skip without it (a mutation review, 2026-12-07)."""
    help_index = {arch: (i + 1) % NUM_ARCHS for i, arch in enumerate(all_archs())}
    root = _dataset(tmp_path / "d", **{"str_arch2idx.pt": help_index})
    torch.save([float(h + 1) for h in range(NUM_ARCHS)], root / "latency" / "a.pt")
    table = load_help_dataset(root).table("a")
    expected = [float(help_index[arch] + 1) for arch in all_archs()]
    np.testing.assert_array_equal(table, expected)


@pytest.mark.parametrize(
    ("index", "match"),
    [
        ({str(i): i for i in range(NUM_ARCHS)}, "arch"),  # keys are not arch strings
        ({a: i + 1 for i, a in enumerate(all_archs())}, "0..15624"),  # one past the end
        ({a: i - 1 for i, a in enumerate(all_archs())}, "0..15624"),  # would wrap around
        ({a: i + 0.5 for i, a in enumerate(all_archs())}, "0..15624"),  # not whole numbers
        ({a: "x" for a in all_archs()}, "0..15624"),
    ],
)
def test_a_malformed_arch_index_is_a_dataset_error(tmp_path: Path, index: dict, match: str) -> None:
    root = _dataset(tmp_path / "d", **{"str_arch2idx.pt": index})
    with pytest.raises(DatasetError, match=match) as raised:
        load_help_dataset(root)
    assert "str_arch2idx.pt" in str(raised.value)


@pytest.mark.parametrize(
    "table",
    [
        {"x": 1.0},
        ["fast"] * NUM_ARCHS,
        [[1.0], [1.0, 2.0]],
        torch.ones(NUM_ARCHS, dtype=torch.complex64),  # would drop the imaginary part
    ],
)
def test_a_table_of_other_than_real_numbers_is_a_dataset_error(
    tmp_path: Path, table: object
) -> None:
    root = _dataset(tmp_path / "d", **{"latency/a.pt": table})
    with pytest.raises(DatasetError, match="a.pt"):
        load_help_dataset(root)


@pytest.mark.parametrize(
    "reference", [[NUM_ARCHS], [-1], [1.5], 5, None, {"a": 1}, [[1, 2]], [5] * 10, [3, 1, 3]]
)
def test_malformed_reference_archs_are_a_dataset_error(tmp_path: Path, reference: object) -> None:
    root = _dataset(tmp_path / "d", **{"hardware_embedding_index.pt": reference})
    with pytest.raises(DatasetError, match="hardware_embedding_index.pt"):
        load_help_dataset(root)


def test_a_reference_arch_listed_twice_is_named(tmp_path: Path) -> None:
    """Zero-shot conditioned on it as if measured twice (ten times: coverage90 0.33)."""
    root = _dataset(tmp_path / "d", **{"hardware_embedding_index.pt": [3, 1, 3, 2, 1]})
    with pytest.raises(DatasetError, match=re.escape("HELP indices listed twice: [1, 3]")):
        load_help_dataset(root)


def test_reference_archs_may_be_a_list_or_a_tensor(tmp_path: Path) -> None:
    for reference in ([3, 1], torch.tensor([3, 1])):
        root = _dataset(
            tmp_path / str(type(reference)), **{"hardware_embedding_index.pt": reference}
        )
        assert load_help_dataset(root).reference_archs == [3, 1]


class _RunsCode:
    """Unpickling this would call a function (print): what a hostile file does with os.system."""

    def __reduce__(self) -> tuple:
        return (print, ("unpickled",))


@pytest.mark.parametrize("content", [[_RunsCode()], b"not a pickle", b""])
def test_a_file_of_other_objects_is_refused_in_one_clear_line(
    tmp_path: Path, content: object
) -> None:
    root = _dataset(tmp_path / "d")
    table = root / "latency" / "a.pt"
    if isinstance(content, bytes):
        table.write_bytes(content)
    else:
        torch.save(content, table)
    with pytest.raises(DatasetError) as raised:
        load_help_dataset(root)
    message = str(raised.value)
    assert message.startswith(f"cannot read {table}: ") and "\n" not in message
    assert "weights_only" not in message  # torch's advice to load it unsafely is not passed on


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"junk\n", NOT_A_TORCH_FILE),  # was torch's KeyError: "174812789"
        (b"arch,latency_ms\nx,1\n", NOT_A_TORCH_FILE),  # was "pop from empty list"
        (pickle.dumps(5), NOT_A_TORCH_FILE),  # with a UserWarning of three lines on stderr
        # were said to hold objects refused unread (torch's refusal of an unknown opcode)
        (b'{"fpga": [1.5, 2.5]}', NOT_A_TORCH_FILE),
        (b"1.5,2.5\n", NOT_A_TORCH_FILE),
        (b"garbage\n", NOT_A_TORCH_FILE),
        (b"", "the file is empty"),  # was "EOFError"
    ],
)
def test_a_file_torch_cannot_read_is_said_to_be_one_in_words(
    tmp_path: Path, content: bytes, problem: str, recwarn: pytest.WarningsRecorder
) -> None:
    root = _dataset(tmp_path / "d")
    index = root / "str_arch2idx.pt"
    index.write_bytes(content)
    with pytest.raises(DatasetError) as raised:
        load_help_dataset(root)
    assert str(raised.value) == f"cannot read {index}: {problem}"
    assert [str(w.message) for w in recwarn] == []


@pytest.mark.parametrize(
    ("index", "got"), [({"a": 1, "b": [2]}, "a dict of 2 entries"), ([1, 2], "a list")]
)
def test_an_arch_index_of_the_wrong_shape_says_what_it_holds(
    tmp_path: Path, index: object, got: str
) -> None:
    """Before: "expected a dict of 15625 archs", whatever the file held."""
    root = _dataset(tmp_path / "d", **{"str_arch2idx.pt": index})
    with pytest.raises(DatasetError, match=f"arch strings to their HELP indices, got {got}$"):
        load_help_dataset(root)


def test_an_empty_device_list_loads_no_table(tmp_path: Path) -> None:
    """None means every table; an empty list is a choice of none."""
    write_help_dataset(tmp_path, ONE_TABLE)
    assert load_help_dataset(tmp_path, []).devices == []
    assert load_help_dataset(tmp_path).devices == ["a"]


def test_one_device_name_not_in_a_list_is_named(tmp_path: Path) -> None:
    """Its letters were each reported missing: "not in ...: f, p, g, a"."""
    write_help_dataset(tmp_path, ONE_TABLE)
    with pytest.raises(GPInputError, match="expected a list of device names, got the str 'a'"):
        load_help_dataset(tmp_path, "a")
    with pytest.raises(GPInputError, match="got the str 'a'"):
        load_help_dataset(tmp_path).require("a")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), 1e-7, 2e7])
def test_a_latency_the_model_refuses_is_a_dataset_error_naming_its_position(
    tmp_path: Path, bad: float
) -> None:
    """1e-7 ms loaded, and the benchmark failed after the fit with a traceback."""
    table = [1.0] * NUM_ARCHS
    table[7] = bad
    root = _dataset(tmp_path / "d", **{"latency/a.pt": table})
    with pytest.raises(
        DatasetError, match=rf"a.pt: latency {re.escape(repr(bad))} at position 7: "
    ):
        load_help_dataset(root)


@pytest.mark.parametrize(
    "saved",
    [
        torch.full((NUM_ARCHS,), 2.0, requires_grad=True),
        torch.nn.Parameter(torch.full((NUM_ARCHS,), 2.0)),
        torch.full((NUM_ARCHS,), 2.0, dtype=torch.bfloat16),
    ],
)
def test_a_table_saved_as_a_parameter_or_in_bfloat16_loads(
    tmp_path: Path, saved: torch.Tensor
) -> None:
    """One that required grad was a traceback ("Can't call numpy() on Tensor that requires
    grad"), a bfloat16 one "a ragged Tensor", where the model takes both."""
    root = _dataset(tmp_path / "d", **{"latency/a.pt": saved})
    assert load_help_dataset(root).latency_ms["a"].tolist() == [2.0] * NUM_ARCHS


def test_reference_archs_are_mapped_from_help_indices_to_ours(tmp_path: Path) -> None:
    """HELP index i names the arch of our index NUM_ARCHS - 1 - i here, so a reference arch
    (given by HELP index) and each latency land at the mirrored position."""
    reversed_index = {arch: NUM_ARCHS - 1 - i for i, arch in enumerate(all_archs())}
    root = _dataset(
        tmp_path / "d",
        **{
            "str_arch2idx.pt": reversed_index,
            "hardware_embedding_index.pt": [0, 5],
            "latency/a.pt": [float(i + 1) for i in range(NUM_ARCHS)],
        },
    )
    dataset = load_help_dataset(root)
    assert dataset.reference_archs == [NUM_ARCHS - 1, NUM_ARCHS - 6]
    assert dataset.table("a")[NUM_ARCHS - 1] == 1.0


def test_two_whole_latencies_are_too_few_to_call_a_table_quantised() -> None:
    assert quantization_step(np.array([3.0, 4.0])) == 0.0
    assert quantization_step(np.array([3.0, 4.0, np.nan, 5.0])) == 1.0
    assert quantization_step(np.array([3.0, 4.0, 5.5])) == 0.0


@pytest.mark.parametrize("table", [[1.0], [1.0] * (NUM_ARCHS - 1)])
def test_a_table_of_another_length_is_a_dataset_error(tmp_path: Path, table: list) -> None:
    """One latency would have been broadcast to every arch."""
    root = _dataset(tmp_path / "d", **{"latency/a.pt": table})
    with pytest.raises(DatasetError, match=f"a.pt: expected {NUM_ARCHS} latencies, got shape"):
        load_help_dataset(root)


@pytest.mark.parametrize("zipped", [True, False])
def test_a_torch_file_of_other_objects_is_said_to_hold_them(tmp_path: Path, zipped: bool) -> None:
    """torch.save's zip and legacy formats alike: a file torch wrote, its objects refused."""
    root = _dataset(tmp_path / "d")
    table = root / "latency" / "a.pt"
    torch.save([_RunsCode()], table, _use_new_zipfile_serialization=zipped)
    with pytest.raises(DatasetError) as raised:
        load_help_dataset(root)
    assert str(raised.value) == f"cannot read {table}: {NOT_PLAIN_TORCH_FILE}"


def test_the_tables_are_the_latency_folder_s_torch_files(tmp_path: Path) -> None:
    """Another file beside them is not a device; a folder of none is a DatasetError."""
    write_help_dataset(tmp_path, ONE_TABLE)
    (tmp_path / "latency" / "notes.txt").write_text("measured in May\n")
    assert help_device_stems(tmp_path) == ["a"]
    # A Mac's copy adds "._a.pt": device "._a", which failed the whole import (a review).
    (tmp_path / "latency" / "._a.pt").write_bytes(b"\x00\x05\x16\x07")
    assert help_device_stems(tmp_path) == ["a"]
    (tmp_path / "latency" / "a.pt").unlink()
    with pytest.raises(DatasetError, match="no latency tables"):
        help_device_stems(tmp_path)


def test_a_device_the_dataset_lacks_is_named_with_those_it_has(tmp_path: Path) -> None:
    write_help_dataset(tmp_path, ONE_TABLE)
    with pytest.raises(DatasetError, match="fpga; it has: a$"):
        load_help_dataset(tmp_path).table("fpga")
    # The service's name for raspi4 is no table's (a review, 2026-12-06).
    with pytest.raises(DatasetError, match=r"pi4 \(raspi4's alias\); it has: a$"):
        help_device_stems(tmp_path, ["pi4"])


def test_the_file_order_is_the_canonical_index_of_each_position_of_the_files(
    tmp_path: Path,
) -> None:
    reversed_index = {arch: NUM_ARCHS - 1 - i for i, arch in enumerate(all_archs())}
    root = _dataset(tmp_path / "d", **{"str_arch2idx.pt": reversed_index})
    order = load_help_dataset(root).file_order
    assert order is not None
    np.testing.assert_array_equal(order, np.arange(NUM_ARCHS)[::-1])


def test_help_s_query_set_is_the_middle_800_by_latency_of_file_positions_900_to_1899() -> None:
    """The 800 archs HELP's published Spearman ranks: the files' positions 900-1899, less the
    100 fastest and the 100 slowest of them on the device."""
    order = np.arange(NUM_ARCHS)[::-1]  # position p holds canonical arch NUM_ARCHS - 1 - p
    latency = np.arange(1.0, NUM_ARCHS + 1.0)  # canonical arch i takes i + 1 ms
    dataset = LatencyDataset({"dev": latency}, file_order=order)
    query = dataset.help_query_archs("dev")
    assert query is not None and len(query) == 800
    positions = NUM_ARCHS - 1 - query
    assert set(positions) == set(range(1000, 1800))  # later positions hold faster archs here
    assert list(latency[query]) == sorted(latency[query])
    assert LatencyDataset({"dev": latency}).help_query_archs("dev") is None


def test_ties_at_help_s_cuts_go_by_file_position() -> None:
    """HELP's loader sorts with numpy's unstable default: its ties (pixel2's whole
    milliseconds) fell differently from one numpy release, and CPU, to the next."""
    order = np.arange(NUM_ARCHS)
    latency = np.full(NUM_ARCHS, 5.0)  # all of HELP's 1,000 tie
    query = LatencyDataset({"dev": latency}, file_order=order).help_query_archs("dev")
    assert query is not None
    np.testing.assert_array_equal(query, np.arange(1000, 1800))


def test_the_tables_are_listed_in_name_order(tmp_path: Path) -> None:
    """The order of the folder's entries is the file system's: lists and errors sort it."""
    names = ["gamma", "omega", "zeta", "beta", "alpha", "mid"]
    write_help_dataset(tmp_path, {name: [1.0] * NUM_ARCHS for name in names})
    assert help_device_stems(tmp_path) == sorted(names)
    with pytest.raises(DatasetError, match="it has: alpha, beta, gamma, mid, omega, zeta$"):
        help_device_stems(tmp_path, ["fpga"])


def test_help_s_devices_are_those_the_dataset_s_readme_names(help_dataset_dir: Path) -> None:
    """HELP's Table 3 as the dataset's README gives it: the sources (with the four HELP
    validates on) and the unseen devices, each a table of the dataset."""
    readme = help_dataset_dir.parent / "README.md"
    if not readme.is_file():
        pytest.skip(f"no README beside {help_dataset_dir}")
    text = readme.read_text()
    if "HELP, Table 3" not in text:
        pytest.skip(f"{readme} does not give HELP's Table 3 (another copy of the tables)")
    learned, validated, unseen = re.findall(r"`([\w,]+)`", text[text.index("HELP, Table 3") :])[:3]
    assert HELP_SOURCE_DEVICES == tuple(f"{learned},{validated}".split(","))
    assert HELP_TARGET_DEVICES == tuple(unseen.split(","))
    assert set(HELP_SOURCE_DEVICES + HELP_TARGET_DEVICES) <= set(
        help_device_stems(help_dataset_dir)
    )
