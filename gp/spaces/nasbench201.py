"""The NAS-Bench-201 cell search space and its latency-oriented encoding.

An architecture is one cell, a DAG on nodes 0..3 with an op on each of the 6 edges
``j -> k`` (``j < k``), written ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: the k-th group
lists the edges into node k, ``op~j`` being the edge from node j. Edges are numbered 0..5 in
string order: ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``. A node sums its incoming edges.

Indices are our own enumeration: ``index`` is the position of the 6 edge ops in
``itertools.product(OPS, repeat=6)``. They are *not* the indices of NB201's published
tables (look those up by arch string).

The encoding concatenates a one-hot per edge with analytic structural features of the
CIFAR-10 NB201 network (FLOPs, parameters, op counts, live/dead edges, path depths); see
:data:`STRUCTURAL_FEATURES` for the list and why each carries latency. All 15,625 rows are
computed once, vectorised, and cached, so encoding is a table lookup.

References:
    X. Dong and Y. Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural
    Architecture Search. ICLR 2020.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import torch

from gp.errors import InvalidArchitectureError
from gp.spaces._costs import Cost, avg_pool, batch_norm, conv2d, global_avg_pool, linear
from gp.spaces.base import ArchLike, SearchSpace, array_items, is_whole_number, shown_index

#: Candidate ops, in the order used by one-hot features and indices.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Cell edges as ``(source, target)`` node pairs, in arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES  # 15,625
#: Every path from node 0 to node 3, as tuples of edge indices.
PATHS: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))

_OP_INDEX = MappingProxyType({op: i for i, op in enumerate(OPS)})
_EDGE_INDEX = MappingProxyType({edge: i for i, edge in enumerate(EDGES)})
_NONE = _OP_INDEX["none"]
_CONVS = (_OP_INDEX["nor_conv_1x1"], _OP_INDEX["nor_conv_3x3"])

# The CIFAR-10 network NB201 trains: stem, 3 stages of 5 cells, residual reductions between.
_INPUT_SIZE = 32
_CELLS_PER_STAGE = 5
_STAGES: tuple[tuple[int, int], ...] = ((16, 32), (32, 16), (64, 8))  # (channels, side)
_NUM_CLASSES = 10

#: Names of the structural features after the one-hot block; FLOPs are MACs (see _costs).
STRUCTURAL_FEATURES: tuple[str, ...] = (
    "flops_m",  # MFLOPs with every non-none edge run: what a plain framework executes
    "log_flops",  # latency grows roughly multiplicatively with work; log linearises it
    "flops_live_m",  # MFLOPs of live edges only: what a runtime that prunes dead branches runs
    "log_flops_live",  # log of the above, for the same reason as log_flops
    "params_m",  # million weights (all non-none edges): memory traffic on bandwidth-bound devices
    "log_params",  # log of the above
    "params_live_m",  # million weights on live edges: traffic when dead branches are pruned
    "log_params_live",  # log of the above
    "count_none",  # fewer kernels to launch; each 'none' is a zero tensor some runtimes still add
    "count_skip_connect",  # free in FLOPs but adds a node-sum (memory-bound) on GPUs
    "count_nor_conv_1x1",  # cheap convs: launch overhead and bandwidth more than compute
    "count_nor_conv_3x3",  # the compute-heavy op; dominates on CPUs and accelerators
    "count_avg_pool_3x3",  # no weights but a full memory pass; slow on some mobile runtimes
    "live_skip_connect",  # node sums a dead-branch-pruning runtime still performs
    "live_nor_conv_1x1",  # 1x1 convs such a runtime still runs
    "live_nor_conv_3x3",  # 3x3 convs such a runtime still runs: its main compute
    "live_avg_pool_3x3",  # pools such a runtime still runs: memory passes
    "dead_edges",  # non-none edges on no non-none path 0 -> 3: what constant folding drops
    "disconnected",  # 1 if no such path: the output is a constant (zero with untrained BN)
    "num_paths",  # parallel branches (0..4): more concurrency, more node sums
    "depth_conv",  # most convs on one path: the serial chain of heavy kernels per cell
    "depth_ops",  # longest non-none path in ops: sequential kernel launches (latency-bound)
    "convs_on_longest",  # convs on the longest path (max over ties): how heavy that chain is
)


def _edge_label(edge: int) -> str:
    source, target = EDGES[edge]
    return f"edge {edge} (node {source} -> node {target})"


def _onehot_names() -> tuple[str, ...]:
    return tuple(f"edge{e}_{s}to{t}_{op}" for e, (s, t) in enumerate(EDGES) for op in OPS)


#: All feature names, one-hot block (``edge<e>_<src>to<dst>_<op>``) first.
FEATURE_NAMES: tuple[str, ...] = _onehot_names() + STRUCTURAL_FEATURES


# --------------------------------------------------------------------------- parsing


def parse_arch(arch: str) -> tuple[str, ...]:
    """Strictly parse an NB201 arch string.

    Args:
        arch: A string like ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|``.

    Returns:
        The 6 edge ops, in edge order.

    Raises:
        InvalidArchitectureError: If the string is malformed; the message names the group or
            edge and what is wrong with it.
    """
    if not isinstance(arch, str):
        raise InvalidArchitectureError(f"expected an arch string, got {type(arch).__name__}")
    for position, char in enumerate(arch):
        if char.isspace():
            raise InvalidArchitectureError(
                f"whitespace at position {position} of {arch!r}; arch strings contain none"
            )
    groups = arch.split("+")
    if len(groups) != 3:
        raise InvalidArchitectureError(
            f"expected 3 groups separated by '+' (edges into nodes 1, 2, 3), "
            f"got {len(groups)} in {arch!r}"
        )
    return tuple(op for node, group in enumerate(groups, 1) for op in _parse_group(node, group))


def _parse_group(node: int, group: str) -> list[str]:
    where = f"group {node} (edges into node {node})"
    if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
        raise InvalidArchitectureError(f"{where}: must start and end with '|', got {group!r}")
    tokens = group[1:-1].split("|")
    if len(tokens) != node:
        raise InvalidArchitectureError(
            f"{where}: expected {node} '|'-separated edge(s), got {len(tokens)} in {group!r}"
        )
    return [_parse_edge(source, node, token) for source, token in enumerate(tokens)]


def _parse_edge(source: int, target: int, token: str) -> str:
    where = _edge_label(_EDGE_INDEX[(source, target)])
    if not token:
        raise InvalidArchitectureError(f"{where}: missing op (empty between '|')")
    op, tilde, given_source = token.partition("~")
    if not tilde:
        raise InvalidArchitectureError(f"{where}: expected 'op~{source}', got {token!r}")
    if op not in _OP_INDEX:
        raise InvalidArchitectureError(
            f"{where}: unknown op {op!r}; expected one of {', '.join(OPS)}"
        )
    if given_source != str(source):
        raise InvalidArchitectureError(
            f"{where}: source index must be {source}, got {given_source!r} in {token!r}"
        )
    return op


def _ops_from_sequence(arch: Sequence[object] | np.ndarray | torch.Tensor) -> tuple[str, ...]:
    if isinstance(arch, np.ndarray | torch.Tensor):
        items = array_items(arch, f"{NUM_EDGES} op indices")
    else:
        items = list(arch)
    if len(items) != NUM_EDGES:
        raise InvalidArchitectureError(f"expected {NUM_EDGES} edge ops, got {len(items)}")
    return tuple(_op_name(edge, item) for edge, item in enumerate(items))


def _op_name(edge: int, item: object) -> str:
    where = _edge_label(edge)
    if isinstance(item, str):
        if item not in _OP_INDEX:
            raise InvalidArchitectureError(
                f"{where}: unknown op {item!r}; expected one of {', '.join(OPS)}"
            )
        return item
    if is_whole_number(item):
        if not 0 <= int(item) < len(OPS):
            raise InvalidArchitectureError(
                f"{where}: op index {shown_index(item)} out of range 0..{len(OPS) - 1}"
            )
        return OPS[int(item)]
    raise InvalidArchitectureError(
        f"{where}: expected an op name or index, got {type(item).__name__} {item!r}"
    )


# --------------------------------------------------------------------------- indices


def format_arch(ops: Sequence[str]) -> str:
    """Return the arch string of 6 edge ops given in edge order (not validated)."""
    groups = ([f"{ops[_EDGE_INDEX[(s, t)]]}~{s}" for s in range(t)] for t in (1, 2, 3))
    return "+".join("|" + "|".join(group) + "|" for group in groups)


@functools.cache
def _all_archs() -> tuple[str, ...]:
    return tuple(format_arch(ops) for ops in itertools.product(OPS, repeat=NUM_EDGES))


@functools.cache
def _index_of() -> MappingProxyType[str, int]:
    return MappingProxyType({arch: i for i, arch in enumerate(_all_archs())})


def all_archs() -> list[str]:
    """Every NB201 arch string, ordered by our index (a fresh list of 15,625)."""
    return list(_all_archs())


def index_to_arch(index: int) -> str:
    """Return the arch string at ``index`` of our enumeration.

    Raises:
        InvalidArchitectureError: If ``index`` is not an int in ``0..15624``.
    """
    if not is_whole_number(index):
        raise InvalidArchitectureError(
            f"arch index must be an int, got {type(index).__name__} {index!r}"
        )
    if not 0 <= int(index) < NUM_ARCHS:
        raise InvalidArchitectureError(
            f"arch index {shown_index(index)} out of range 0..{NUM_ARCHS - 1}"
        )
    return _all_archs()[int(index)]


def arch_to_index(arch: ArchLike) -> int:
    """Return our index of an architecture.

    Args:
        arch: An arch string, or a sequence of 6 op names or op indices in edge order.

    Raises:
        InvalidArchitectureError: If ``arch`` is malformed; the message names the problem.
    """
    if isinstance(arch, str):
        # Fast path for well-formed strings; the strict parser only runs to explain errors.
        index = _index_of().get(arch)
        if index is not None:
            return index
        ops = parse_arch(arch)
    elif isinstance(arch, Sequence | np.ndarray | torch.Tensor):
        ops = _ops_from_sequence(arch)
    else:
        raise InvalidArchitectureError(
            f"expected an arch string or a sequence of {NUM_EDGES} ops, got {type(arch).__name__}"
        )
    return functools.reduce(lambda acc, op: acc * len(OPS) + _OP_INDEX[op], ops, 0)


# --------------------------------------------------------------------------- costs


def _cell_op_cost(op: str, channels: int, size: int) -> Cost:
    """One edge op in one cell; convs are ReLU-Conv-BN, the pool is 3x3 stride 1 pad 1."""
    if op == "avg_pool_3x3":
        return avg_pool(channels, 3, size, stride=1, padding=1)[0]
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        kernel = 1 if op == "nor_conv_1x1" else 3
        return conv2d(channels, channels, kernel, size)[0]
    return Cost()  # none and skip_connect


def _edge_cost(op: str) -> Cost:
    """One edge position's op summed over all 15 cells of the network."""
    return sum((_cell_op_cost(op, c, s) * _CELLS_PER_STAGE for c, s in _STAGES), Cost())


