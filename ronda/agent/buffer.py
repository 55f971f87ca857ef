"""The agent's verdicts kept on disk while the hub cannot take them.

The agent sends its verdicts to the hub in batches. A batch the hub did not take is appended
here; the sender hands `oldest()` to the hub and calls `remove()` with its key once the hub
took it. A batch is removed only after the hub answered, so an agent that dies in between
sends that batch again when it is back: the hub may see a batch twice, never none.

On disk each batch is one file in the buffer's folder, gzip-compressed JSON named
`{seq:012d}-{count}.json.gz`: `seq` orders the batches and goes on from the highest one found
when an agent starts again; `count` is how many verdicts the file holds, so the number kept is
known without reading a file. A file is written under a temporary name (`.tmp`), synced and
then renamed, so a crash never leaves half a file under a real name; a temporary file found
at start is what a crash cut short, and is removed.

The folder is bounded (`max_bytes`, 256 MiB by default). Past the bound the oldest batches go
first: the newest verdicts say the most about what a target is doing now, while the oldest
were already late when the hub went away and are the first whose gap a reader can live with.
A batch that alone is over the bound is kept anyway: it holds the newest verdicts, and the
next batch appended pushes it out.

How far 256 MiB goes, measured with batches of 100 verdicts of 15 keys each (an HTTPS check
with its facts, addresses and one certificate with its chain; 60 monitors): about 1.1 kB of
JSON and 130 bytes compressed per verdict, so about 2 million verdicts; verdicts without a
certificate (TCP, DNS, ICMP) take about 36 bytes, about 7 million. An agent checking 1,000
monitors every 30 seconds makes 120,000 verdicts an hour, about 15 MB: the bound holds more
than half a day of an outage of such an agent, hours of a much larger one.

One object owns a folder: it keeps the list of files in memory and is not safe to share
between threads or processes.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 256 * 1024 * 1024

_SUFFIX = ".json.gz"
_TEMP = ".tmp"
# Level 6, zlib's default: on batches of verdicts level 9 took nearly three times the CPU for
# 4% fewer bytes, and an agent may run on a small board.
_LEVEL = 6

log = logging.getLogger("ronda")


def _name(seq: int, count: int) -> str:
    return f"{seq:012d}-{count}{_SUFFIX}"


def _parse(name: str) -> tuple[int, int] | None:
    """The sequence number and verdict count a batch file's name carries; None: not a batch file."""
    if not name.endswith(_SUFFIX):
        return None
    seq, dash, count = name.removesuffix(_SUFFIX).partition("-")
    if not (dash and _digits(seq) and _digits(count)):
        return None
    return int(seq), int(count)


def _digits(text: str) -> bool:
    # isascii too: str.isdigit accepts digits such as "²" that int() refuses.
    return text.isascii() and text.isdigit()


def _encode(batch: list[dict[str, Any]]) -> bytes:
    # No spaces after separators: every byte saved is room for more verdicts.
    text = json.dumps(batch, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode(), compresslevel=_LEVEL)


def _decode(data: bytes) -> list[dict[str, Any]]:
    batch = json.loads(gzip.decompress(data))
    if not isinstance(batch, list) or not all(isinstance(verdict, dict) for verdict in batch):
        raise ValueError("not a list of verdicts")
    return batch


def _private(path: str, flags: int) -> int:
    # Verdicts name internal hosts and addresses: only the agent's user reads them.
    return os.open(path, flags, 0o600)


def _write(folder: Path, name: str, data: bytes) -> None:
    """`data` under `folder/name`, whole or not at all."""
    temp = folder / (name + _TEMP)
    try:
        with open(temp, "xb", opener=_private) as file:
            file.write(data)
            file.flush()
            # Synced before the rename: after a power cut the real name points at the whole
            # file or is not there, never at an empty one. The folder is not synced: a power
            # cut may lose the newest file's name, that is one batch, never a broken one.
            os.fsync(file.fileno())
        os.replace(temp, folder / name)
    except BaseException:
        temp.unlink(missing_ok=True)  # a failed write (disk full, say) leaves nothing behind
        raise


