"""Kernels of the latency GP, small gpytorch modules composed in :mod:`gp.model`."""

from __future__ import annotations

import gpytorch
import torch
from gpytorch.constraints import Positive


class ARDLinearKernel(gpytorch.kernels.Kernel):
    """``k(x, x') = sum_i v_i x_i x'_i``: Bayesian linear regression with a diagonal prior.

    gpytorch's LinearKernel shares one variance over all inputs; the profile features need one
    prior variance per feature (the level, the shape and each deviation direction differ).
    """

    is_stationary = False

    def __init__(self, num_dims: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.register_parameter("raw_variance", torch.nn.Parameter(torch.zeros(num_dims)))
        self.register_constraint("raw_variance", Positive())

    @property
    def variance(self) -> torch.Tensor:
        return self.raw_variance_constraint.transform(self.raw_variance)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: object
    ) -> torch.Tensor:
        scale = self.variance.sqrt()
        a, b = x1 * scale, x2 * scale
        if diag:
            return (a * b).sum(-1)
        return a @ b.transpose(-1, -2)
