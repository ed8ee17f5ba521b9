"""Architecture messages parsed as the contract says: vectors by their features, errors named."""

from __future__ import annotations

import pytest

from service._proto.latency.v1 import latency_pb2 as pb
from service.archs import ENDED_CHECK_EVERY, MAX_VECTOR_FEATURES, ArchParser
from service.errors import CallEndedError, InvalidRequestError


def vector(arch: str = "", features: tuple[float, ...] = ()) -> pb.Architecture:
    return pb.Architecture(search_space="vector", arch=arch, features=features)


def test_a_vector_with_both_features_and_arch_is_read_from_its_features() -> None:
    """The .proto: "when both are set, features are used"."""
    parsed = ArchParser().parse_one(vector(arch="9,9,9", features=(1.0, 2.0)))
    assert (parsed.canonical, parsed.space.dim) == ("1.0,2.0", 2)


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_first_vector_is_named_as_having_no_feature(blank: str) -> None:
    """As the SuggestSamples candidates check does: a blank counted as one feature was refused
    as "expected 1 values, got 0", a length it had fixed itself."""
    with pytest.raises(InvalidRequestError) as refused:
        ArchParser().parse([vector(arch=blank)])
    assert str(refused.value) == "arch 0: a vector arch needs at least one feature"


@pytest.mark.parametrize("features", [(1.0,), (1.0, 2.0, 3.0, 4.0)])
def test_a_vector_of_another_length_than_the_first_names_the_first_one(
    features: tuple[float, ...],
) -> None:
    """Shorter and longer alike: the first vector fixed the length, not the space."""
    with pytest.raises(InvalidRequestError) as refused:
        ArchParser("measurement").parse(
            [vector(features=(1.0, 2.0, 3.0)), vector(features=features)]
        )
    assert str(refused.value) == (
        "measurement 1: expected 3 features (the length of the request's first vector),"
        f" got {len(features)}"
    )


@pytest.mark.parametrize("spelled", ["features", "arch"])
def test_a_vector_longer_than_any_encoding_is_refused_before_it_is_read(spelled: str) -> None:
    """One of 4 million features took 26 s and 1 GB to canonicalise, past its deadline."""
    values = (0.5,) * (MAX_VECTOR_FEATURES + 1)
    given = {"features": values} if spelled == "features" else {"arch": ",".join(map(str, values))}
    with pytest.raises(InvalidRequestError) as refused:
        ArchParser().parse([vector(**given)])
    assert str(refused.value) == "arch 0: a vector arch has at most 10,000 features, got 10,001"
    longest = ArchParser().parse_one(vector(features=values[1:]))
    assert longest.space.dim == MAX_VECTOR_FEATURES


def test_reading_stops_once_the_call_has_ended() -> None:
    """830 vectors of 10,000 features took 14 s to read, past the caller's deadline. It is
    first asked at the ENDED_CHECK_EVERY-th arch, not before the first: a short request is
    read at once (a cancelled upload ended reading its one measurement instead of waiting for
    its device, which the test of that wait names)."""
    read: list[int] = []
    parser = ArchParser(ended=lambda: True)
    parse_one = parser.parse_one

    def counted(message: pb.Architecture) -> object:
        read.append(1)
        return parse_one(message)

    parser.parse_one = counted  # type: ignore[method-assign]
    messages = [vector(features=(1.0, 2.0))] * (3 * ENDED_CHECK_EVERY)
    with pytest.raises(CallEndedError, match="^the call ended while its archs were read"):
        parser.parse(messages)
    assert len(read) == ENDED_CHECK_EVERY  # asked first there, not at each arch nor before
    assert len(ArchParser(ended=lambda: True).parse(messages[:3])) == 3
