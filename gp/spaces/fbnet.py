"""The FBNet layer-wise search space (HW-NAS-Bench's CIFAR-100 variant) and its encoding.

An architecture chooses one of 9 blocks (:data:`BLOCKS`) for each of 22 searchable layers,
given as block names or indices, in a sequence or a comma-separated string. The canonical
form is the 22 names joined by ``","``.

Macro-architecture for a 32x32 input: stem 3x3 conv 3->16 (stride 1) + BN; stages of
``[1, 4, 4, 4, 4, 4, 1]`` layers with ``[16, 24, 32, 64, 112, 184, 352]`` output channels and
stride ``[1, 1, 2, 2, 1, 2, 1]`` on each stage's first layer only (output sides 32, 32, 16,
8, 8, 4, 4); head 1x1 conv 352->1504 + BN, global average pool, linear 1504->100.

Block ``k<k>_e<e>[_g<g>]``: 1x1 conv C_in -> e*C_in (groups g) + BN + ReLU, k x k depthwise
conv (stride s, padding k//2) + BN + ReLU, 1x1 conv -> C_out (groups g) + BN; a residual add
when ``C_in == C_out`` and ``s == 1``. ``skip`` is the identity, or a 1x1 conv (stride s) +
BN where the stride or the channel count changes. FLOPs and parameters follow the
conventions of :mod:`gp.spaces._costs` (MACs; BN affine weights count as parameters).

References:
    B. Wu et al. FBNet: Hardware-Aware Efficient ConvNet Design via Differentiable Neural
    Architecture Search. CVPR 2019.
    C. Li et al. HW-NAS-Bench: Hardware-Aware Neural Architecture Search Benchmark. ICLR 2021.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import torch

from gp.errors import InvalidArchitectureError
from gp.spaces._costs import Cost, conv2d, global_avg_pool, linear
from gp.spaces.base import ArchLike, SearchSpace, array_items, is_whole_number, shown_index

#: Candidate blocks, in the order used by indices and one-hot features.
BLOCKS: tuple[str, ...] = (
    "k3_e1",
    "k3_e1_g2",
    "k3_e3",
    "k3_e6",
    "k5_e1",
    "k5_e1_g2",
    "k5_e3",
    "k5_e6",
    "skip",
)
_BLOCK_INDEX = MappingProxyType({block: i for i, block in enumerate(BLOCKS)})

_INPUT_SIZE = 32
_STEM_CHANNELS = 16
_STAGE_DEPTHS = (1, 4, 4, 4, 4, 4, 1)
_STAGE_CHANNELS = (16, 24, 32, 64, 112, 184, 352)
_STAGE_STRIDES = (1, 1, 2, 2, 1, 2, 1)
_HEAD_CHANNELS = 1504
_NUM_CLASSES = 100

NUM_LAYERS = sum(_STAGE_DEPTHS)  # 22


@functools.cache
def _layer_shapes() -> tuple[tuple[int, int, int, int], ...]:
    """``(c_in, c_out, stride, input side)`` of each searchable layer."""
    shapes = []
    c_in, size = _STEM_CHANNELS, _INPUT_SIZE
    stages = zip(_STAGE_DEPTHS, _STAGE_CHANNELS, _STAGE_STRIDES, strict=True)
    for depth, c_out, first_stride in stages:
        for layer in range(depth):
            stride = first_stride if layer == 0 else 1
            shapes.append((c_in, c_out, stride, size))
            c_in, size = c_out, _strided(size, stride)
    return tuple(shapes)


def _strided(size: int, stride: int) -> int:
    """Side length after a block: odd kernels padded by k//2 keep ceil(size / stride)."""
    return (size - 1) // stride + 1


def block_cost(block: str, c_in: int, c_out: int, stride: int, size: int) -> Cost:
    """FLOPs and parameters of one block.

    Args:
        block: A name from :data:`BLOCKS`.
        c_in: Input channels.
        c_out: Output channels.
        stride: Stride of the depthwise conv (or of the skip's 1x1 conv).
        size: Input side length.
    """
    if block == "skip":
        if stride == 1 and c_in == c_out:
            return Cost()
        return conv2d(c_in, c_out, 1, size, stride=stride)[0]
    kernel, expansion, groups = _block_shape(block)
    mid = expansion * c_in
    expand, _ = conv2d(c_in, mid, 1, size, groups=groups)
    depthwise, size_out = conv2d(mid, mid, kernel, size, stride=stride, groups=mid)
    project, _ = conv2d(mid, c_out, 1, size_out, groups=groups)
    return expand + depthwise + project


