"""Tests for gp.spaces: parsing, canonical forms, indices and analytic encodings.

FLOPs and parameter features are checked against networks built independently here with
torch.nn (parameters counted with ``sum(p.numel())``, FLOPs with forward hooks) and against
figures worked out by hand.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import torch
from torch import nn

from gp.errors import GPInputError, InvalidArchitectureError, UnknownSearchSpaceError
from gp.spaces import FBNetSpace, NASBench201Space, SearchSpace, VectorSpace, fbnet, get_space
from gp.spaces.nasbench201 import (
    NUM_ARCHS,
    OPS,
    STRUCTURAL_FEATURES,
    all_archs,
    arch_to_index,
    format_arch,
    index_to_arch,
    parse_arch,
)
from tests.helpers import DATASET, count_cost, reference_totals


def nb201(*ops: str) -> str:
    """Arch string from 6 ops in edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)."""
    a, b, c, d, e, f = ops
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def uniform(op: str) -> str:
    return nb201(*[op] * 6)


def nb201_features(arch: str) -> dict[str, float]:
    row = NASBench201Space().encode([arch])[0].tolist()
    return dict(zip(NASBench201Space().feature_names, row, strict=True))


def fbnet_features(arch: Sequence[str]) -> dict[str, float]:
    row = FBNetSpace().encode([arch])[0].tolist()
    return dict(zip(FBNetSpace().feature_names, row, strict=True))


# --------------------------------------------------------------------------- reference nets


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class Residual(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def nb201_op(op: str, c: int) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    k = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}[op]
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c)
    )


class NB201Cell(nn.Module):
    def __init__(self, ops: Sequence[str], c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nb201_op(op, c) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes, edges = [x], iter(self.edges)
        for target in (1, 2, 3):
            nodes.append(sum(next(edges)(nodes[source]) for source in range(target)))
        return nodes[3]


def nb201_network(ops: Sequence[str]) -> list[nn.Module]:
    """The CIFAR-10 NB201 network as a list of sequential blocks."""
    blocks: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
    ]
    for stage, c in enumerate((16, 32, 64)):
        if stage:
            body = nn.Sequential(
                nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
            )
            shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c // 2, c, 1, bias=False))
            blocks.append(Residual(body, shortcut))
        blocks += [NB201Cell(ops, c) for _ in range(5)]
    blocks.append(
        nn.Sequential(
            nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)
        )
    )
    return blocks


def fbnet_block(block: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    if block == "skip":
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
        )
    k = int(block[1])
    mid = c_in * int(block.split("_")[1][1:])
    g = 2 if block.endswith("_g2") else 1
    body = nn.Sequential(
        nn.Conv2d(c_in, mid, 1, groups=g, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(),
        nn.Conv2d(mid, mid, k, stride=stride, padding=k // 2, groups=mid, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(),
        nn.Conv2d(mid, c_out, 1, groups=g, bias=False),
        nn.BatchNorm2d(c_out),
    )
    return Residual(body) if stride == 1 and c_in == c_out else body


def fbnet_network(blocks: Sequence[str]) -> list[nn.Module]:
    """Stem, the 22 searchable layers, head: a list of sequential blocks."""
    depths, channels, strides = (
        [1, 4, 4, 4, 4, 4, 1],
        [16, 24, 32, 64, 112, 184, 352],
        [1, 1, 2, 2, 1, 2, 1],
    )
    layout = zip(depths, channels, strides, strict=True)
    shapes: Iterator[tuple[int, int]] = (
        (c_out, stride if i == 0 else 1) for n, c_out, stride in layout for i in range(n)
    )
    modules: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
    ]
    c_in = 16
    for block, (c_out, stride) in zip(blocks, shapes, strict=True):
        modules.append(fbnet_block(block, c_in, c_out, stride))
        c_in = c_out
    modules.append(
        nn.Sequential(
            nn.Conv2d(352, 1504, 1, bias=False),
            nn.BatchNorm2d(1504),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(1504, 100),
        )
    )
    return modules


# --------------------------------------------------------------------------- get_space


def test_get_space_returns_each_space() -> None:
    assert isinstance(get_space("nasbench201"), NASBench201Space)
    assert isinstance(get_space("FBNet"), FBNetSpace)
    vector = get_space("vector", vector_dim=7)
    assert isinstance(vector, VectorSpace) and vector.dim == 7
    assert vector == VectorSpace(7) and vector != VectorSpace(8)
    assert get_space("fbnet") == FBNetSpace() and isinstance(get_space("fbnet"), SearchSpace)


def test_get_space_unknown_names_known_spaces() -> None:
    with pytest.raises(
        UnknownSearchSpaceError,
        match=r"unknown search space 'nasbench101'; expected one of nasbench201, fbnet, vector",
    ):
        get_space("nasbench101")
    assert issubclass(UnknownSearchSpaceError, ValueError)


def test_get_space_vector_dim_rules() -> None:
    with pytest.raises(GPInputError, match="'vector' needs vector_dim"):
        get_space("vector")
    with pytest.raises(GPInputError, match="vector_dim applies only to the 'vector' space"):
        get_space("fbnet", vector_dim=3)
    with pytest.raises(GPInputError, match="dim must be a positive int, got 0"):
        get_space("vector", vector_dim=0)


# --------------------------------------------------------------------------- NB201: indices


def test_all_archs_enumerates_the_space_once() -> None:
    archs = all_archs()
    assert len(archs) == NUM_ARCHS == 15625
    assert len(set(archs)) == NUM_ARCHS
    archs.clear()  # a fresh list each call: callers cannot corrupt the cache
    assert len(all_archs()) == NUM_ARCHS


def test_index_round_trip_for_every_arch() -> None:
    for i, (arch, ops) in enumerate(
        zip(all_archs(), itertools.product(OPS, repeat=6), strict=True)
    ):
        assert parse_arch(arch) == ops  # the strict parser, not the lookup table
        assert format_arch(ops) == arch
        assert arch_to_index(arch) == i
        assert index_to_arch(i) == arch


def test_index_follows_product_order() -> None:
    assert arch_to_index(uniform("none")) == 0
    assert arch_to_index(nb201(*["none"] * 5, "skip_connect")) == 1
    assert arch_to_index(nb201("skip_connect", *["none"] * 5)) == 5**5
    assert arch_to_index(uniform("avg_pool_3x3")) == NUM_ARCHS - 1


@pytest.mark.parametrize(
    ("index", "match"),
    [
        (-1, r"arch index -1 out of range 0\.\.15624"),
        (15625, r"arch index 15625 out of range 0\.\.15624"),
        (True, r"arch index must be an int, got bool"),
        (3.0, r"arch index must be an int, got float"),
    ],
)
def test_index_to_arch_rejects_bad_index(index: object, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        index_to_arch(index)  # type: ignore[arg-type]


@pytest.mark.skipif(
    not (DATASET / "str_arch2idx.pt").exists(),
    reason="shared NB201 dataset not present",
)
def test_strings_match_published_dataset() -> None:
    published = torch.load(DATASET / "str_arch2idx.pt", weights_only=True)
    assert set(published) == set(all_archs())


# --------------------------------------------------------------------------- NB201: parsing


def test_nb201_canonical_accepts_strings_and_op_sequences() -> None:
    space = NASBench201Space()
    arch = nb201("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    ops = list(parse_arch(arch))
    indices = [OPS.index(op) for op in ops]
    assert space.canonical(arch) == arch
    assert space.canonical(ops) == arch
    assert space.canonical(tuple(indices)) == arch
    assert space.canonical(np.array(indices)) == arch
    assert space.canonical(torch.tensor(indices)) == arch
    assert space.canonical(np.array(ops)) == arch
    assert space.canonicalize([arch, ops]) == [arch, arch]


GOOD = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (GOOD.replace("|+|none", "| +|none"), r"whitespace at position 16 of"),
        (GOOD + "\n", r"whitespace at position 79"),
        ("|nor_conv_3x3~0|+|none~0|skip_connect~1|", r"expected 3 groups separated by '\+'.*got 2"),
        (GOOD + "+|none~0|", r"expected 3 groups .*got 4"),
        ("", r"expected 3 groups .*got 1"),
        (
            GOOD.replace("|+|none~0|", "|+none~0|"),
            r"group 2 \(edges into node 2\): must start and end with '\|'",
        ),
        (
            GOOD[:-1],
            r"group 3 \(edges into node 3\): must start and end with '\|', got '\|avg_pool",
        ),
        (
            GOOD.replace("+|", "+", 1).replace("|+", "+", 1),
            r"group 1 \(edges into node 1\): must start",
        ),
        (
            GOOD.replace("|none~2|", "|"),
            r"group 3 \(edges into node 3\): expected 3 '\|'-separated edge\(s\), got 2",
        ),
        (
            GOOD.replace("none~0|skip", "none~0skip"),
            r"group 2 .*expected 2 '\|'-separated edge\(s\), got 1",
        ),
        (
            GOOD.replace("none~0", "conv5x5~0"),
            (
                r"edge 1 \(node 0 -> node 2\): unknown op 'conv5x5'; expected one of none, "
                r"skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3$"
            ),
        ),
        (
            GOOD.replace("nor_conv_3x3~0", "Nor_conv_3x3~0"),
            r"edge 0 \(node 0 -> node 1\): unknown op 'Nor_conv_3x3'",
        ),
        (
            GOOD.replace("none~0|skip_connect~1", "none~1|skip_connect~0"),
            r"edge 1 \(node 0 -> node 2\): source index must be 0, got '1'",
        ),
        (
            GOOD.replace("none~2", "none~02"),
            r"edge 5 \(node 2 -> node 3\): source index must be 2, got '02'",
        ),
        (
            GOOD.replace("nor_conv_3x3~0", "nor_conv_3x3"),
            r"edge 0 \(node 0 -> node 1\): expected 'op~0', got 'nor_conv_3x3'",
        ),
        (GOOD.replace("|nor_conv_3x3~0|", "||"), r"edge 0 \(node 0 -> node 1\): missing op"),
        (
            "|+" + GOOD.split("+", 1)[1],
            r"group 1 \(edges into node 1\): must start and end with '\|', got '\|'",
        ),
        (GOOD.replace("nor_conv_1x1~1", "~1"), r"edge 4 \(node 1 -> node 3\): unknown op ''"),
    ],
)
def test_nb201_malformed_strings_name_the_problem(arch: str, match: str) -> None:
    assert NASBench201Space().canonical(GOOD) == GOOD  # the base string is valid
    with pytest.raises(InvalidArchitectureError, match=match):
        NASBench201Space().canonical(arch)


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (["none"] * 5, r"expected 6 edge ops, got 5"),
        (
            ["none", "none", "conv", "none", "none", "none"],
            r"edge 2 \(node 1 -> node 2\): unknown op 'conv'",
        ),
        ([0, 0, 5, 0, 0, 0], r"edge 2 \(node 1 -> node 2\): op index 5 out of range 0\.\.4"),
        ([0, 0, 0, 0, 0, -1], r"edge 5 \(node 2 -> node 3\): op index -1 out of range 0\.\.4"),
        (
            [0, 0, 0, 1.0, 0, 0],
            r"edge 3 \(node 0 -> node 3\): expected an op name or index, got float",
        ),
        (
            [0, 0, 0, 0, True, 0],
            r"edge 4 \(node 1 -> node 3\): expected an op name or index, got bool",
        ),
        (np.zeros((2, 6), dtype=int), r"expected a 1-D array of 6 op indices, got shape \(2, 6\)"),
        (42, r"expected an arch string or a sequence of 6 ops, got int"),
    ],
)
def test_nb201_malformed_sequences_name_the_problem(arch: object, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        NASBench201Space().canonical(arch)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("space", "arch"),
    [
        (VectorSpace(2), b"12"),
        (NASBench201Space(), b"\x00\x01\x02\x03\x04\x00"),
        (FBNetSpace(), bytes(22)),
        (FBNetSpace(), bytearray(22)),
    ],
)
def test_bytes_are_no_arch(space: SearchSpace, arch: bytes) -> None:
    """Read as small numbers, undecoded text became a valid arch: b"12" the vector 49.0,50.0
    (a review, 2026-12-07)."""
    with pytest.raises(InvalidArchitectureError, match="decode it first"):
        space.canonical(arch)
    with pytest.raises(InvalidArchitectureError, match="^arch 0: .*decode it first"):
        space.encode([arch])
    with pytest.raises(InvalidArchitectureError, match="got a single bytes; wrap it in a list"):
        space.encode(b"abc")
    with pytest.raises(InvalidArchitectureError, match="got a single memoryview; wrap it"):
        space.encode(memoryview(b"abc"))


def test_nb201_encode_reports_item_index() -> None:
    archs = [GOOD, GOOD, GOOD.replace("none~2", "conv~2")]
    with pytest.raises(
        InvalidArchitectureError, match=r"^arch 2: edge 5 \(node 2 -> node 3\): unknown op 'conv'"
    ):
        NASBench201Space().encode(archs)
    with pytest.raises(InvalidArchitectureError, match="got a single str; wrap it in a list"):
        NASBench201Space().encode(GOOD)
    with pytest.raises(
        InvalidArchitectureError, match="expected a sequence of architectures, got int"
    ):
        NASBench201Space().encode(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- NB201: encoding


def test_nb201_encoding_shape_and_names() -> None:
    space = NASBench201Space()
    x = space.encode([GOOD, uniform("none")])
    assert x.shape == (2, space.dim) and x.dtype == torch.float64
    assert 45 <= space.dim <= 55 and space.dim == 30 + len(STRUCTURAL_FEATURES)
    assert len(set(space.feature_names)) == space.dim
    assert space.encode([]).shape == (0, space.dim)


def test_nb201_encode_all_is_unique_and_consistent() -> None:
    space, archs = NASBench201Space(), all_archs()
    x = space.encode(archs)
    assert x.shape == (NUM_ARCHS, space.dim)
    assert len(np.unique(x.numpy(), axis=0)) == NUM_ARCHS
    for i in (0, 1, 777, 9999, NUM_ARCHS - 1):
        assert torch.equal(space.encode([archs[i]])[0], x[i])
    x[0, 0] = 123.0  # the returned tensor is a copy, not the cached table
    assert space.encode([archs[0]])[0, 0] != 123.0


def test_nb201_log_columns_are_the_logs_of_their_own_columns() -> None:
    """Live and whole-network costs differ wherever an edge is dead: each log is its own."""
    space = NASBench201Space()
    x = space.encode(all_archs()).numpy()
    column = {name: x[:, i] for i, name in enumerate(space.feature_names)}
    for name in ("flops_m", "flops_live_m", "params_m", "params_live_m"):
        log_name = "log_" + name.removesuffix("_m")
        np.testing.assert_allclose(column[log_name], np.log(column[name]), rtol=1e-12)
    assert (column["flops_live_m"] < column["flops_m"]).any()
    assert (column["params_live_m"] < column["params_m"]).any()


def test_nb201_onehot_marks_each_edge_op() -> None:
    ops = parse_arch(GOOD)
    onehot = NASBench201Space().encode([GOOD])[0, :30].reshape(6, 5)
    assert onehot.sum(dim=1).tolist() == [1.0] * 6
    assert [OPS[i] for i in onehot.argmax(dim=1).tolist()] == list(ops)
    assert NASBench201Space().feature_names[5 * 3 + 4] == "edge3_0to3_avg_pool_3x3"


def test_nb201_flops_order_by_op_cost() -> None:
    flops = {op: nb201_features(uniform(op))["flops_m"] for op in OPS}
    assert (
        flops["nor_conv_3x3"]
        > flops["nor_conv_1x1"]
        > flops["avg_pool_3x3"]
        > flops["skip_connect"]
    )
    assert flops["skip_connect"] == flops["none"]  # neither does any counted work
    params = {op: nb201_features(uniform(op))["params_m"] for op in OPS}
    assert (
        params["nor_conv_3x3"] > params["nor_conv_1x1"] > params["avg_pool_3x3"] == params["none"]
    )


def test_nb201_all_skip_flops_by_hand() -> None:
    # MACs of the fixed network (cells of skips do no counted work):
    stem = 32 * 32 * 16 * 3 * 9
    reduction_1 = (
        16 * 16 * 32 * 16 * 9  # 3x3 stride-2 conv 16 -> 32, 16x16 out
        + 16 * 16 * 32 * 32 * 9  # 3x3 conv 32 -> 32
        + 16 * 16 * 16 * 4  # 2x2 avg pool on the shortcut
        + 16 * 16 * 32 * 16  # 1x1 shortcut conv
    )
    reduction_2 = 8 * 8 * 64 * 32 * 9 + 8 * 8 * 64 * 64 * 9 + 8 * 8 * 32 * 4 + 8 * 8 * 64 * 32
    head = 8 * 8 * 64 + 64 * 10  # global average pool, classifier
    total = stem + reduction_1 + reduction_2 + head
    assert total == 7_811_712
    features = nb201_features(uniform("skip_connect"))
    assert features["flops_m"] == pytest.approx(total / 1e6, abs=1e-9)
    # Parameters: stem conv+BN, two reductions, final BN, classifier.
    params = (432 + 32) + (4608 + 64 + 9216 + 64 + 512) + (18432 + 128 + 36864 + 128 + 2048)
    params += 128 + 650
    assert features["params_m"] == pytest.approx(params / 1e6, abs=1e-9)
    # One 3x3 conv edge costs 16*16*9*1024 MACs per cell in every stage, 15 cells in all.
    conv3 = nb201_features(nb201(*["skip_connect"] * 5, "nor_conv_3x3"))
    assert conv3["flops_m"] - features["flops_m"] == pytest.approx(15 * 2_359_296 / 1e6)


@pytest.mark.parametrize(
    "arch",
    [
        uniform("nor_conv_3x3"),
        uniform("nor_conv_1x1"),
        uniform("avg_pool_3x3"),
        uniform("none"),
        GOOD,
        nb201("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_3x3"),
    ],
)
def test_nb201_flops_params_match_torch_network(arch: str) -> None:
    flops, params = reference_totals(nb201_network(parse_arch(arch)))
    features = nb201_features(arch)
    assert features["flops_m"] * 1e6 == pytest.approx(flops, abs=1e-3)
    assert features["params_m"] * 1e6 == pytest.approx(params, abs=1e-3)
    assert features["log_flops"] == pytest.approx(math.log(features["flops_m"]))
    assert features["log_params"] == pytest.approx(math.log(features["params_m"]))


def test_nb201_full_conv3_network_matches_published_size() -> None:
    # NB201 reports 1.53 M parameters and ~220 MFLOPs for its largest cell.
    features = nb201_features(uniform("nor_conv_3x3"))
    assert features["params_m"] * 1e6 == pytest.approx(1_531_546)
    assert features["flops_m"] == pytest.approx(220.148352)


def test_nb201_all_none_is_disconnected() -> None:
    f = nb201_features(uniform("none"))
    assert f["disconnected"] == 1 and f["num_paths"] == 0
    assert f["depth_ops"] == f["depth_conv"] == f["convs_on_longest"] == 0
    assert f["flops_live_m"] == f["flops_m"] and f["count_none"] == 6


def test_nb201_all_conv3_is_fully_live() -> None:
    f = nb201_features(uniform("nor_conv_3x3"))
    assert f["disconnected"] == 0 and f["num_paths"] == 4 and f["dead_edges"] == 0
    assert f["depth_conv"] == f["depth_ops"] == f["convs_on_longest"] == 3
    assert f["live_nor_conv_3x3"] == f["count_nor_conv_3x3"] == 6
    assert f["flops_live_m"] == f["flops_m"] and f["params_live_m"] == f["params_m"]


def test_nb201_convs_off_every_path_are_dead() -> None:
    # Node 1 feeds nothing and node 2 receives nothing: both convs are dead and no path
    # reaches node 3, so the live network is just the fixed skeleton.
    f = nb201_features(nb201("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_3x3"))
    skeleton = nb201_features(uniform("none"))
    assert f["disconnected"] == 1 and f["live_nor_conv_3x3"] == 0 and f["dead_edges"] == 2
    assert f["count_nor_conv_3x3"] == 2
    assert f["flops_live_m"] == skeleton["flops_m"] < f["flops_m"]
    assert f["params_live_m"] == skeleton["params_m"] < f["params_m"]


def test_nb201_single_live_conv() -> None:
    f = nb201_features(nb201("nor_conv_3x3", "none", "none", "none", "skip_connect", "none"))
    assert f["disconnected"] == 0 and f["num_paths"] == 1 and f["dead_edges"] == 0
    assert f["live_nor_conv_3x3"] == 1 and f["live_skip_connect"] == 1
    assert f["depth_conv"] == 1 and f["depth_ops"] == 2 and f["convs_on_longest"] == 1
    assert f["flops_live_m"] == f["flops_m"]


def test_nb201_live_edges_with_a_dead_conv() -> None:
    # 0 -> 3 is a skip; the conv into node 1 leads nowhere, the conv out of node 2 has no input.
    f = nb201_features(
        nb201("nor_conv_3x3", "none", "none", "skip_connect", "none", "nor_conv_1x1")
    )
    assert f["disconnected"] == 0 and f["num_paths"] == 1 and f["dead_edges"] == 2
    assert f["live_skip_connect"] == 1 and f["live_nor_conv_3x3"] == f["live_nor_conv_1x1"] == 0
    assert f["flops_live_m"] == nb201_features(uniform("none"))["flops_m"]
    # Paths through a none edge carry no conv chain (counting them, depth_conv was 2 here).
    assert f["depth_ops"] == 1 and f["depth_conv"] == f["convs_on_longest"] == 0


def test_nb201_longest_path_is_not_the_deepest_conv_chain() -> None:
    # Paths: 0 -> 3 (one conv) and 0 -> 1 -> 2 -> 3 (three skips).
    arch = nb201("skip_connect", "none", "skip_connect", "nor_conv_3x3", "none", "skip_connect")
    f = nb201_features(arch)
    assert f["num_paths"] == 2 and f["depth_ops"] == 3
    assert f["depth_conv"] == 1 and f["convs_on_longest"] == 0


def test_nb201_counts_cover_all_edges() -> None:
    x = NASBench201Space().encode(all_archs()).numpy()
    names = NASBench201Space().feature_names
    counts = x[:, [names.index(f"count_{op}") for op in OPS]]
    live = x[:, [names.index(f"live_{op}") for op in OPS[1:]]]
    dead = x[:, names.index("dead_edges")]
    assert (counts.sum(axis=1) == 6).all()
    assert (live.sum(axis=1) + dead == 6 - counts[:, 0]).all()
    disconnected = x[:, names.index("disconnected")] == 1
    assert (live[disconnected] == 0).all() and disconnected.sum() > 0


# --------------------------------------------------------------------------- FBNet


FB_MIX = [fbnet.BLOCKS[i % 9] for i in range(22)]


def test_fbnet_forms_share_one_canonical_string() -> None:
    space = FBNetSpace()
    canonical = ",".join(FB_MIX)
    indices = [fbnet.BLOCKS.index(b) for b in FB_MIX]
    assert space.canonical(FB_MIX) == canonical
    assert space.canonical(indices) == canonical
    assert space.canonical(" , ".join(FB_MIX) + " ") == canonical
    assert space.canonical(",".join(map(str, indices))) == canonical
    assert space.canonical(np.array(indices)) == canonical
    assert space.canonical(torch.tensor(indices)) == canonical
    assert space.canonical(canonical) == canonical


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (FB_MIX[:21], r"^expected 22 blocks, got 21$"),
        (",".join(FB_MIX) + ",", r"^expected 22 blocks, got 23$"),
        ("", r"^expected 22 blocks, got 0$"),
        (
            FB_MIX[:4] + ["k7_e1"] + FB_MIX[5:],
            r"^block 4: unknown block 'k7_e1'; expected one of k3_e1, k3_e1_g2",
        ),
        (",".join(FB_MIX[:3] + ["K3_E1"] + FB_MIX[4:]), r"^block 3: unknown block 'K3_E1'"),
        ([0] * 21 + [9], r"^block 21: block index 9 out of range 0\.\.8$"),
        ([0] * 21 + [-1], r"^block 21: block index -1 out of range 0\.\.8$"),
        # isdigit() alone takes an Arabic-Indic three, which int() reads as 3.
        (["\u0663"] + FB_MIX[1:], r"^block 0: unknown block '\u0663'"),
        # Past int()'s 4,300 digits: was a bare ValueError (INTERNAL over the wire).
        (["1" * 5000] + FB_MIX[1:], r"^block 0: block index 111111111111\.\.\. out of range"),
        # Padded with zeros it passed that check and int() refused it (a review, 2026-12-06).
        (["0" * 4400 + "9"] + FB_MIX[1:], r"^block 0: block index 9 out of range 0\.\.8$"),
        ([10**5000] + [0] * 21, r"^block 0: block index of 16610 bits out of range 0\.\.8$"),
        # A short index is shown whole: "100..." read as if it were cut.
        (["100"] + FB_MIX[1:], r"^block 0: block index 100 out of range 0\.\.8$"),
        (["00" + "1" * 12] + FB_MIX[1:], r"^block 0: block index 1{12} out of range 0\.\.8$"),
        # Digits up to 64 bits, the size beyond.
        ([2**64 - 1] + [0] * 21, r"^block 0: block index 18446744073709551615 out of range"),
        ([2**64] + [0] * 21, r"^block 0: block index of 65 bits out of range 0\.\.8$"),
        ([0.0] + [0] * 21, r"^block 0: expected a block name or index, got float 0\.0$"),
        ([0] * 10 + [False] + [0] * 11, r"^block 10: expected a block name or index, got bool"),
        (
            np.zeros((2, 22), dtype=int),
            r"expected a 1-D array of block indices, got shape \(2, 22\)",
        ),
        (7, r"expected 22 block names or indices .*got int"),
    ],
)
def test_fbnet_malformed_archs_name_the_problem(arch: object, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        FBNetSpace().canonical(arch)  # type: ignore[arg-type]


def test_a_zero_padded_fbnet_index_is_its_block() -> None:
    padded = ["0" * 4400 + "3"] + FB_MIX[1:]
    assert FBNetSpace().canonical(padded) == FBNetSpace().canonical([3] + FB_MIX[1:])


def test_nb201_indices_too_long_to_print_are_named_by_their_size() -> None:
    """Formatting an int of over 4,300 digits into the message raised a bare ValueError."""
    with pytest.raises(InvalidArchitectureError, match=r"^arch index of 16610 bits out of range"):
        index_to_arch(10**5000)
    with pytest.raises(InvalidArchitectureError, match=r"op index of 16610 bits out of range"):
        NASBench201Space().canonical([10**5000] + [0] * 5)


@pytest.mark.parametrize(
    "matrix",
    [np.array([[2.0, 1.0], [4.0, 3.0]])[:, ::-1], np.array([[1, 2], [3, 4]], dtype=np.longdouble)],
    ids=["flipped", "longdouble"],
)
def test_a_feature_matrix_numpy_holds_otherwise_is_encoded_as_its_rows(matrix: np.ndarray) -> None:
    """torch took neither a negative stride nor longdouble: raw torch errors, where the same
    rows one by one were taken (a review, 2026-12-06)."""
    space = VectorSpace(2)
    np.testing.assert_array_equal(space.encode(matrix).numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_fbnet_encode_shape_and_item_index() -> None:
    space = FBNetSpace()
    archs = space.random_archs(5, seed=3)
    x = space.encode(archs)
    assert x.shape == (5, space.dim) == (5, 22 * 9 + 22 + 22 + 4 + 9) and x.dtype == torch.float64
    assert len(set(space.feature_names)) == space.dim
    onehot = x[:, : 22 * 9].reshape(5, 22, 9)
    assert (onehot.sum(dim=2) == 1).all()
    assert (x[:, -9:].sum(dim=1) == 22).all()
    bad = archs[:1] + [FB_MIX[:4] + ["k7_e1"] + FB_MIX[5:]]
    with pytest.raises(InvalidArchitectureError, match=r"^arch 1: block 4: unknown block 'k7_e1'"):
        space.encode(bad)


def test_fbnet_random_archs_are_reproducible() -> None:
    space = FBNetSpace()
    assert space.random_archs(4, seed=11) == fbnet.random_archs(4, seed=11)
    assert space.random_archs(4, seed=11) != space.random_archs(4, seed=12)
    archs = space.random_archs(50, seed=0)
    assert len(archs) == 50 and space.canonicalize(archs) == archs
    assert space.random_archs(20) != space.random_archs(20)  # no seed: fresh entropy


@pytest.mark.parametrize(
    "blocks",
    [
        ["skip"] * 22,
        ["k5_e6"] * 22,
        ["k3_e1_g2"] * 22,
        FB_MIX,
        FBNetSpace().random_archs(1, seed=5)[0].split(","),
    ],
    ids=["all_skip", "all_k5_e6", "all_k3_e1_g2", "cycle", "random"],
)
def test_fbnet_flops_params_match_torch_network(blocks: list[str]) -> None:
    network = fbnet_network(blocks)
    costs = count_cost(network, 32)
    row = fbnet_features(blocks)
    for layer, (flops, params) in enumerate(costs[1:-1]):
        assert row[f"layer{layer}_flops_m"] * 1e6 == pytest.approx(flops, abs=1e-6)
        assert row[f"layer{layer}_params_m"] * 1e6 == pytest.approx(params, abs=1e-6)
    assert row["flops_m"] * 1e6 == pytest.approx(sum(f for f, _ in costs), abs=1e-3)
    assert row["params_m"] * 1e6 == pytest.approx(sum(p for _, p in costs), abs=1e-3)
    assert row["log_flops"] == pytest.approx(math.log(row["flops_m"]))
    assert row["log_params"] == pytest.approx(math.log(row["params_m"]))


def test_fbnet_flops_grow_with_kernel_and_expansion() -> None:
    def flops(block: str) -> float:
        return fbnet_features([block] * 22)["flops_m"]

    assert flops("k5_e6") > flops("k3_e6") > flops("k3_e3") > flops("k3_e1") > flops("k3_e1_g2")
    assert flops("k3_e1") > flops("skip")


def test_fbnet_one_block_by_hand() -> None:
    # Layer 5 (first of stage 3): 24 -> 32 channels, stride 2, 32x32 input, 16x16 output.
    cost = fbnet.block_cost("k3_e6", 24, 32, 2, 32)
    mid = 144
    assert cost.flops == 32 * 32 * mid * 24 + 16 * 16 * mid * 9 + 16 * 16 * 32 * mid
    assert cost.params == (mid * 24 + 2 * mid) + (mid * 9 + 2 * mid) + (32 * mid + 2 * 32)


# --------------------------------------------------------------------------- vector


def test_vector_canonical_forms() -> None:
    space = VectorSpace(3)
    expected = "0.1,2.0,-3e-05"
    assert space.canonical([0.1, 2, -3e-05]) == expected
    assert space.canonical(np.array([0.1, 2.0, -3e-05])) == expected
    assert space.canonical(torch.tensor([0.1, 2.0, -3e-05], dtype=torch.float64)) == expected
    assert space.canonical(" 0.1, 2 ,-0.00003") == expected
    assert space.canonical(expected) == expected
    assert space.feature_names == ["x0", "x1", "x2"] and space.dim == 3


def test_a_vector_with_negative_zeros_is_the_same_arch() -> None:
    """-0.0 == 0.0, but repr wrote "-0.0": one vector had two canonical strings, so the store
    and the model kept its measurements as two archs' (and suggested it twice)."""
    space = VectorSpace(3)
    assert space.canonical([-0.0, 1, -0.0]) == space.canonical("0,1,0") == "0.0,1.0,0.0"
    assert space.canonical(np.array([-0.0, 1.0, 0.0])) == "0.0,1.0,0.0"


