"""Analytic FLOPs and parameter counts of the layers our search spaces are built from.

Conventions (shared by every space so their features are comparable):

* FLOPs are multiply-accumulates (MACs) of convolutions and linear layers, plus ``k*k``
  accumulates per output element of a ``k x k`` average pool (padding included, though the
  NB201 cell's pool skips it at the borders) and ``H*W`` per channel of a global average
  pool. Bias adds, batch norm (folded at inference), activations, residual adds and node sums
  are not counted.
* Parameters are trainable weights: conv/linear weights and biases, and batch-norm affine
  weight and bias (``2 * C``). Running statistics are buffers, not parameters.
* Feature maps are square; ``size`` is the side length.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """FLOPs and parameters of some part of a network.

    Attributes:
        flops: Multiply-accumulates for one input image.
        params: Trainable parameters.
    """

    flops: int = 0
    params: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.flops + other.flops, self.params + other.params)

    def __mul__(self, times: int) -> Cost:
        return Cost(self.flops * times, self.params * times)


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Side length after a conv or pool window (PyTorch's floor formula)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv2d(
    c_in: int,
    c_out: int,
    kernel: int,
    size: int,
    stride: int = 1,
    groups: int = 1,
    batch_norm: bool = True,
) -> tuple[Cost, int]:
    """Cost a bias-free ``kernel x kernel`` conv, padding ``kernel // 2``, optionally + BN.

    Returns:
        The cost and the output side length.
    """
    size_out = out_size(size, kernel, stride, kernel // 2)
    weights = c_out * (c_in // groups) * kernel * kernel
    flops = size_out * size_out * weights
    params = weights + (2 * c_out if batch_norm else 0)
    return Cost(flops, params), size_out


def avg_pool(channels: int, kernel: int, size: int, stride: int, padding: int) -> tuple[Cost, int]:
    """Cost an average pool: ``kernel**2`` accumulates per output element, no parameters.

    Returns:
        The cost and the output side length.
    """
    size_out = out_size(size, kernel, stride, padding)
    return Cost(flops=size_out * size_out * channels * kernel * kernel), size_out


def global_avg_pool(channels: int, size: int) -> Cost:
    """Cost a global average pool: one accumulate per input element."""
    return Cost(flops=size * size * channels)


def batch_norm(channels: int) -> Cost:
    """Cost a standalone affine batch norm: parameters only (folded away at inference)."""
    return Cost(params=2 * channels)


def linear(c_in: int, c_out: int) -> Cost:
    """Cost a fully connected layer with bias."""
    return Cost(flops=c_in * c_out, params=c_in * c_out + c_out)
