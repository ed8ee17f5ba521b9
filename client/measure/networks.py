"""Runnable torch networks of the NAS-Bench-201 and FBNet search spaces, built from arch strings.

The client does not import the modelling package (``gp``), so the little arch-string parsing
needed here is repeated; the formats are those of ``proto/latency/v1/latency.proto``.

NB201 (CIFAR-10 sized, as the benchmark trains it): stem 3x3 conv 3->16 + BN, three stages of
5 cells with 16/32/64 channels separated by ResNet basic blocks of stride 2, then BN-ReLU,
global average pool and a linear classifier to 10 classes. Cell ops follow the paper's code:
``nor_conv_kxk`` is ReLU-conv-BN, ``avg_pool_3x3`` excludes padding, ``skip_connect`` is the
identity and ``none`` multiplies by zero (the reference code still runs it, so it costs a
memory pass, and the published latency tables include that cost).

FBNet (HW-NAS-Bench's CIFAR-100 variant), see :mod:`gp.spaces.fbnet` for the same text: stem
3x3 conv 3->16 stride 1; stages of ``[1, 4, 4, 4, 4, 4, 1]`` layers with
``[16, 24, 32, 64, 112, 184, 352]`` output channels and strides ``[1, 1, 2, 2, 1, 2, 1]`` on
each stage's first layer; a block ``k<k>_e<e>[_g<g>]`` is 1x1 expand (groups g) -> kxk
depthwise (stride s) -> 1x1 project (groups g) with a residual add when shapes allow; ``skip``
is the identity or a 1x1 conv where the stride or channel count changes; head 1x1 conv to 1504,
global average pool, linear to 100.

References:
    X. Dong and Y. Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural
    Architecture Search. ICLR 2020.
    C. Li et al. HW-NAS-Bench: Hardware-Aware Neural Architecture Search Benchmark. ICLR 2021.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from client.measure.errors import ArchitectureError
from service.wording import quantity

if TYPE_CHECKING:  # torch is imported lazily so the CLI starts fast
    from torch import Tensor, nn

NASBENCH201 = "nasbench201"
FBNET = "fbnet"
SEARCH_SPACES: tuple[str, ...] = (NASBENCH201, FBNET)

#: NB201 cell ops, in the benchmark's order.
NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: Archs in the NB201 space: an op on each of the cell's 6 edges.
NB201_SIZE = len(NB201_OPS) ** 6
_NB201_CELLS_PER_STAGE = 5
_NB201_CHANNELS = (16, 32, 64)
_NB201_CLASSES = 10

#: FBNet blocks, in index order.
FBNET_BLOCKS: tuple[str, ...] = (
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
_FBNET_STEM = 16
_FBNET_DEPTHS = (1, 4, 4, 4, 4, 4, 1)
_FBNET_CHANNELS = (16, 24, 32, 64, 112, 184, 352)
_FBNET_STRIDES = (1, 1, 2, 2, 1, 2, 1)
_FBNET_HEAD = 1504
_FBNET_CLASSES = 100
FBNET_LAYERS = sum(_FBNET_DEPTHS)  # 22

INPUT_SIDE = 32  # both spaces are CIFAR sized
#: Largest batch whose float32 input torch can size (its byte count is an int64). A larger one
#: ended in a traceback ("Storage size calculation overflowed"; beyond 2**63, an overflow
#: unpacking the size) where a batch merely too large for the memory is told so.
MAX_BATCH_SIZE = (2**63 - 1) // (3 * INPUT_SIDE**2 * 4)


# --------------------------------------------------------------------------- arch strings


def parse_nb201(arch: str) -> list[list[str]]:
    """Parse an NB201 cell string into the ops entering nodes 1, 2 and 3.

    Args:
        arch: e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|``.

    Returns:
        ``ops[k-1][j]``: the op on the edge from node ``j`` to node ``k``.

    Raises:
        ArchitectureError: If the string is malformed; the message says where.
    """
    groups = arch.strip().split("+")
    if len(groups) != 3:
        raise ArchitectureError(f"expected 3 '+'-separated groups in NB201 arch {arch!r}")
    return [_parse_nb201_group(node, group, arch) for node, group in enumerate(groups, 1)]


def _parse_nb201_group(node: int, group: str, arch: str) -> list[str]:
    # One '|' each side, as gp's parser has it: "||op~0||" was taken for "|op~0|".
    tokens = group[1:-1].split("|")
    if not (group.startswith("|") and group.endswith("|")) or len(tokens) != node:
        raise ArchitectureError(f"group {node} of {arch!r} must be {node} '|op~j|' edge(s)")
    ops = []
    for source, token in enumerate(tokens):
        op, _, given = token.partition("~")
        if op not in NB201_OPS or given != str(source):
            raise ArchitectureError(
                f"edge {source}->{node} of {arch!r}: expected 'op~{source}' with op one of "
                f"{', '.join(NB201_OPS)}, got {token!r}"
            )
        ops.append(op)
    return ops


def format_nb201(ops: list[str]) -> str:
    """The arch string of 6 edge ops in string order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)."""
    if len(ops) != 6:
        raise ArchitectureError(f"an NB201 cell has 6 edges, got {quantity(len(ops), 'op')}")
    groups = (ops[0:1], ops[1:3], ops[3:6])
    return "+".join("|" + "|".join(f"{op}~{j}" for j, op in enumerate(g)) + "|" for g in groups)


def random_nb201(count: int, seed: int | None = None, exclude: set[str] | None = None) -> list[str]:
    """``count`` distinct NB201 arch strings drawn uniformly, none of them in ``exclude``."""
    rng = random.Random(seed)
    taken = set(exclude or ())
    left = NB201_SIZE - len(taken)
    if count > left:
        raise ArchitectureError(
            f"cannot draw {quantity(count, 'distinct NB201 arch')}: only {left} are left outside"
            " those excluded (measured already, or reference archs)"
        )

    def draw() -> str:
        return format_nb201([rng.choice(NB201_OPS) for _ in range(6)])

    return _distinct_draws(count, draw, taken)


def parse_fbnet(arch: str) -> list[str]:
    """Parse an FBNet arch: 22 comma-separated block names (or indices 0..8).

    Raises:
        ArchitectureError: If the layer count is wrong or a block is unknown.
    """
    items = [item.strip() for item in arch.split(",")] if arch.strip() else []
    if len(items) != FBNET_LAYERS:
        raise ArchitectureError(f"an FBNet arch has {FBNET_LAYERS} blocks, got {len(items)}")
    return [_fbnet_block(layer, item) for layer, item in enumerate(items)]


def random_fbnet(count: int, seed: int | None = None, exclude: set[str] | None = None) -> list[str]:
    """``count`` distinct FBNet archs (comma-joined block names) outside ``exclude``, blocks
    drawn independently per layer: the first such of the seed's draws."""
    rng = random.Random(seed)

    def draw() -> str:  # 9^22 archs: room for any count asked
        return ",".join(rng.choice(FBNET_BLOCKS) for _ in range(FBNET_LAYERS))

    return _distinct_draws(count, draw, set(exclude or ()))