def test_vector_text_is_read_as_it_was_but_other_scripts_and_underscores() -> None:
    """An element with a separator strip() drops ("\\x1c") was matched stripped and parsed
    unstripped: INTERNAL over gRPC (a review, 2026-12-06)."""
    assert VectorSpace(3).canonical("\x1c1., +2E1 ,\t-.5\n") == "1.0,20.0,-0.5"


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        ([1.0, 2.0], r"^expected 3 values, got 2$"),
        ("1,2,3,4", r"^expected 3 values, got 4$"),
        ([1.0, float("nan"), 2.0], r"^element 1 is nan; values must be finite and at most 1e\+12"),
        (np.array([1.0, 2.0, np.inf]), r"^element 2 is inf; values must be finite"),
        # Accepted before: one such measurement made the device's every posterior fail.
        ("1e160,1,1", r"^element 0 is 1e\+160; values must be finite and at most 1e\+12 in"),
        ([1.0, -2e12, 2.0], r"^element 1 is -2000000000000.0; values must be"),
        ("1,abc,3", r"^element 1: cannot parse 'abc' as a decimal number$"),
        # float() read these as 10, 1 and 1 (a review, 2026-12-06).
        ("1_0,2,3", r"^element 0: cannot parse '1_0' as a decimal number$"),
        ("\u0661,2,3", r"^element 0: cannot parse '\u0661' as a decimal number$"),
        ("\uff11,2,3", r"^element 0: cannot parse '\uff11' as a decimal number$"),
        ([1.0, True, 2.0], r"^element 1: expected a real number, got bool"),
        ([1.0, None, 2.0], r"^element 1: expected a real number, got NoneType"),
        # float() of it raised OverflowError (a review, 2026-12-06).
        ([1.0, 10**400, 2.0], r"^element 1 is beyond any float; values must be finite"),
        (np.ones((3, 1)), r"expected a 1-D array of 3 values, got shape \(3, 1\)"),
        (3.0, r"expected a sequence of 3 values, got float"),
        (" ", r"^expected 3 values, got 0$"),
    ],
)
def test_vector_malformed_name_the_problem(arch: object, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        VectorSpace(3).canonical(arch)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (" ", r"^expected 1 value, got 0$"),
        ("1,2", r"^expected 1 value, got 2$"),
        (np.ones((1, 1)), r"^expected a 1-D array of 1 value, got shape \(1, 1\)$"),
        (3.0, r"^expected a sequence of 1 value, got float$"),
    ],
)
def test_a_one_feature_space_names_one_value(arch: object, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        VectorSpace(1).canonical(arch)  # type: ignore[arg-type]


def test_vector_encode_sequences_and_matrices() -> None:
    space = VectorSpace(2)
    x = space.encode([[1, 2], np.array([3.0, 4.0]), "5,6"])
    assert x.dtype == torch.float64 and x.tolist() == [[1, 2], [3, 4], [5, 6]]
    matrix = np.arange(6, dtype=np.float64).reshape(3, 2)
    encoded = space.encode(matrix)
    assert encoded.tolist() == matrix.tolist()
    matrix[0, 0] = 99.0  # the encoding does not alias the caller's array
    assert encoded[0, 0] == 0.0
    assert space.encode(torch.ones(4, 2, dtype=torch.float32)).dtype == torch.float64
    with pytest.raises(InvalidArchitectureError, match=r"^arch 1: expected 2 values, got 3$"):
        space.encode([[1, 2], [1, 2, 3]])
    with pytest.raises(
        InvalidArchitectureError,
        match=r"expected 2 values per arch, got a matrix of shape \(3, 3\)",
    ):
        space.encode(np.zeros((3, 3)))
    bad = np.zeros((4, 2))
    bad[2, 1] = np.nan
    with pytest.raises(
        InvalidArchitectureError, match=r"^arch 2: element 1 is nan; values must be finite"
    ):
        space.encode(bad)
    bad[2, 1] = 1e13
    with pytest.raises(
        InvalidArchitectureError, match=r"^arch 2: element 1 is 10000000000000.0; values"
    ):
        space.encode(bad)


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([["1", "2"], ["3", "4"]]),
        np.array([[1, 2], [3, 4]], dtype=object),
        np.array([[1 + 1j, 2], [3, 4]]),
        torch.ones(2, 2, dtype=torch.complex64),
        np.array([[True, False], [False, True]]),
        torch.tensor([[True, False], [False, True]]),
    ],
)
def test_vector_matrices_are_read_as_their_rows_would_be(matrix: np.ndarray) -> None:
    """The fast path for matrices took any dtype torch converts: strings and object arrays
    raised TypeError, complex ones lost their imaginary part, bools became 0/1, where the same
    rows one by one are parsed or refused with InvalidArchitectureError."""
    space = VectorSpace(2)
    rows = [list(row) for row in matrix.tolist()]
    try:
        expected = space.encode(rows)
    except InvalidArchitectureError as refusal:
        with pytest.raises(InvalidArchitectureError, match=re.escape(str(refusal))):
            space.encode(matrix)
    else:
        assert space.encode(matrix).tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("space", "what"),
    [
        (NASBench201Space(), "6 op indices"),
        (FBNetSpace(), "block indices"),
        (VectorSpace(3), "3 values"),
    ],
)
@pytest.mark.parametrize("arch", [np.array(5), torch.tensor(5)])
def test_a_zero_dimensional_array_is_a_malformed_arch(
    space: SearchSpace, what: str, arch: np.ndarray | torch.Tensor
) -> None:
    """Tested only with 2-D arrays: a check for more than one dimension passed them, and a
    scalar array then failed as a TypeError ("object of type 'int' has no len()")."""
    with pytest.raises(InvalidArchitectureError, match=rf"1-D array of {what}, got shape \(\)"):
        space.canonical(arch)


