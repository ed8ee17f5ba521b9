"""The :class:`SearchSpace` interface shared by every architecture space.

A search space turns user-supplied architectures (strings, block lists, raw vectors) into

* a canonical string, the one spelling the store and the model key measurements by, and
* an ``n x dim`` float64 feature matrix, the input of the architecture kernel.

Subclasses implement three small hooks: ``_key`` (validate one architecture and return a
hashable parsed form), ``_format`` (parsed form -> canonical string) and ``_encode_keys``
(parsed forms -> feature rows). The public methods here add the per-item error context.
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeGuard, TypeVar

import numpy as np
import torch

from gp.errors import InvalidArchitectureError


class _OrderedKey(Hashable, Protocol):
    """A parsed architecture: hashable, and ordered (an index, a tuple of indices or values)."""

    def __lt__(self, other: Any, /) -> bool: ...


KeyT = TypeVar("KeyT", bound=_OrderedKey)

#: What callers may pass as one architecture: a string, or a sequence (list, tuple, 1-D array).
ArchLike = str | Sequence[Any] | np.ndarray | torch.Tensor


def is_whole_number(value: object) -> TypeGuard[int | np.integer]:
    """An integer, Python's or numpy's, and not a bool that would pass for 0 or 1."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real_number(value: object) -> TypeGuard[float | int | np.floating | np.integer]:
    """A real number, Python's or numpy's, and not a bool that would pass for 0 or 1."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def shown_index(index: int | np.integer) -> str:
    """A whole number as an error message shows it: one beyond 64 bits by its size, since
    Python will not print one of over 4,300 digits (a bare ValueError; a review,
    2026-12-06)."""
    if int(index).bit_length() > 64:
        return f"of {int(index).bit_length()} bits"
    return str(int(index))


def array_items(arch: np.ndarray | torch.Tensor, what: str) -> list[Any]:
    """The items of a 1-D array; an array of another shape is an error saying it should be a
    1-D array of ``what``."""
    if arch.ndim != 1:
        raise InvalidArchitectureError(
            f"expected a 1-D array of {what}, got shape {tuple(arch.shape)}"
        )
    return arch.tolist()


class SearchSpace(abc.ABC, Generic[KeyT]):
    """An architecture search space: validation, canonical form and feature encoding.

    Attributes:
        name: The registry name of the space (``get_space(name)`` returns it).
    """

    name: ClassVar[str]
    #: The encoding column holding an arch's analytic work (MFLOPs), None where the space has
    #: none (caller vectors). A model without source devices takes it as its baseline.
    work_feature: ClassVar[str | None] = None
    #: The encoding column that counts (more or less exactly) the layers an arch skips or runs,
    #: None where the space has none. Each layer run costs an overhead of its own on a CPU,
    #: beside its work; a model without source devices learns that cost as a direction of its
    #: own.
    layer_count_feature: ClassVar[str | None] = None

    @property
    def typical_work(self) -> float | None:
        """The median work of the space's archs (None without ``work_feature``)."""
        return None

    @property
    def layer_count_spread(self) -> tuple[float, float] | None:
        """Mean and sd of ``layer_count_feature`` over the space's archs (None without it)."""
        return None

    @property
    @abc.abstractmethod
    def feature_names(self) -> list[str]:
        """Names of the encoding's columns, in order (length ``dim``)."""

    @property
    def dim(self) -> int:
        """Number of features per architecture (the width of :meth:`encode`'s output)."""
        return len(self.feature_names)

    def canonical(self, arch: ArchLike) -> str:
        """Validate one architecture and return its canonical string form.

        Args:
            arch: The architecture in any form the space accepts.

        Returns:
            The canonical string; ``canonical(canonical(a)) == canonical(a)``.

        Raises:
            InvalidArchitectureError: If ``arch`` is malformed; the message names the problem.
        """
        return self._format(self._checked_key(arch))

    def canonicalize(self, archs: Sequence[ArchLike]) -> list[str]:
        """Validate many architectures and return their canonical strings.

        Args:
            archs: ``n`` architectures.

        Returns:
            ``n`` canonical strings, in input order.

        Raises:
            InvalidArchitectureError: On the first malformed item; the message starts with
                ``"arch <i>: "`` (0-based position in ``archs``).
        """
        return [self._format(key) for key in self._keys(archs)]

    def distinct_in_order(self, archs: Sequence[ArchLike]) -> list[str]:
        """The distinct canonical strings of ``archs`` in the space's order (of their parsed
        forms: NB201's index, FBNet's block indices, a vector's values): the same set in any
        order comes out the same, and a vector's order survives a feature's rescaling.

        Raises:
            InvalidArchitectureError: as :meth:`canonicalize`.
        """
        return [self._format(key) for key in sorted(set(self._keys(archs)))]

    def encode(self, archs: Sequence[ArchLike]) -> torch.Tensor:
        """Validate and encode architectures as a feature matrix.

        Args:
            archs: ``n`` architectures (not a single bare architecture).

        Returns:
            An ``n x dim`` float64 tensor; row ``i`` encodes ``archs[i]``.

        Raises:
            InvalidArchitectureError: On the first malformed item; the message starts with
                ``"arch <i>: "`` (0-based position in ``archs``).
        """
        keys = self._keys(archs)
        if not keys:
            return torch.zeros(0, self.dim, dtype=torch.float64)
        rows = np.ascontiguousarray(self._encode_keys(keys), dtype=np.float64)
        return torch.from_numpy(rows)

    def _keys(self, archs: Sequence[ArchLike]) -> list[KeyT]:
        """Parse every item, prefixing any error with the item's position."""
        if isinstance(archs, str | bytes | bytearray | memoryview):
            # Iterating a string would report a confusing error about its first character.
            raise InvalidArchitectureError(
                f"expected a sequence of architectures, got a single {type(archs).__name__};"
                " wrap it in a list"
            )
        if not isinstance(archs, Iterable):
            raise InvalidArchitectureError(
                f"expected a sequence of architectures, got {type(archs).__name__}"
            )
        keys = []
        for i, arch in enumerate(archs):
            try:
                keys.append(self._checked_key(arch))
            except InvalidArchitectureError as exc:
                raise InvalidArchitectureError(f"arch {i}: {exc}") from None
        return keys

    def _checked_key(self, arch: ArchLike) -> KeyT:
        """:meth:`_key`, refusing bytes: read as a sequence of small numbers, undecoded text
        became a valid arch (b"12" the vector 49.0,50.0; a review, 2026-12-07)."""
        if isinstance(arch, bytes | bytearray | memoryview):
            raise InvalidArchitectureError(
                f"an arch is text or a sequence of numbers, got {type(arch).__name__}: decode it"
                " first"
            )
        return self._key(arch)

    @abc.abstractmethod
    def _key(self, arch: ArchLike) -> KeyT:
        """Validate one architecture and return its parsed, hashable form.

        Raises:
            InvalidArchitectureError: If ``arch`` is malformed.
        """

    @abc.abstractmethod
    def _format(self, key: KeyT) -> str:
        """Return the canonical string of a parsed architecture."""

    @abc.abstractmethod
    def _encode_keys(self, keys: Sequence[KeyT]) -> np.ndarray:
        """Return the ``n x dim`` float64 features of ``n`` parsed architectures."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        # Every space's features are fixed by its class and width.
        return (
            isinstance(other, SearchSpace) and type(other) is type(self) and other.dim == self.dim
        )

    def __hash__(self) -> int:
        return hash((type(self), self.dim))