def _distinct_draws(count: int, draw: Callable[[], str], taken: set[str]) -> list[str]:
    """The first ``count`` of ``draw``'s archs not in ``taken`` (which it extends), each once."""
    drawn: list[str] = []
    while len(drawn) < count:
        arch = draw()
        if arch not in taken:
            taken.add(arch)
            drawn.append(arch)
    return drawn


def random_archs(
    count: int,
    search_space: str = NASBENCH201,
    seed: int | None = None,
    exclude: set[str] | None = None,
) -> list[str]:
    """``count`` distinct random archs of a space outside ``exclude``."""
    if search_space in ("", NASBENCH201):
        return random_nb201(count, seed, exclude)
    if search_space == FBNET:
        # The excluded were dropped, not replaced: a held-out set came out short, unsaid.
        return random_fbnet(count, seed, exclude)
    raise ArchitectureError(f"no random archs for search space {search_space!r}")


def _fbnet_block(layer: int, item: str) -> str:
    if item in FBNET_BLOCKS:
        return item
    # One digit past leading zeros at most: int() of 4,301 digits raised a bare ValueError.
    digit = item.lstrip("0") or "0"
    if item.isascii() and item.isdigit() and len(digit) == 1 and int(digit) < len(FBNET_BLOCKS):
        return FBNET_BLOCKS[int(digit)]
    raise ArchitectureError(
        f"block {layer}: unknown block {item!r}; expected one of {', '.join(FBNET_BLOCKS)}"
    )


def _block_shape(block: str) -> tuple[int, int, int]:
    """``(kernel, expansion, groups)`` of a block name such as ``k5_e1_g2``."""
    parts = {part[0]: int(part[1:]) for part in block.split("_")}
    return parts["k"], parts["e"], parts.get("g", 1)


