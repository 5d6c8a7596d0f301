from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EXISTING_METADATA_NOT_KEPT: ExistingMetadata
EXISTING_METADATA_REFUSED: ExistingMetadata
EXISTING_METADATA_REWRITTEN: ExistingMetadata
EXISTING_METADATA_UNSPECIFIED: ExistingMetadata
EXISTING_METADATA_UPDATED: ExistingMetadata
MIGRATION_OUTCOME_COPIED: MigrationOutcome
MIGRATION_OUTCOME_UNCHANGED: MigrationOutcome
MIGRATION_OUTCOME_UNSPECIFIED: MigrationOutcome
MIGRATION_OUTCOME_WOULD_COPY: MigrationOutcome

class AuditRecord(_message.Message):
    __slots__ = ["identity", "json", "method", "names", "outcome", "team_id", "time"]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    identity: str
    json: str
    method: str
    names: _containers.RepeatedScalarFieldContainer[str]
    outcome: str
    team_id: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., identity: _Optional[str] = ..., method: _Optional[str] = ..., outcome: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., team_id: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class BackendCapabilities(_message.Message):
    __slots__ = ["binary", "list", "write"]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    binary: bool
    list: bool
    write: bool
    def __init__(self, write: bool = ..., binary: bool = ..., list: bool = ...) -> None: ...

class BackendDescription(_message.Message):
    __slots__ = ["access_mode", "breaker_state", "cache_entries", "capabilities", "is_default", "name", "reachable", "system", "team_settings_schema"]
    ACCESS_MODE_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    TEAM_SETTINGS_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    access_mode: str
    breaker_state: str
    cache_entries: int
    capabilities: BackendCapabilities
    is_default: bool
    name: str
    reachable: bool
    system: str
    team_settings_schema: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., system: _Optional[str] = ..., capabilities: _Optional[_Union[BackendCapabilities, _Mapping]] = ..., access_mode: _Optional[str] = ..., is_default: bool = ..., reachable: bool = ..., breaker_state: _Optional[str] = ..., cache_entries: _Optional[int] = ..., team_settings_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class BackendStats(_message.Message):
    __slots__ = ["cache_hits", "cache_misses", "calls", "calls_series", "errors", "errors_series", "name", "p50_ms", "p99_ms"]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CALLS_SERIES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_SERIES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    cache_hits: int
    cache_misses: int
    calls: int
    calls_series: _containers.RepeatedScalarFieldContainer[int]
    errors: int
    errors_series: _containers.RepeatedScalarFieldContainer[int]
    name: str
    p50_ms: float
    p99_ms: float
    def __init__(self, name: _Optional[str] = ..., calls: _Optional[int] = ..., errors: _Optional[int] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., calls_series: _Optional[_Iterable[int]] = ..., errors_series: _Optional[_Iterable[int]] = ...) -> None: ...

class Caller(_message.Message):
    __slots__ = ["admin", "backends", "certificate", "delete", "inline_team_settings", "kind", "name", "read", "teams", "write"]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    INLINE_TEAM_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    admin: bool
    backends: _containers.RepeatedScalarFieldContainer[str]
    certificate: str
    delete: _containers.RepeatedScalarFieldContainer[str]
    inline_team_settings: bool
    kind: str
    name: str
    read: _containers.RepeatedScalarFieldContainer[str]
    teams: _containers.RepeatedScalarFieldContainer[str]
    write: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., certificate: _Optional[str] = ..., read: _Optional[_Iterable[str]] = ..., write: _Optional[_Iterable[str]] = ..., delete: _Optional[_Iterable[str]] = ..., teams: _Optional[_Iterable[str]] = ..., backends: _Optional[_Iterable[str]] = ..., admin: bool = ..., inline_team_settings: bool = ...) -> None: ...

class DescribeBackendsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DescribeBackendsResponse(_message.Message):
    __slots__ = ["backends"]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendDescription]
    def __init__(self, backends: _Optional[_Iterable[_Union[BackendDescription, _Mapping]]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ["backends", "bucket_seconds", "window_seconds"]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendStats]
    bucket_seconds: int
    window_seconds: int
    def __init__(self, window_seconds: _Optional[int] = ..., bucket_seconds: _Optional[int] = ..., backends: _Optional[_Iterable[_Union[BackendStats, _Mapping]]] = ...) -> None: ...

class LeftOutName(_message.Message):
    __slots__ = ["name", "reason"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListCallersRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListCallersResponse(_message.Message):
    __slots__ = ["callers"]
    CALLERS_FIELD_NUMBER: _ClassVar[int]
    callers: _containers.RepeatedCompositeFieldContainer[Caller]
    def __init__(self, callers: _Optional[_Iterable[_Union[Caller, _Mapping]]] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ["next_page_token", "teams"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    teams: _containers.RepeatedCompositeFieldContainer[TeamSummary]
    def __init__(self, teams: _Optional[_Iterable[_Union[TeamSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MigrateSecretRequest(_message.Message):
    __slots__ = ["delete_source", "dry_run", "from_backend", "name", "to_backend"]
    DELETE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    FROM_BACKEND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TO_BACKEND_FIELD_NUMBER: _ClassVar[int]
    delete_source: bool
    dry_run: bool
    from_backend: str
    name: str
    to_backend: str
    def __init__(self, from_backend: _Optional[str] = ..., to_backend: _Optional[str] = ..., name: _Optional[str] = ..., dry_run: bool = ..., delete_source: bool = ...) -> None: ...

class MigrateSecretResponse(_message.Message):
    __slots__ = ["name", "not_kept", "outcome", "overwritten", "source_deleted", "version", "warnings"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOT_KEPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OVERWRITTEN_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DELETED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    not_kept: _containers.RepeatedScalarFieldContainer[str]
    outcome: MigrationOutcome
    overwritten: bool
    source_deleted: bool
    version: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., outcome: _Optional[_Union[MigrationOutcome, str]] = ..., overwritten: bool = ..., not_kept: _Optional[_Iterable[str]] = ..., source_deleted: bool = ..., version: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class PlanMigrationRequest(_message.Message):
    __slots__ = ["delete_source", "from_backend", "match", "to_backend"]
    DELETE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    FROM_BACKEND_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    TO_BACKEND_FIELD_NUMBER: _ClassVar[int]
    delete_source: bool
    from_backend: str
    match: _containers.RepeatedScalarFieldContainer[str]
    to_backend: str
    def __init__(self, from_backend: _Optional[str] = ..., to_backend: _Optional[str] = ..., match: _Optional[_Iterable[str]] = ..., delete_source: bool = ...) -> None: ...

class PlanMigrationResponse(_message.Message):
    __slots__ = ["existing_metadata", "left_out", "names"]
    EXISTING_METADATA_FIELD_NUMBER: _ClassVar[int]
    LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    existing_metadata: ExistingMetadata
    left_out: _containers.RepeatedCompositeFieldContainer[LeftOutName]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ..., left_out: _Optional[_Iterable[_Union[LeftOutName, _Mapping]]] = ..., existing_metadata: _Optional[_Union[ExistingMetadata, str]] = ...) -> None: ...

class TailAuditRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class TailAuditResponse(_message.Message):
    __slots__ = ["record"]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: AuditRecord
    def __init__(self, record: _Optional[_Union[AuditRecord, _Mapping]] = ...) -> None: ...

class TeamSummary(_message.Message):
    __slots__ = ["backend", "team_id", "updated_at"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    backend: str
    team_id: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, team_id: _Optional[str] = ..., backend: _Optional[str] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TestTeamSettingsRequest(_message.Message):
    __slots__ = ["settings", "team_id"]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    settings: _struct_pb2.Struct
    team_id: str
    def __init__(self, team_id: _Optional[str] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TestTeamSettingsResponse(_message.Message):
    __slots__ = ["backend", "message", "reachable", "status"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    message: str
    reachable: bool
    status: str
    def __init__(self, backend: _Optional[str] = ..., reachable: bool = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ["caller"]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ...) -> None: ...

class ExistingMetadata(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class MigrationOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