def _block_shape(block: str) -> tuple[int, int, int]:
    """``(kernel, expansion, groups)`` of a block name such as ``k5_e1_g2``."""
    parts = {part[0]: int(part[1:]) for part in block.split("_")}
    return parts["k"], parts["e"], parts.get("g", 1)


@functools.cache
def _layer_costs() -> tuple[np.ndarray, np.ndarray]:
    """Per-layer, per-block FLOPs and parameters, both ``22 x 9`` (read-only)."""
    costs = [[block_cost(b, *shape) for b in BLOCKS] for shape in _layer_shapes()]
    flops = np.array([[c.flops for c in row] for row in costs], dtype=np.float64)
    params = np.array([[c.params for c in row] for row in costs], dtype=np.float64)
    flops.setflags(write=False)
    params.setflags(write=False)
    return flops, params


def _fixed_cost() -> Cost:
    """Stem and head: everything outside the searchable layers."""
    stem, _ = conv2d(3, _STEM_CHANNELS, 3, _INPUT_SIZE)
    *_, last_stride, last_input_size = _layer_shapes()[-1]
    last_size = _strided(last_input_size, last_stride)
    head, _ = conv2d(_STAGE_CHANNELS[-1], _HEAD_CHANNELS, 1, last_size)
    pool = global_avg_pool(_HEAD_CHANNELS, last_size)
    return stem + head + pool + linear(_HEAD_CHANNELS, _NUM_CLASSES)


def _feature_names() -> tuple[str, ...]:
    onehot = [f"layer{i}_{b}" for i in range(NUM_LAYERS) for b in BLOCKS]
    layer_flops = [f"layer{i}_flops_m" for i in range(NUM_LAYERS)]
    layer_params = [f"layer{i}_params_m" for i in range(NUM_LAYERS)]
    totals = ["flops_m", "log_flops", "params_m", "log_params"]
    counts = [f"count_{b}" for b in BLOCKS]
    return tuple(onehot + layer_flops + layer_params + totals + counts)


#: Feature names: one-hot (22 x 9), per-layer MFLOPs (22) and M params (22) -- the work and
#: weight traffic each layer adds to the serial chain -- then whole-network MFLOPs, M params,
#: their logs (latency scales multiplicatively), and how often each block is used.
FEATURE_NAMES: tuple[str, ...] = _feature_names()


def _block_index(layer: int, item: object) -> int:
    where = f"block {layer}"
    if isinstance(item, str):
        if item in _BLOCK_INDEX:
            return _BLOCK_INDEX[item]
        if item.isascii() and item.isdigit():
            digits = item.lstrip("0")
            if len(digits) > 2:  # int() refuses over 4,300 digits (a bare ValueError)
                shown = digits if len(digits) <= 12 else f"{digits[:12]}..."
                raise InvalidArchitectureError(
                    f"{where}: block index {shown} out of range 0..{len(BLOCKS) - 1}"
                )
            # Stripped first: "000...3" passed the length check and int() refused it.
            return _block_index(layer, int(digits or "0"))
        raise InvalidArchitectureError(
            f"{where}: unknown block {item!r}; expected one of {', '.join(BLOCKS)} "
            f"or an index 0..{len(BLOCKS) - 1}"
        )
    if is_whole_number(item):
        if not 0 <= int(item) < len(BLOCKS):
            raise InvalidArchitectureError(
                f"{where}: block index {shown_index(item)} out of range 0..{len(BLOCKS) - 1}"
            )
        return int(item)
    raise InvalidArchitectureError(
        f"{where}: expected a block name or index, got {type(item).__name__} {item!r}"
    )


def parse_arch(arch: ArchLike) -> tuple[int, ...]:
    """Validate an FBNet architecture and return its 22 block indices.

    Args:
        arch: 22 block names or indices, as a sequence (list, tuple, 1-D array) or a
            comma-separated string (whitespace around commas is ignored).

    Raises:
        InvalidArchitectureError: If the layer count is wrong or a block is unknown; the
            message names the 0-based layer (``block <i>``).
    """
    if isinstance(arch, str):
        items: list[object] = [t.strip() for t in arch.split(",")] if arch.strip() else []
    elif isinstance(arch, np.ndarray | torch.Tensor):
        items = array_items(arch, "block indices")
    elif isinstance(arch, Sequence):
        items = list(arch)
    else:
        raise InvalidArchitectureError(
            f"expected {NUM_LAYERS} block names or indices (a sequence or a comma-separated "
            f"string), got {type(arch).__name__}"
        )
    if len(items) != NUM_LAYERS:
        raise InvalidArchitectureError(f"expected {NUM_LAYERS} blocks, got {len(items)}")
    return tuple(_block_index(layer, item) for layer, item in enumerate(items))


