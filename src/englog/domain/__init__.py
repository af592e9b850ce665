"""Domain types shared by every part of englog: entries, the task state machine and
the queue policy."""

from englog.domain.attempts import AttemptEnd
from englog.domain.entries import ActivityType, Entry, EntryFields, ImpactLevel, ValueRating
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import Disposition, NewTask, Task, TaskAttempt, TaskStatus

__all__ = [
    "ActivityType",
    "AttemptEnd",
    "Disposition",
    "Entry",
    "EntryFields",
    "ImpactLevel",
    "NewTask",
    "QueuePolicy",
    "Task",
    "TaskAttempt",
    "TaskStatus",
    "ValueRating",
]
