"""The ARD linear kernel against its formula."""

from __future__ import annotations

import torch

from gp.kernels import ARDLinearKernel


def test_the_ard_linear_kernel_is_a_sum_of_products_weighted_by_each_input_s_variance() -> None:
    """``k(x, x') = sum_i v_i x_i x'_i``, its diagonal too where x and x' differ."""
    kernel = ARDLinearKernel(3)
    variance = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    with torch.no_grad():
        kernel.raw_variance.copy_(kernel.raw_variance_constraint.inverse_transform(variance))
    kernel = kernel.double()
    x1 = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]], dtype=torch.float64)
    x2 = torch.tensor([[2.0, 1.0, -1.0], [5.0, 0.5, 2.0]], dtype=torch.float64)
    expected = torch.einsum("ni,mi,i->nm", x1, x2, variance)
    torch.testing.assert_close(kernel.forward(x1, x2), expected)
    torch.testing.assert_close(kernel.forward(x1, x2, diag=True), expected.diagonal())