class VerdictBuffer:
    """Batches of verdicts kept in `folder`, oldest first, at most about `max_bytes` of them
    (see the module's docstring). `bytes` counts the bytes kept, `dropped` the verdicts
    dropped for the bound and `unreadable` the files removed because they could not be read,
    both since this object was made."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        # Each kept file by name, oldest first (a dict keeps the order of insertion), with its
        # size in bytes and its verdict count.
        self._files: dict[str, tuple[int, int]] = {}
        self._verdicts = 0
        self.bytes = 0
        self.dropped = 0
        self.unreadable = 0
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._next = self._scan() + 1

    def __len__(self) -> int:
        return len(self._files)

    @property
    def verdicts(self) -> int:
        return self._verdicts

    def append(self, batch: list[dict[str, Any]]) -> None:
        """Keep `batch` as the newest, then drop the oldest batches while over the bound.
        Raises OSError if it cannot be written (disk full, say), keeping what was there."""
        data = _encode(batch)
        name = _name(self._next, len(batch))
        _write(self.folder, name, data)
        self._next += 1
        self._keep(name, len(data), len(batch))
        self._bound(name)

    def oldest(self) -> tuple[str, list[dict[str, Any]]] | None:
        """The oldest batch kept and its key for `remove()`; None when none is kept. A file that
        cannot be read is removed and counted in `unreadable`, and the next one is tried: one
        bad file must not stop the verdicts behind it from reaching the hub."""
        while self._files:
            name = next(iter(self._files))
            try:
                return name, _decode((self.folder / name).read_bytes())
            except (OSError, EOFError, ValueError, zlib.error) as error:
                log.warning("agent buffer: removed %s, which cannot be read: %s", self.folder / name, error)
                self.unreadable += 1
                self._forget(name)
        return None

    def remove(self, key: str) -> None:
        """Forget the batch `key` once the hub took it. An unknown key is ignored: it names a
        batch already removed, or none of this buffer's (and then no file is touched)."""
        if key in self._files:
            self._forget(key)

    def _scan(self) -> int:
        """Take in the batches a previous run left, oldest first, and remove its temporary
        files; the highest sequence number found, 0 if none."""
        found: list[tuple[int, int, str, int]] = []
        for path in self.folder.iterdir():
            if not path.is_file():
                continue
            if path.name.endswith(_TEMP):
                path.unlink(missing_ok=True)  # a write a crash cut short before its rename
                continue
            parsed = _parse(path.name)
            if parsed is not None:  # any other file is not the buffer's: left alone
                found.append((*parsed, path.name, path.stat().st_size))
        found.sort()
        for _seq, count, name, size in found:
            self._keep(name, size, count)
        return found[-1][0] if found else 0

    def _bound(self, newest: str) -> None:
        """Drop the oldest batches while over the bound, never `newest`: a batch that alone is
        over the bound is kept (see the module's docstring). One warning per call that dropped."""
        verdicts = batches = 0
        while self.bytes > self.max_bytes:
            oldest = next(iter(self._files))
            if oldest == newest:
                break
            verdicts += self._forget(oldest)
            batches += 1
        if batches:
            self.dropped += verdicts
            log.warning(
                "agent buffer over %d bytes: dropped the %d oldest verdicts (%d batches) the hub has not taken",
                self.max_bytes,
                verdicts,
                batches,
            )

    def _keep(self, name: str, size: int, count: int) -> None:
        self._files[name] = (size, count)
        self.bytes += size
        self._verdicts += count

    def _forget(self, name: str) -> int:
        """Remove a kept batch's file and stop counting it; how many verdicts it held."""
        # The file first: if it cannot be removed, the counts still say what is on disk.
        (self.folder / name).unlink(missing_ok=True)
        size, count = self._files.pop(name)
        self.bytes -= size
        self._verdicts -= count
        return count