def check_archs(
    archs: Sequence[str], search_space: str = NASBENCH201, places: Sequence[str] = ()
) -> list[str]:
    """The canonical form of each arch (FBNet: block names joined by bare commas), the one
    the service stores; raises :class:`ArchitectureError` naming the first malformed arch by its
    place (e.g. ``mine.txt line 4``; default ``arch N``, counted from 1)."""
    canonical = []
    for number, arch in enumerate(archs, 1):
        try:
            canonical.append(canonical_arch(arch, search_space))
        except ArchitectureError as exc:
            place = places[number - 1] if places else f"arch {number}"
            raise ArchitectureError(
                f"{place}: {exc}{_other_space_hint(arch, search_space)}"
            ) from None
    return canonical


def _other_space_hint(arch: str, search_space: str) -> str:
    """What to add where a malformed ``arch`` is one of the other space: an FBNet file given
    without --space fbnet was "expected 3 '+'-separated groups in NB201 arch" (a review)."""
    other = FBNET if search_space != FBNET else NASBENCH201
    try:
        canonical_arch(arch, other)
    except ArchitectureError:
        return ""
    return f" (an arch of {other}: give --space {other})"


def canonical_arch(arch: str, search_space: str = NASBENCH201) -> str:
    """``arch`` spelled as the service stores it, so that one network is timed once."""
    if search_space == FBNET:
        return ",".join(parse_fbnet(arch))
    return format_nb201([op for ops in parse_nb201(arch) for op in ops])


def space_of_arch(arch: str) -> str:
    """The space of an arch of either space ``client measure`` builds: NB201 cell strings
    start with ``|``, anything else is an FBNet block list."""
    return NASBENCH201 if arch.strip().startswith("|") else FBNET


# --------------------------------------------------------------------------- builders


def build_network(arch: str, search_space: str = NASBENCH201) -> nn.Module:
    """A runnable network of ``arch``, in eval mode, with freshly initialised weights.

    Raises:
        ArchitectureError: If the space is unknown or the arch malformed.
    """
    if search_space in ("", NASBENCH201):
        model = _build_nb201(parse_nb201(arch))
    elif search_space == FBNET:
        model = _build_fbnet(parse_fbnet(arch))
    else:
        raise ArchitectureError(
            f"cannot build networks of search space {search_space!r}; "
            f"expected one of {', '.join(SEARCH_SPACES)}"
        )
    return model.eval()


def example_input(batch_size: int = 1) -> Tensor:
    """A fixed-shape input (``batch_size x 3 x 32 x 32``) for either space."""
    import torch

    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, 3, INPUT_SIDE, INPUT_SIDE, generator=generator)


def _build_nb201(cell_ops: list[list[str]]) -> nn.Module:
    from torch import nn

    from client.measure import _modules as m

    layers: list[nn.Module] = [
        nn.Conv2d(3, _NB201_CHANNELS[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(_NB201_CHANNELS[0]),
    ]
    previous = _NB201_CHANNELS[0]
    for stage, channels in enumerate(_NB201_CHANNELS):
        if stage > 0:
            layers.append(m.ResNetBasicBlock(previous, channels, stride=2))
        layers.extend(m.NB201Cell(cell_ops, channels) for _ in range(_NB201_CELLS_PER_STAGE))
        previous = channels
    layers += [
        nn.BatchNorm2d(previous),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(previous, _NB201_CLASSES),
    ]
    return nn.Sequential(*layers)


def _build_fbnet(blocks: list[str]) -> nn.Module:
    from torch import nn

    from client.measure import _modules as m

    layers: list[nn.Module] = [m.conv_bn(3, _FBNET_STEM, 3, stride=1, relu=True)]
    c_in, names = _FBNET_STEM, iter(blocks)
    for depth, c_out, first_stride in zip(
        _FBNET_DEPTHS, _FBNET_CHANNELS, _FBNET_STRIDES, strict=True
    ):
        for layer in range(depth):
            stride = first_stride if layer == 0 else 1
            name = next(names)
            if name == "skip":
                layers.append(m.FBNetSkip(c_in, c_out, stride))
            else:
                kernel, expansion, groups = _block_shape(name)
                layers.append(m.FBNetBlock(c_in, c_out, kernel, expansion, groups, stride))
            c_in = c_out
    layers += [
        m.conv_bn(c_in, _FBNET_HEAD, 1, stride=1, relu=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(_FBNET_HEAD, _FBNET_CLASSES),
    ]
    return nn.Sequential(*layers)