def _reduction_cost(c_in: int, c_out: int, size: int) -> Cost:
    """ResNet basic block, stride 2; shortcut is avgpool(2, 2) then a bias-free 1x1 conv."""
    conv_a, half = conv2d(c_in, c_out, 3, size, stride=2)
    conv_b, _ = conv2d(c_out, c_out, 3, half)
    pool, _ = avg_pool(c_in, 2, size, stride=2, padding=0)
    shortcut, _ = conv2d(c_in, c_out, 1, half, batch_norm=False)
    return conv_a + conv_b + pool + shortcut


def _fixed_cost() -> Cost:
    """Everything outside the cells: stem, reductions, final BN-ReLU, pool, classifier."""
    first_channels, _ = _STAGES[0]
    last_channels, last_size = _STAGES[-1]
    stem, _ = conv2d(3, first_channels, 3, _INPUT_SIZE)
    reductions = sum(
        (_reduction_cost(c_in, c_out, s) for (c_in, s), (c_out, _) in itertools.pairwise(_STAGES)),
        Cost(),
    )
    head = (
        batch_norm(last_channels)
        + global_avg_pool(last_channels, last_size)
        + linear(last_channels, _NUM_CLASSES)
    )
    return stem + reductions + head


# --------------------------------------------------------------------------- features


