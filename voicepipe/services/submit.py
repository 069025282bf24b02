"""Enqueueing a registered task by name, with its arguments checked against the task's parameters."""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from voicepipe.domain.jobs import JobPriority
from voicepipe.engine.registry import JobHandle, Task, get_task
from voicepipe.errors import NotFound, Unprocessable
from voicepipe.resources import Resources


@functools.cache
def arguments_model(task: Task) -> type[BaseModel]:
    """A pydantic model of the task's keyword parameters (everything after the job context)."""
    hints = typing.get_type_hints(task.fn)
    fields: dict[str, Any] = {}
    for name, param in list(inspect.signature(task.fn).parameters.items())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    model: type[BaseModel] = create_model(
        f"{task.name}_arguments", __config__=ConfigDict(extra="forbid", strict=True), **fields
    )
    return model


def check_arguments(task: Task, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the task will get them, or Unprocessable naming the first bad one."""
    try:
        parsed = arguments_model(task).model_validate(kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Unprocessable(
            f"body.kwargs.{where}: {first['msg']}" if where else first["msg"]
        ) from None
    return {name: getattr(parsed, name) for name in kwargs}


async def enqueue_by_name(
    resources: Resources,
    name: str,
    kwargs: dict[str, Any],
    *,
    owner_id: int,
    queue: str | None = None,
    priority: JobPriority = JobPriority.NORMAL,
    countdown_s: float | None = None,
) -> JobHandle:
    """Enqueue the task called `name` for `owner_id` (NotFound for an unknown task)."""
    try:
        task = get_task(name)
    except NotFound as exc:
        raise Unprocessable(f"body.task: {exc}") from None
    arguments = check_arguments(task, kwargs)
    return await task.enqueue(
        resources,
        priority=priority,
        countdown_s=countdown_s,
        queue=queue,
        owner_id=owner_id,
        **arguments,
    )
