"""The torch building blocks of :mod:`client.measure.networks` (imported only when building)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """NB201's ``nor_conv_kxk``: ReLU, bias-free k x k conv, BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """NB201's ``none``: the reference code multiplies by zero rather than skipping the edge."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def nb201_op(op: str, channels: int) -> nn.Module:
    """One cell edge; every op keeps the channel count and the resolution."""
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity()
    if op == "none":
        return Zero()
    raise ValueError(f"unknown NB201 op {op!r}")


class NB201Cell(nn.Module):
    """A cell: node k sums op(j -> k)(node j) over j < k; the output is node 3."""

    def __init__(self, cell_ops: list[list[str]], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(nb201_op(op, channels) for op in node_ops) for node_ops in cell_ops
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node_edges in cast(Iterable[nn.ModuleList], self.edges):
            total = node_edges[0](nodes[0])
            for source in range(1, len(node_edges)):
                total = total + node_edges[source](nodes[source])
            nodes.append(total)
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    """NB201's reduction: two ReLU-conv-BN (the first strided), shortcut avgpool + 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, relu: bool = False
) -> nn.Sequential:
    """Bias-free conv (padding k//2) + BN, optionally followed by ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FBNetBlock(nn.Module):
    """1x1 expand (groups g) -> k x k depthwise (stride s) -> 1x1 project (groups g)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, expansion: int, groups: int, stride: int
    ) -> None:
        super().__init__()
        mid = expansion * c_in
        self.body = nn.Sequential(
            conv_bn(c_in, mid, 1, 1, groups=groups, relu=True),
            conv_bn(mid, mid, kernel, stride, groups=mid, relu=True),
            conv_bn(mid, c_out, 1, 1, groups=groups),
        )
        self.residual = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class FBNetSkip(nn.Sequential):
    """``skip``: the identity, or a 1x1 conv + BN where the stride or channel count changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        if c_in == c_out and stride == 1:
            super().__init__(nn.Identity())
        else:
            super().__init__(*conv_bn(c_in, c_out, 1, stride))
