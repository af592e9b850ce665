from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResultStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_STATUS_UNSPECIFIED: _ClassVar[ResultStatus]
    RESULT_STATUS_COMPLETED: _ClassVar[ResultStatus]
    RESULT_STATUS_FAILED: _ClassVar[ResultStatus]
    RESULT_STATUS_CANCELLED: _ClassVar[ResultStatus]

class ResultDisposition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_DISPOSITION_UNSPECIFIED: _ClassVar[ResultDisposition]
    RESULT_DISPOSITION_ACCEPTED: _ClassVar[ResultDisposition]
    RESULT_DISPOSITION_DUPLICATE: _ClassVar[ResultDisposition]
    RESULT_DISPOSITION_STALE: _ClassVar[ResultDisposition]
    RESULT_DISPOSITION_UNKNOWN_TASK: _ClassVar[ResultDisposition]
RESULT_STATUS_UNSPECIFIED: ResultStatus
RESULT_STATUS_COMPLETED: ResultStatus
RESULT_STATUS_FAILED: ResultStatus
RESULT_STATUS_CANCELLED: ResultStatus
RESULT_DISPOSITION_UNSPECIFIED: ResultDisposition
RESULT_DISPOSITION_ACCEPTED: ResultDisposition
RESULT_DISPOSITION_DUPLICATE: ResultDisposition
RESULT_DISPOSITION_STALE: ResultDisposition
RESULT_DISPOSITION_UNKNOWN_TASK: ResultDisposition

class RegisterWorkerRequest(_message.Message):
    __slots__ = ("worker_id", "name", "capabilities", "version", "metadata", "max_concurrency")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    name: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    version: str
    metadata: _containers.ScalarMap[str, str]
    max_concurrency: int
    def __init__(self, worker_id: _Optional[str] = ..., name: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., max_concurrency: _Optional[int] = ...) -> None: ...

class RegisterWorkerResponse(_message.Message):
    __slots__ = ("session_token", "heartbeat_interval_s", "lease_ttl_s", "server_version")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_S_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    heartbeat_interval_s: float
    lease_ttl_s: float
    server_version: str
    def __init__(self, session_token: _Optional[str] = ..., heartbeat_interval_s: _Optional[float] = ..., lease_ttl_s: _Optional[float] = ..., server_version: _Optional[str] = ...) -> None: ...

class WorkerStats(_message.Message):
    __slots__ = ("active_tasks", "completed_tasks", "failed_tasks", "cpu_percent", "memory_bytes", "uptime_s", "connection_status", "dependencies")
    class DependenciesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    FAILED_TASKS_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_STATUS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    active_tasks: int
    completed_tasks: int
    failed_tasks: int
    cpu_percent: float
    memory_bytes: int
    uptime_s: float
    connection_status: str
    dependencies: _containers.ScalarMap[str, str]
    def __init__(self, active_tasks: _Optional[int] = ..., completed_tasks: _Optional[int] = ..., failed_tasks: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., uptime_s: _Optional[float] = ..., connection_status: _Optional[str] = ..., dependencies: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WorkerHeartbeatRequest(_message.Message):
    __slots__ = ("session_token", "status", "stats", "capacity", "active_task_ids")
    class CapacityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    status: str
    stats: WorkerStats
    capacity: _containers.ScalarMap[str, int]
    active_task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_token: _Optional[str] = ..., status: _Optional[str] = ..., stats: _Optional[_Union[WorkerStats, _Mapping]] = ..., capacity: _Optional[_Mapping[str, int]] = ..., active_task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class WorkerHeartbeatResponse(_message.Message):
    __slots__ = ("server_time", "cancel_task_ids")
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    server_time: float
    cancel_task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, server_time: _Optional[float] = ..., cancel_task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamTasksRequest(_message.Message):
    __slots__ = ("session_token", "held_task_ids")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HELD_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    held_task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_token: _Optional[str] = ..., held_task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskAssignment(_message.Message):
    __slots__ = ("task_id", "type", "payload", "priority", "deadline", "attempt", "metadata", "timeout_s")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    type: str
    payload: bytes
    priority: int
    deadline: float
    attempt: int
    metadata: _containers.ScalarMap[str, str]
    timeout_s: float
    def __init__(self, task_id: _Optional[str] = ..., type: _Optional[str] = ..., payload: _Optional[bytes] = ..., priority: _Optional[int] = ..., deadline: _Optional[float] = ..., attempt: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class TaskAssignmentBatch(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[TaskAssignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[TaskAssignment, _Mapping]]] = ...) -> None: ...

class UpdateTaskProgressRequest(_message.Message):
    __slots__ = ("session_token", "task_id", "attempt", "percent", "message")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    task_id: str
    attempt: int
    percent: float
    message: str
    def __init__(self, session_token: _Optional[str] = ..., task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., percent: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class UpdateTaskProgressResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    def __init__(self, accepted: _Optional[bool] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("task_id", "attempt", "status", "result", "error", "retriable", "started_at", "finished_at", "retry_after_s")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRIABLE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    status: ResultStatus
    result: bytes
    error: str
    retriable: bool
    started_at: float
    finished_at: float
    retry_after_s: float
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., status: _Optional[_Union[ResultStatus, str]] = ..., result: _Optional[bytes] = ..., error: _Optional[str] = ..., retriable: _Optional[bool] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., retry_after_s: _Optional[float] = ...) -> None: ...

class ReportTaskResultRequest(_message.Message):
    __slots__ = ("session_token", "results")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    results: _containers.RepeatedCompositeFieldContainer[TaskResult]
    def __init__(self, session_token: _Optional[str] = ..., results: _Optional[_Iterable[_Union[TaskResult, _Mapping]]] = ...) -> None: ...

class ResultAck(_message.Message):
    __slots__ = ("task_id", "attempt", "disposition", "detail")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    disposition: ResultDisposition
    detail: str
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., disposition: _Optional[_Union[ResultDisposition, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ReportTaskResultResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[ResultAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[ResultAck, _Mapping]]] = ...) -> None: ...

class HealthCheckRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthCheckResponse(_message.Message):
    __slots__ = ("status", "services", "active_workers", "server_time", "version")
    class ServicesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_WORKERS_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    status: str
    services: _containers.ScalarMap[str, str]
    active_workers: int
    server_time: float
    version: str
    def __init__(self, status: _Optional[str] = ..., services: _Optional[_Mapping[str, str]] = ..., active_workers: _Optional[int] = ..., server_time: _Optional[float] = ..., version: _Optional[str] = ...) -> None: ...