def test_fbnet_random_archs_draw_every_block() -> None:
    """Uniform over the 9 blocks: 100 archs (2,200 draws) miss none of them."""
    drawn = {block for arch in FBNetSpace().random_archs(100, seed=0) for block in arch.split(",")}
    assert drawn == set(fbnet.BLOCKS)


def test_nb201_typical_work_is_the_median_arch_s() -> None:
    """The prior-only model's baseline divides by it: the median, not the mean, of the space."""
    space = NASBench201Space()
    flops = space.encode(all_archs())[:, space.feature_names.index("flops_m")]
    assert space.typical_work == pytest.approx(float(flops.median()))
    assert float(flops.mean()) != pytest.approx(float(flops.median()), rel=0.01)


def test_nb201_encodings_are_the_caller_s_own() -> None:
    """Rows come from a cached read-only table: a caller writing to its encoding must not
    change the next one's."""
    space = NASBench201Space()
    rows = space.encode([GOOD])
    expected = rows.clone()
    rows[0, 0] = -1.0
    assert torch.equal(space.encode([GOOD]), expected)


@pytest.mark.parametrize("magnitude", [1e12, -1e12])
def test_vector_values_at_the_largest_magnitude_are_accepted(magnitude: float) -> None:
    """The rule says "at most 1e12": the bound itself is a valid value, in a list or a matrix."""
    space = VectorSpace(2)
    assert space.canonical([magnitude, 0.0]) == f"{magnitude!r},0.0"
    assert space.encode(np.array([[magnitude, 0.0]]))[0, 0] == magnitude


def test_fbnet_layer_count_spread_is_that_of_uniform_blocks() -> None:
    """The skip count's mean and sd over the space (22 layers, 9 blocks, skip one of them:
    binomial) set the layer-count direction's prior; no test read them (a mutation review,
    2026-12-07)."""
    mean, sd = FBNetSpace().layer_count_spread
    assert mean == pytest.approx(22 / 9, abs=0.1)
    assert sd == pytest.approx(math.sqrt(22 * 8 / 81), abs=0.1)
