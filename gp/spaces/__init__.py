"""Architecture search spaces: validation, canonical strings and feature encodings.

Use :func:`get_space` to obtain a space by the name the API carries::

    space = get_space("nasbench201")
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    features = space.encode([arch])  # 1 x space.dim, float64
"""

from __future__ import annotations

from gp.errors import GPInputError, UnknownSearchSpaceError
from gp.spaces.base import ArchLike, SearchSpace
from gp.spaces.fbnet import FBNetSpace
from gp.spaces.nasbench201 import NASBench201Space
from gp.spaces.vector import VectorSpace

#: Names :func:`get_space` accepts.
SPACE_NAMES: tuple[str, ...] = (NASBench201Space.name, FBNetSpace.name, VectorSpace.name)


def get_space(name: str, vector_dim: int | None = None) -> SearchSpace:
    """Return the search space called ``name``.

    Args:
        name: One of :data:`SPACE_NAMES` (case-insensitive): ``"nasbench201"``, ``"fbnet"``
            or ``"vector"``.
        vector_dim: Vector length; required for ``"vector"``, must be ``None`` otherwise.

    Returns:
        A new space instance (spaces are stateless apart from the vector length).

    Raises:
        UnknownSearchSpaceError: If ``name`` is not a known space.
        GPInputError: If ``vector_dim`` is missing for ``"vector"``, given for another
            space, or not a positive int.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key == VectorSpace.name:
        if vector_dim is None:
            raise GPInputError("search space 'vector' needs vector_dim (a positive int)")
        return VectorSpace(vector_dim)
    if key not in SPACE_NAMES:
        raise UnknownSearchSpaceError(
            f"unknown search space {name!r}; expected one of {', '.join(SPACE_NAMES)}"
        )
    if vector_dim is not None:
        raise GPInputError(f"vector_dim applies only to the 'vector' space, not {key!r}")
    return NASBench201Space() if key == NASBench201Space.name else FBNetSpace()


__all__ = [
    "SPACE_NAMES",
    "ArchLike",
    "FBNetSpace",
    "NASBench201Space",
    "SearchSpace",
    "VectorSpace",
    "get_space",
]
