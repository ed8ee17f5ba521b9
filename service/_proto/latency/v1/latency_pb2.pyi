from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Architecture(_message.Message):
    __slots__ = ("search_space", "arch", "features")
    SEARCH_SPACE_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    search_space: str
    arch: str
    features: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, search_space: _Optional[str] = ..., arch: _Optional[str] = ..., features: _Optional[_Iterable[float]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("device", "archs")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ARCHS_FIELD_NUMBER: _ClassVar[int]
    device: str
    archs: _containers.RepeatedCompositeFieldContainer[Architecture]
    def __init__(self, device: _Optional[str] = ..., archs: _Optional[_Iterable[_Union[Architecture, _Mapping]]] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("mean_ms", "variance_ms2", "lower_ms", "upper_ms")
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_MS2_FIELD_NUMBER: _ClassVar[int]
    LOWER_MS_FIELD_NUMBER: _ClassVar[int]
    UPPER_MS_FIELD_NUMBER: _ClassVar[int]
    mean_ms: float
    variance_ms2: float
    lower_ms: float
    upper_ms: float
    def __init__(self, mean_ms: _Optional[float] = ..., variance_ms2: _Optional[float] = ..., lower_ms: _Optional[float] = ..., upper_ms: _Optional[float] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("predictions", "model_version", "warnings")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    model_version: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., model_version: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class SuggestSamplesRequest(_message.Message):
    __slots__ = ("device", "count", "search_space", "candidates", "strategy", "seed")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SEARCH_SPACE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    device: str
    count: int
    search_space: str
    candidates: _containers.RepeatedCompositeFieldContainer[Architecture]
    strategy: str
    seed: int
    def __init__(self, device: _Optional[str] = ..., count: _Optional[int] = ..., search_space: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[Architecture, _Mapping]]] = ..., strategy: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("arch", "mean_ms", "variance_ms2")
    ARCH_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_MS2_FIELD_NUMBER: _ClassVar[int]
    arch: Architecture
    mean_ms: float
    variance_ms2: float
    def __init__(self, arch: _Optional[_Union[Architecture, _Mapping]] = ..., mean_ms: _Optional[float] = ..., variance_ms2: _Optional[float] = ...) -> None: ...

class SuggestSamplesResponse(_message.Message):
    __slots__ = ("suggestions", "model_version", "warnings")
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    model_version: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ..., model_version: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class Measurement(_message.Message):
    __slots__ = ("arch", "latency_ms")
    ARCH_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    arch: Architecture
    latency_ms: float
    def __init__(self, arch: _Optional[_Union[Architecture, _Mapping]] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class AddMeasurementsRequest(_message.Message):
    __slots__ = ("device", "measurements", "request_id")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    device: str
    measurements: _containers.RepeatedCompositeFieldContainer[Measurement]
    request_id: str
    def __init__(self, device: _Optional[str] = ..., measurements: _Optional[_Iterable[_Union[Measurement, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddMeasurementsResponse(_message.Message):
    __slots__ = ("accepted", "device_total", "model_version", "surprising", "surprising_before", "warnings")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SURPRISING_FIELD_NUMBER: _ClassVar[int]
    SURPRISING_BEFORE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    device_total: int
    model_version: str
    surprising: _containers.RepeatedCompositeFieldContainer[SurprisingMeasurement]
    surprising_before: _containers.RepeatedCompositeFieldContainer[SurprisingMeasurement]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, accepted: _Optional[int] = ..., device_total: _Optional[int] = ..., model_version: _Optional[str] = ..., surprising: _Optional[_Iterable[_Union[SurprisingMeasurement, _Mapping]]] = ..., surprising_before: _Optional[_Iterable[_Union[SurprisingMeasurement, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class SurprisingMeasurement(_message.Message):
    __slots__ = ("arch", "latency_ms", "expected_ms", "lower_ms", "upper_ms", "p_value")
    ARCH_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MS_FIELD_NUMBER: _ClassVar[int]
    LOWER_MS_FIELD_NUMBER: _ClassVar[int]
    UPPER_MS_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    arch: Architecture
    latency_ms: float
    expected_ms: float
    lower_ms: float
    upper_ms: float
    p_value: float
    def __init__(self, arch: _Optional[_Union[Architecture, _Mapping]] = ..., latency_ms: _Optional[float] = ..., expected_ms: _Optional[float] = ..., lower_ms: _Optional[float] = ..., upper_ms: _Optional[float] = ..., p_value: _Optional[float] = ...) -> None: ...

class DeleteMeasurementsRequest(_message.Message):
    __slots__ = ("device", "archs", "request_id", "measurements")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ARCHS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    device: str
    archs: _containers.RepeatedCompositeFieldContainer[Architecture]
    request_id: str
    measurements: _containers.RepeatedCompositeFieldContainer[Measurement]
    def __init__(self, device: _Optional[str] = ..., archs: _Optional[_Iterable[_Union[Architecture, _Mapping]]] = ..., request_id: _Optional[str] = ..., measurements: _Optional[_Iterable[_Union[Measurement, _Mapping]]] = ...) -> None: ...

class DeleteMeasurementsResponse(_message.Message):
    __slots__ = ("deleted", "device_total", "model_version", "source_table_incomplete", "unmatched_archs", "unmatched_measurements")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TABLE_INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_ARCHS_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    device_total: int
    model_version: str
    source_table_incomplete: bool
    unmatched_archs: _containers.RepeatedScalarFieldContainer[int]
    unmatched_measurements: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, deleted: _Optional[int] = ..., device_total: _Optional[int] = ..., model_version: _Optional[str] = ..., source_table_incomplete: _Optional[bool] = ..., unmatched_archs: _Optional[_Iterable[int]] = ..., unmatched_measurements: _Optional[_Iterable[int]] = ...) -> None: ...

class RegisterDeviceRequest(_message.Message):
    __slots__ = ("name", "aliases", "descriptor", "description")
    class DescriptorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    descriptor: _containers.ScalarMap[str, float]
    description: str
    def __init__(self, name: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., descriptor: _Optional[_Mapping[str, float]] = ..., description: _Optional[str] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("name", "aliases", "descriptor", "description", "measurement_count", "source")
    class DescriptorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    descriptor: _containers.ScalarMap[str, float]
    description: str
    measurement_count: int
    source: bool
    def __init__(self, name: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., descriptor: _Optional[_Mapping[str, float]] = ..., description: _Optional[str] = ..., measurement_count: _Optional[int] = ..., source: _Optional[bool] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices", "next_page_token")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    next_page_token: str
    def __init__(self, devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDeviceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListMeasurementsRequest(_message.Message):
    __slots__ = ("device", "search_space", "page_size", "page_token")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SEARCH_SPACE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    device: str
    search_space: str
    page_size: int
    page_token: str
    def __init__(self, device: _Optional[str] = ..., search_space: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMeasurementsResponse(_message.Message):
    __slots__ = ("measurements", "next_page_token")
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    measurements: _containers.RepeatedCompositeFieldContainer[Measurement]
    next_page_token: str
    def __init__(self, measurements: _Optional[_Iterable[_Union[Measurement, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
