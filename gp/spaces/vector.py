"""A generic space of fixed-length real vectors, for search spaces we do not model.

Callers bring their own encoding (``dim`` floats per architecture); the vector is used as
the feature row unchanged.

Canonical form: the values as Python floats, each written with :func:`repr` (the shortest
string that round-trips exactly) and joined by ``","`` without spaces, e.g.
``"0.5,1.0,-3e-05"``. Such a string is itself accepted, so canonical forms are stable:
``canonical(canonical(v)) == canonical(v)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from gp.errors import GPInputError, InvalidArchitectureError
from gp.spaces.base import ArchLike, SearchSpace, array_items, is_real_number, is_whole_number

#: Largest magnitude of a vector element. Encodings are counts, sizes and FLOPs; beyond this a
#: value is a unit error, and around 1e150 the kernel's squared distances overflow and every
#: later posterior of the device fails.
MAX_MAGNITUDE = 1e12
VALUE_RULE = f"values must be finite and at most {MAX_MAGNITUDE:g} in magnitude"
#: An element written as text: ASCII digits, a point, an exponent (inf and nan are read, and
#: refused by VALUE_RULE). The client reads text by the same grammar (``client.grammar``).
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf(inity)?|nan)", re.I | re.A)


def _value(position: int, item: object, bound: float, rule: str) -> float:
    """One element as a finite float of magnitude at most ``bound`` (else ``rule`` says why)."""
    where = f"element {position}"
    if isinstance(item, str):
        # float() reads more than a client in another language writes: "1_0" as 10, Arabic-
        # Indic or full-width digits (a review, 2026-12-06).
        if not DECIMAL.fullmatch(item.strip()):
            raise InvalidArchitectureError(f"{where}: cannot parse {item!r} as a decimal number")
        value = float(item.strip())  # float() refuses separators strip() drops ("\x1c")
    elif is_real_number(item):
        try:
            value = float(item)
        except OverflowError:  # an int or Fraction beyond any float, as 10**400
            raise InvalidArchitectureError(f"{where} is beyond any float; {rule}") from None
    else:
        raise InvalidArchitectureError(
            f"{where}: expected a real number, got {type(item).__name__} {item!r}"
        )
    if not (math.isfinite(value) and abs(value) <= bound):
        raise InvalidArchitectureError(f"{where} is {value}; {rule}")
    # -0.0 + 0.0 is 0.0: the vector has one canonical string however its zeros are signed.
    return value + 0.0


def _is_real(matrix: np.ndarray | torch.Tensor) -> bool:
    """Whether ``matrix`` holds ints or floats: what the fast path may convert to float64
    (torch would also take bools as 0/1 and drop an imaginary part)."""
    if isinstance(matrix, torch.Tensor):
        return not (matrix.is_complex() or matrix.dtype == torch.bool)
    return matrix.dtype.kind in "iuf"


class VectorSpace(SearchSpace[tuple[float, ...]]):
    """Architectures given directly as ``dim``-dimensional real vectors.

    Accepts a sequence of ``dim`` numbers, a 1-D numpy array or tensor of length ``dim``,
    or a comma-separated string of ``dim`` numbers. :meth:`encode` also takes an
    ``n x dim`` array or tensor directly.

    Args:
        dim: Length of every vector (at least 1).

    Raises:
        GPInputError: If ``dim`` is not a positive int.
    """

    name = "vector"
    #: The largest magnitude of an element, and the rule as errors state it (a space that only
    #: names archs stored before the bound may lift it).
    max_magnitude: float = MAX_MAGNITUDE
    value_rule: str = VALUE_RULE

    def __init__(self, dim: int) -> None:
        if not is_whole_number(dim) or dim < 1:
            raise GPInputError(f"vector space dim must be a positive int, got {dim!r}")
        self._dim = int(dim)

    @property
    def feature_names(self) -> list[str]:
        """``x0``, ``x1``, ... ``x<dim-1>``."""
        return [f"x{i}" for i in range(self._dim)]

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def _values(self) -> str:
        """The count of values an arch holds, in words: "1 value" in a space of one feature."""
        return f"{self._dim} value" if self._dim == 1 else f"{self._dim} values"

    def encode(self, archs: Sequence[ArchLike] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Validate and stack vectors into an ``n x dim`` float64 tensor.

        Args:
            archs: ``n`` vectors, or an ``n x dim`` array or tensor (validated in one pass).

        Raises:
            InvalidArchitectureError: If a vector has the wrong length or a non-finite or
                non-numeric element; the message starts with ``"arch <i>: "``.
        """
        if isinstance(archs, np.ndarray | torch.Tensor) and archs.ndim == 2 and _is_real(archs):
            return self._encode_matrix(archs)
        # Row by row, strings are parsed and bools and complex numbers refused, as in a list
        # (an array's rows are its items).
        return super().encode(cast(Sequence[ArchLike], archs))

    def _encode_matrix(self, matrix: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Fast path for a ready-made ``n x dim`` matrix."""
        # numpy's as float64 first: torch takes no negative strides (a flipped matrix) nor
        # longdouble, which rows one by one took (a review, 2026-12-06).
        if isinstance(matrix, np.ndarray):
            matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        rows = torch.as_tensor(matrix).detach().to(device="cpu", dtype=torch.float64)
        if rows.shape[1] != self._dim:
            raise InvalidArchitectureError(
                f"expected {self._values} per arch, got a matrix of shape {tuple(rows.shape)}"
            )
        bad = (~(torch.isfinite(rows) & (rows.abs() <= self.max_magnitude))).nonzero()
        if len(bad):
            i, j = bad[0].tolist()
            raise InvalidArchitectureError(
                f"arch {i}: element {j} is {rows[i, j].item()}; {self.value_rule}"
            )
        return rows.clone()

    def _key(self, arch: ArchLike) -> tuple[float, ...]:
        if isinstance(arch, str):
            items: list[object] = list(arch.split(",")) if arch.strip() else []
        elif isinstance(arch, np.ndarray | torch.Tensor):
            items = array_items(arch, self._values)
        elif isinstance(arch, Sequence):
            items = list(arch)
        else:
            raise InvalidArchitectureError(
                f"expected a sequence of {self._values}, got {type(arch).__name__}"
            )
        if len(items) != self._dim:
            raise InvalidArchitectureError(f"expected {self._values}, got {len(items)}")
        return tuple(
            _value(position, item, self.max_magnitude, self.value_rule)
            for position, item in enumerate(items)
        )

    def _format(self, key: tuple[float, ...]) -> str:
        return ",".join(repr(value) for value in key)

    def _encode_keys(self, keys: Sequence[tuple[float, ...]]) -> np.ndarray:
        return np.array(keys, dtype=np.float64)

    def __repr__(self) -> str:
        return f"VectorSpace(dim={self._dim})"