def _structural_features(ops: np.ndarray) -> np.ndarray:
    """Structural features of cells given as op indices.

    Args:
        ops: ``n x 6`` integer op indices, in edge order.

    Returns:
        ``n x len(STRUCTURAL_FEATURES)`` float64 features, in that order.
    """
    non_none = ops != _NONE
    is_conv = np.isin(ops, _CONVS)
    open_paths = np.stack([non_none[:, list(p)].all(axis=1) for p in PATHS], axis=1)  # n x 4
    path_convs = np.stack([is_conv[:, list(p)].sum(axis=1) for p in PATHS], axis=1)  # n x 4
    path_lengths = np.array([len(p) for p in PATHS])

    live = np.zeros_like(non_none)
    for p, path in enumerate(PATHS):
        live[:, list(path)] |= open_paths[:, [p]]

    depth_ops = np.where(open_paths, path_lengths, 0).max(axis=1)
    on_longest = open_paths & (path_lengths == depth_ops[:, None])

    counts = [(ops == o).sum(axis=1) for o in range(len(OPS))]
    live_counts = [((ops == o) & live).sum(axis=1) for o in range(len(OPS)) if o != _NONE]
    columns = [
        *_cost_columns(ops, live),
        *counts,
        *live_counts,
        (non_none & ~live).sum(axis=1),
        ~open_paths.any(axis=1),
        open_paths.sum(axis=1),
        np.where(open_paths, path_convs, 0).max(axis=1),
        depth_ops,
        np.where(on_longest, path_convs, 0).max(axis=1),
    ]
    return np.stack(columns, axis=1).astype(np.float64)


