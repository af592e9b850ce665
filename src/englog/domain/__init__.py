"""Domain types shared by every part of englog: entries and the task state machine."""

from englog.domain.entries import ActivityType, Entry, EntryFields, ImpactLevel, ValueRating
from englog.domain.tasks import Disposition, NewTask, Task, TaskStatus

__all__ = [
    "ActivityType",
    "Disposition",
    "Entry",
    "EntryFields",
    "ImpactLevel",
    "NewTask",
    "Task",
    "TaskStatus",
    "ValueRating",
]
