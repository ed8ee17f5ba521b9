"""Architecture messages <-> ``gp`` search spaces and canonical strings.

Every error names the item's position in the request (``"arch 3: ..."``) so a caller can fix
exactly the offending entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from gp.errors import GPInputError
from gp.spaces import SearchSpace, VectorSpace, get_space
from service._proto.latency.v1 import latency_pb2 as pb
from service.errors import CallEndedError, InvalidRequestError
from service.names import vector_dim
from service.waiting import Ended, never

DEFAULT_SPACE = "nasbench201"
#: Most features of a vector arch: far above any encoding (FBNet's has 255), and one of 4
#: million took 26 s and 1 GB to canonicalise, past its caller's deadline (a review).
MAX_VECTOR_FEATURES = 10_000

#: How many archs are read between two looks at whether the call has ended.
ENDED_CHECK_EVERY = 256

#: (space name, vector dim or 0): how the store and the caches group measurements.
SpaceKey = tuple[str, int]


@dataclass(frozen=True)
class ParsedArch:
    """One validated architecture: its space and canonical string."""

    space: SearchSpace
    canonical: str

    @property
    def key(self) -> SpaceKey:
        return space_key(self.space)


@dataclass
class SpaceGroup:
    """The request positions and canonical archs that belong to one space."""

    space: SearchSpace
    positions: list[int] = field(default_factory=list)
    archs: list[str] = field(default_factory=list)


def space_key(space: SearchSpace) -> SpaceKey:
    """``(name, dim)`` for vector spaces, ``(name, 0)`` otherwise."""
    return (space.name, space.dim if isinstance(space, VectorSpace) else 0)


def space_name(given: str, default: str = DEFAULT_SPACE) -> str:
    """The space a request's ``search_space`` names: case and surrounding spaces ignored, and
    ``default`` where nothing else is left (the contract's empty name)."""
    return given.strip().lower() or default


class StoredVectorSpace(VectorSpace):
    """Vectors as a store may hold them: of any finite values, those stored before the space's
    bound on their magnitude too (the model leaves them out). Only to name stored archs by."""

    max_magnitude = math.inf
    value_rule = "values must be finite"


class ArchParser:
    """Parses the architectures of one request.

    Archs a model takes (Predict's, an upload's, candidates) are of one vector length per
    request, which the first vector fixes. Archs that only name stored measurements
    (``naming_stored``: a deletion's) may be vectors of several lengths, each its own space,
    and of values beyond today's bound, as older stores hold (:class:`StoredVectorSpace`).
    """

    def __init__(
        self,
        label: str = "arch",
        default_space: str = DEFAULT_SPACE,
        naming_stored: bool = False,
        ended: Ended = never,
    ) -> None:
        self.label = label
        #: Whether the call reading the archs has ended: a request of 830 vectors of 10,000
        #: features took 14 s to read, past its caller's deadline (a review, 2026-12-06).
        self.ended = ended
        self.default_space = space_name(default_space)
        self.naming_stored = naming_stored
        self._spaces: dict[str, SearchSpace] = {}
        self._vector_spaces: dict[int, VectorSpace] = {}
        self._vector_dim: int | None = None

    def space(self, name: str, dim: int | None = None) -> SearchSpace:
        """The space called ``name`` (``dim`` only for vectors), one instance per request."""
        key = space_name(name, self.default_space)
        if key == VectorSpace.name:
            return self._vectors(dim)
        if key not in self._spaces:
            self._spaces[key] = get_space(key)
        return self._spaces[key]

    def _vectors(self, dim: int | None) -> VectorSpace:
        """The vector space of length ``dim``, or of the request's first vector's length."""
        if self._vector_dim is None or self.naming_stored:
            if not dim:
                raise GPInputError("a vector arch needs at least one feature")
            if not self.naming_stored:
                self._vector_dim = dim
        else:
            dim = self._vector_dim
        if dim not in self._vector_spaces:
            kind = StoredVectorSpace if self.naming_stored else VectorSpace
            self._vector_spaces[dim] = kind(dim)
        return self._vector_spaces[dim]

    def parse_one(self, message: pb.Architecture) -> ParsedArch:
        """Validates one Architecture message (errors carry no position)."""
        name = space_name(message.search_space, self.default_space)
        if name == VectorSpace.name:
            features = message.features
            dim = len(features) if features else vector_dim(message.arch.strip())
            if dim > MAX_VECTOR_FEATURES:  # before a copy of it is made
                raise GPInputError(
                    f"a vector arch has at most {MAX_VECTOR_FEATURES:,} features, got {dim:,}"
                )
            values = list(features) if features else message.arch
            space = self.space(name, dim)
            if dim != space.dim:
                raise GPInputError(
                    f"expected {space.dim} features (the length of the request's first vector),"
                    f" got {dim}"
                )
            return ParsedArch(space, space.canonical(values))
        space = self.space(name)
        if message.features:
            raise GPInputError(f"features apply only to the 'vector' space, not {space.name!r}")
        return ParsedArch(space, space.canonical(message.arch))

    def parse(self, messages: Sequence[pb.Architecture]) -> list[ParsedArch]:
        """Validates every message; raises InvalidRequestError naming the first bad one."""
        return [self.parse_at(i, message) for i, message in enumerate(messages)]

    def parse_at(self, index: int, message: pb.Architecture) -> ParsedArch:
        """:meth:`parse_one`, with errors naming the item (``"<label> <index>: ..."``).

        Raises:
            CallEndedError: the call ended before the item (asked every ENDED_CHECK_EVERY,
                not before the first: a short request is read at once).
        """
        if index and index % ENDED_CHECK_EVERY == 0 and self.ended():
            raise CallEndedError(
                f"the call ended while its {self.label}s were read: nothing was done"
            )
        try:
            return self.parse_one(message)
        except GPInputError as exc:
            raise InvalidRequestError(f"{self.label} {index}: {exc}") from None


def group_by_space(parsed: Sequence[ParsedArch]) -> dict[SpaceKey, SpaceGroup]:
    """Groups parsed archs by space, remembering each one's request position."""
    groups: dict[SpaceKey, SpaceGroup] = {}
    for position, item in enumerate(parsed):
        group = groups.setdefault(item.key, SpaceGroup(item.space))
        group.positions.append(position)
        group.archs.append(item.canonical)
    return groups


def to_message(space: SearchSpace, canonical: str) -> pb.Architecture:
    """The Architecture message of a canonical arch (vectors also carry ``features``)."""
    message = pb.Architecture(search_space=space.name, arch=canonical)
    if isinstance(space, VectorSpace):
        message.features.extend(float(v) for v in canonical.split(","))
    return message
