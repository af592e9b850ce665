"""Requests that wait for tasks to finish: the long poll `GET /v1/tasks/{id}?wait_s=`,
submissions with `Prefer: wait=N` and `POST /v1/tasks/wait` (any of many). Woken by this
process's commits (TaskWatch), so a wait costs no polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from englog.domain.tasks import Task
from englog.server.http.models import TaskFound
from englog.server.state import ServerState
from englog.server.watch import ManyWaiter


async def find_task(
    state: ServerState, task_id: str, user_id: str | None, wait_s: float | None
) -> TaskFound | None:
    """What `GET /v1/tasks/{id}` answers: the task and its attempts in one store read,
    after waiting for it to finish when `wait_s`."""
    if wait_s is None:
        return await state.store.get_task_detail(task_id, user_id)
    return await wait_finished(state, task_id, user_id, wait_s)


async def wait_finished(
    state: ServerState,
    task_id: str,
    user_id: str | None,
    wait_s: float,
    submitted: Task | None = None,
) -> TaskFound | None:
    """The task once it is terminal, or as it is after `wait_s`. Watched before the first
    read so no commit is missed; a result another replica accepted shows in the read
    after the wait. The last read is the answer, so it is a full one (attempts too).

    The answer is the last read, or the task as the commit that finished it handed it
    over (`Waiter.final`, the same bytes as a read). `submitted`: the task as this
    request's own submission just committed it, standing in for the first read (see
    `submission.accepted` for when that is safe). When the server shuts down the wait
    ends at once with a last read (`TaskWatch.close`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    watch = state.watch
    with watch.watch(task_id) as finished:
        if submitted is not None and not submitted.status.terminal:
            found: TaskFound | None = (submitted, [])
        else:
            found = await state.store.get_task_detail(task_id, user_id)
        while found is not None and not found[0].status.terminal and not watch.closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await finished.wait()
            # Cleared before the read: a commit during it wakes the next wait.
            final = finished.take()
            if final is not None:  # the task as the commit that finished it left it
                found = final[0], list(final[1])
            else:
                found = await state.store.get_task_detail(task_id, user_id)
            if loop.time() >= deadline:
                break
    return found


@dataclass(frozen=True, slots=True)
class Waited:
    """What `wait_any` found, each list in the order the ids were asked."""

    finished: list[TaskFound]
    pending: list[str]
    missing: list[str]


async def wait_any(
    state: ServerState, task_ids: Sequence[str], user_id: str | None, timeout_s: float
) -> Waited:
    """The tasks of `task_ids` that are finished, as soon as there is one, or after
    `timeout_s` none. One read of them all, watched before it (as `wait_finished`);
    then each wake-up hands over the tasks its commit finished, or names them for a
    read of just those. When the wait runs out (or the server stops), one last read of
    those still pending catches what another replica finished. Ids the caller may not
    see are `missing`, whether they exist or not; their wake-ups are ignored, and when
    every id is missing the answer comes at once."""
    ids = list(dict.fromkeys(task_ids))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    watch = state.watch
    with watch.watch_many(ids) as waiter:
        visible, finished = await _read_finished(state, ids, user_id)
        # Nothing the caller may see can finish: the answer (all missing) is final now.
        while visible and not finished and not watch.closing and loop.time() < deadline:
            woken = await _woken(waiter, deadline)
            handed = {i: final for i, final in waiter.take().items() if i in visible}
            for task_id, final in handed.items():
                if final is not None:  # the task as the commit that finished it left it
                    finished[task_id] = final[0], list(final[1])
            unread = [i for i, final in handed.items() if final is None]
            if not woken or watch.closing:
                unread = [i for i in ids if i in visible and i not in finished]
            if unread:
                finished.update((await _read_finished(state, unread, user_id))[1])
    return Waited(
        finished=[finished[i] for i in ids if i in finished],
        pending=[i for i in ids if i in visible and i not in finished],
        missing=[i for i in ids if i not in visible],
    )


async def _read_finished(
    state: ServerState, ids: list[str], user_id: str | None
) -> tuple[set[str], dict[str, TaskFound]]:
    """The ids the caller may see, and those finished read in full: statuses first, so
    the payloads and results of unfinished tasks are never decoded."""
    statuses = await state.store.task_statuses(ids, user_id)
    done = [i for i in ids if i in statuses and statuses[i].terminal]
    found = await state.store.get_task_details(done, user_id) if done else []
    finished = {task.id: (task, attempts) for task, attempts in found}
    gone = set(done) - set(finished)  # pruned between the two reads
    return set(statuses) - gone, finished


async def _woken(waiter: ManyWaiter, deadline: float) -> bool:
    """False when `deadline` passed first."""
    try:
        async with asyncio.timeout_at(deadline):
            await waiter.wait()
    except TimeoutError:
        return False
    return True
