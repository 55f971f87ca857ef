"""Messages between `ronda run` and its probe worker, over the socket pair they share.

A message is a tuple. What one side has to send at once (a burst: dozens of verdicts at
100,000 monitors) goes as one frame: the list of messages, pickled in one call, after its
length (4 bytes, big-endian); one pickle and one read per burst, not per message. Pickle, because
both ends are the same ronda, one the child of the other, and the socket pair is theirs
alone: no one else can write to it, and jobs and verdicts cross as the objects they are.
A probe agent across a network (one that is not ronda's own child) must never be read
this way; its messages are JSON.

Written by hand because the standard library has nothing between raw streams and
`multiprocessing` (whose connections block, and which start a child its own way).
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ronda.memory import gc_paused
from ronda.rules.incidents import Policy
from ronda.service.scheduler import Job
from ronda.target import CheckOptions, Target

_LENGTH = struct.Struct(">I")

Message = tuple[Any, ...]


def frame(messages: list[Message]) -> bytes:
    """Several messages as one frame: a burst of verdicts costs one pickle and one write."""
    body = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def receive(reader: asyncio.StreamReader) -> list[Message] | None:
    """The next burst of messages, in the order sent; None when the other end has closed."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(head)
        body = await reader.readexactly(length)
        with gc_paused():  # what it makes lives on (100,000 jobs at start)
            messages: list[Message] = pickle.loads(body)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return messages


class Outgoing:
    """Messages to the other end, in order, written by one task in bursts: whoever sends
    never waits on the socket."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._queue: list[Message] = []
        self._ready = asyncio.Event()

    def send(self, *message: Any) -> None:
        self._queue.append(message)
        self._ready.set()

    async def run(self) -> None:
        """Write what is sent, until cancelled or the other end has gone (the reading side
        hears that end, and says so)."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                burst, self._queue = self._queue, []
                self._writer.write(frame(burst))
                await self._writer.drain()
        except ConnectionError:
            return

    def close(self) -> None:
        self._writer.close()


@dataclass(frozen=True, slots=True)
class JobColumns:
    """Jobs as they cross to the worker: a column of names, one of targets, and one of
    indexes into the few settings the jobs have alike (check options, interval, policy,
    re-check, tags), rather than a pickled object per job. Pickling 100,000 jobs read and
    kept a state list for each until the end: 190 bytes a job left resident as holes on
    each side. Columns are made of what lives on anyway, and three lists."""

    names: list[str]
    targets: list[Target]
    settings: list[int]  # each job's index into `alike`
    alike: list[tuple[CheckOptions, float, Policy, float, tuple[str, ...]]]


def in_columns(jobs: Sequence[Job]) -> JobColumns:
    index: dict[tuple[int, float, int, float, tuple[str, ...]], int] = {}
    alike: list[tuple[CheckOptions, float, Policy, float, tuple[str, ...]]] = []
    settings = []
    for job in jobs:
        # By identity: jobs made alike share their options and policy (runner.jobs_for),
        # and hashing each job's whole options was the slower way to find the same.
        key = (id(job.options), job.interval, id(job.policy), job.recheck, job.tags)
        if (at := index.get(key)) is None:
            at = index[key] = len(alike)
            alike.append((job.options, job.interval, job.policy, job.recheck, job.tags))
        settings.append(at)
    return JobColumns([job.name for job in jobs], [job.target for job in jobs], settings, alike)


def from_columns(columns: JobColumns) -> list[Job]:
    alike = columns.alike
    with gc_paused():  # 100,000 jobs that live on: collections walked them, again and again
        return [
            Job(name, target, *alike[at])
            for name, target, at in zip(columns.names, columns.targets, columns.settings, strict=True)
        ]
