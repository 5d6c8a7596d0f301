from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeleteRequest(_message.Message):
    __slots__ = ["backend", "force", "name", "team_id", "team_settings", "virtual_key"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_KEY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    force: bool
    name: str
    team_id: str
    team_settings: _struct_pb2.Struct
    virtual_key: bool
    def __init__(self, name: _Optional[str] = ..., team_id: _Optional[str] = ..., virtual_key: bool = ..., force: bool = ..., team_settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., backend: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ["name", "recoverable"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECOVERABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    recoverable: bool
    def __init__(self, name: _Optional[str] = ..., recoverable: bool = ...) -> None: ...

class GetTeamSettingsRequest(_message.Message):
    __slots__ = ["team_id"]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    def __init__(self, team_id: _Optional[str] = ...) -> None: ...

class GetTeamSettingsResponse(_message.Message):
    __slots__ = ["configured", "settings", "team_id", "updated_at"]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    configured: bool
    settings: _struct_pb2.Struct
    team_id: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, team_id: _Optional[str] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., configured: bool = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HostedKey(_message.Message):
    __slots__ = ["backend", "error", "fetched_at", "from_cache", "name", "resolves", "source", "stale", "version"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FETCHED_AT_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLVES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    backend: str
    error: ItemError
    fetched_at: _timestamp_pb2.Timestamp
    from_cache: bool
    name: str
    resolves: bool
    source: str
    stale: bool
    version: str
    def __init__(self, name: _Optional[str] = ..., resolves: bool = ..., source: _Optional[str] = ..., version: _Optional[str] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., backend: _Optional[str] = ..., fetched_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., stale: bool = ..., from_cache: bool = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ["code", "message", "reason", "status"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    reason: str
    status: str
    def __init__(self, code: _Optional[int] = ..., status: _Optional[str] = ..., message: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListHostedRequest(_message.Message):
    __slots__ = ["backend", "team_id"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    backend: str
    team_id: str
    def __init__(self, team_id: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...

class ListHostedResponse(_message.Message):
    __slots__ = ["keys"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[HostedKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[HostedKey, _Mapping]]] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ["backend", "bypass_cache", "names", "refresh_if_version", "team_id", "team_settings", "virtual_key"]
    class RefreshIfVersionEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    REFRESH_IF_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_KEY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    bypass_cache: bool
    names: _containers.RepeatedScalarFieldContainer[str]
    refresh_if_version: _containers.ScalarMap[str, str]
    team_id: str
    team_settings: _struct_pb2.Struct
    virtual_key: bool
    def __init__(self, names: _Optional[_Iterable[str]] = ..., team_id: _Optional[str] = ..., bypass_cache: bool = ..., refresh_if_version: _Optional[_Mapping[str, str]] = ..., virtual_key: bool = ..., team_settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., backend: _Optional[str] = ...) -> None: ...

class ReadResponse(_message.Message):
    __slots__ = ["results"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SecretResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SecretResult, _Mapping]]] = ...) -> None: ...

class RotateRequest(_message.Message):
    __slots__ = ["backend", "current_name", "new_name", "team_id", "team_settings", "value", "virtual_key"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CURRENT_NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_KEY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    current_name: str
    new_name: str
    team_id: str
    team_settings: _struct_pb2.Struct
    value: str
    virtual_key: bool
    def __init__(self, current_name: _Optional[str] = ..., new_name: _Optional[str] = ..., value: _Optional[str] = ..., team_id: _Optional[str] = ..., virtual_key: bool = ..., team_settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., backend: _Optional[str] = ...) -> None: ...

class RotateResponse(_message.Message):
    __slots__ = ["name", "old_deleted", "version"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OLD_DELETED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    old_deleted: bool
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., old_deleted: bool = ...) -> None: ...

class SecretResult(_message.Message):
    __slots__ = ["binary_value", "error", "fallback", "fetched_at", "found", "from_cache", "name", "resolved_name", "source", "stale", "value", "version"]
    BINARY_VALUE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FETCHED_AT_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    binary_value: bytes
    error: ItemError
    fallback: bool
    fetched_at: _timestamp_pb2.Timestamp
    found: bool
    from_cache: bool
    name: str
    resolved_name: str
    source: str
    stale: bool
    value: str
    version: str
    def __init__(self, name: _Optional[str] = ..., found: bool = ..., value: _Optional[str] = ..., binary_value: _Optional[bytes] = ..., source: _Optional[str] = ..., version: _Optional[str] = ..., fetched_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., from_cache: bool = ..., stale: bool = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., resolved_name: _Optional[str] = ..., fallback: bool = ...) -> None: ...

class SetTeamSettingsRequest(_message.Message):
    __slots__ = ["settings", "team_id"]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    settings: _struct_pb2.Struct
    team_id: str
    def __init__(self, team_id: _Optional[str] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SetTeamSettingsResponse(_message.Message):
    __slots__ = ["configured", "settings", "team_id"]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    configured: bool
    settings: _struct_pb2.Struct
    team_id: str
    def __init__(self, team_id: _Optional[str] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., configured: bool = ...) -> None: ...

class WriteRequest(_message.Message):
    __slots__ = ["backend", "binary_value", "description", "name", "tags", "team_id", "team_settings", "value", "virtual_key"]
    class TagsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    BINARY_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_KEY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    binary_value: bytes
    description: str
    name: str
    tags: _containers.ScalarMap[str, str]
    team_id: str
    team_settings: _struct_pb2.Struct
    value: str
    virtual_key: bool
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., binary_value: _Optional[bytes] = ..., team_id: _Optional[str] = ..., virtual_key: bool = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., team_settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., backend: _Optional[str] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ["name", "source", "version", "warnings"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    version: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., source: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...