def format_arch(indices: Sequence[int]) -> str:
    """Return the canonical string (comma-joined names) of block indices (not validated)."""
    return ",".join(BLOCKS[i] for i in indices)


def random_archs(n: int, seed: int | None = None) -> list[str]:
    """Draw ``n`` architectures uniformly at random (blocks independent per layer).

    Args:
        n: How many to draw.
        seed: Seed for :func:`numpy.random.default_rng`; ``None`` draws fresh entropy.

    Returns:
        ``n`` canonical arch strings (duplicates possible, but vanishingly rare).
    """
    rng = np.random.default_rng(seed)
    return [format_arch(row) for row in rng.integers(len(BLOCKS), size=(n, NUM_LAYERS))]


def _encode_indices(indices: np.ndarray) -> np.ndarray:
    """Feature rows (``n x len(FEATURE_NAMES)``) of ``n x 22`` block indices."""
    n = len(indices)
    layer_flops, layer_params = _layer_costs()
    layers = np.arange(NUM_LAYERS)
    flops = layer_flops[layers, indices]  # n x 22
    params = layer_params[layers, indices]
    fixed = _fixed_cost()
    total_flops = (fixed.flops + flops.sum(axis=1)) / 1e6
    total_params = (fixed.params + params.sum(axis=1)) / 1e6
    counts = np.stack([(indices == b).sum(axis=1) for b in range(len(BLOCKS))], axis=1)
    totals = np.stack(
        [total_flops, np.log(total_flops), total_params, np.log(total_params)], axis=1
    )
    onehot = np.eye(len(BLOCKS))[indices].reshape(n, NUM_LAYERS * len(BLOCKS))
    return np.concatenate([onehot, flops / 1e6, params / 1e6, totals, counts], axis=1)


@functools.cache
def _typical_encoding() -> np.ndarray:
    """Encodings of 4,096 random archs (fixed seed): the space is too large to enumerate."""
    return _encode_indices(np.random.default_rng(0).integers(len(BLOCKS), size=(4096, NUM_LAYERS)))


@functools.cache
def _median_flops() -> float:
    return float(np.median(_typical_encoding()[:, FEATURE_NAMES.index("flops_m")]))


@functools.cache
def _skip_count_spread() -> tuple[float, float]:
    skips = _typical_encoding()[:, FEATURE_NAMES.index("count_skip")]
    return float(skips.mean()), float(skips.std())


class FBNetSpace(SearchSpace[tuple[int, ...]]):
    """The FBNet space of HW-NAS-Bench (9 blocks ^ 22 layers), CIFAR-100 sized.

    Accepts 22 block names or indices as a sequence or a comma-separated string; the
    canonical form is the comma-joined names. Features are :data:`FEATURE_NAMES`.
    """

    name = "fbnet"
    work_feature = "flops_m"
    # Every block but skip runs three convolutions (a skip one, a 1x1 one at the six layers
    # that change stride or channels, none elsewhere). Timed on this project's VM at batch 1,
    # latency was a per-layer overhead plus work: from 10 random archs of a run the prior-only
    # model ranked the rest at 0.79-0.83 with total MFLOPs alone, at 0.87-0.90 with the skip
    # count too (six runs; docs/model-notes.md).
    layer_count_feature = "count_skip"

    @property
    def typical_work(self) -> float:
        return _median_flops()

    @property
    def layer_count_spread(self) -> tuple[float, float]:
        return _skip_count_spread()

    @property
    def feature_names(self) -> list[str]:
        return list(FEATURE_NAMES)

    def random_archs(self, n: int, seed: int | None = None) -> list[str]:
        """See :func:`random_archs`."""
        return random_archs(n, seed)

    def _key(self, arch: ArchLike) -> tuple[int, ...]:
        return parse_arch(arch)

    def _format(self, key: tuple[int, ...]) -> str:
        return format_arch(key)

    def _encode_keys(self, keys: Sequence[tuple[int, ...]]) -> np.ndarray:
        return _encode_indices(np.asarray(keys, dtype=np.int64))