def _cost_columns(ops: np.ndarray, live: np.ndarray) -> list[np.ndarray]:
    """The first eight structural features: MFLOPs with every edge and with live edges only,
    then million params likewise, each followed by its log."""
    fixed = _fixed_cost()
    edge_costs = [_edge_cost(op) for op in OPS]
    edge_flops = np.array([c.flops for c in edge_costs], dtype=np.float64)[ops]  # n x 6
    edge_params = np.array([c.params for c in edge_costs], dtype=np.float64)[ops]
    flops = (fixed.flops + edge_flops.sum(axis=1)) / 1e6
    flops_live = (fixed.flops + (edge_flops * live).sum(axis=1)) / 1e6
    params = (fixed.params + edge_params.sum(axis=1)) / 1e6
    params_live = (fixed.params + (edge_params * live).sum(axis=1)) / 1e6
    return [
        flops,
        np.log(flops),
        flops_live,
        np.log(flops_live),
        params,
        np.log(params),
        params_live,
        np.log(params_live),
    ]


def _encode_ops(ops: np.ndarray) -> np.ndarray:
    """Full feature rows (``n x len(FEATURE_NAMES)``) of ``n x 6`` op indices."""
    onehot = np.eye(len(OPS))[ops].reshape(len(ops), NUM_EDGES * len(OPS))
    return np.concatenate([onehot, _structural_features(ops)], axis=1)


@functools.cache
def _feature_table() -> np.ndarray:
    """Features of all 15,625 archs, row = our index; read-only, computed once."""
    ops = np.array(list(itertools.product(range(len(OPS)), repeat=NUM_EDGES)))
    table = _encode_ops(ops)
    table.setflags(write=False)
    return table


@functools.cache
def _median_flops() -> float:
    return float(np.median(_feature_table()[:, FEATURE_NAMES.index("flops_m")]))


class NASBench201Space(SearchSpace[int]):
    """The NAS-Bench-201 cell space (15,625 architectures).

    Accepts an arch string (strictly parsed) or a sequence of 6 op names or indices in edge
    order. The canonical form is the arch string; features are :data:`FEATURE_NAMES`.
    """

    name = "nasbench201"
    work_feature = "flops_m"
    # No layer_count_feature: the count of live ops as one (gp.benchmark --source none, 5 seeds,
    # 2026-12-06) ranked HELP's six targets worse from 10 random measurements (0.903 -> 0.900;
    # active 10: 0.918 -> 0.906) and the 13 other devices too (0.888 -> 0.864; docs/model-notes.md).

    @property
    def typical_work(self) -> float:
        return _median_flops()

    @property
    def feature_names(self) -> list[str]:
        return list(FEATURE_NAMES)

    def _key(self, arch: ArchLike) -> int:
        return arch_to_index(arch)

    def _format(self, key: int) -> str:
        return _all_archs()[key]

    def _encode_keys(self, keys: Sequence[int]) -> np.ndarray:
        # Fancy indexing copies, so callers never see the cached read-only table.
        return _feature_table()[np.asarray(keys, dtype=np.int64)]
