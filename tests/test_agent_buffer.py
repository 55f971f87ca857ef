"""The agent's on-disk buffer of verdicts the hub has not taken (ronda/agent/buffer.py): real
files in a temporary folder."""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from ronda.agent.buffer import VerdictBuffer


def verdicts(first: int, count: int = 3, pad: int = 0) -> list[dict[str, Any]]:
    """`count` verdicts numbered from `first`; `pad` random bytes each make a batch's size
    about what it is written (random bytes do not compress)."""
    return [
        {
            "target": f"https://shop-{n}.example/",
            "status": "up",
            "cause": None,
            "checked_at": "2026-05-01T12:00:00Z",
            "latency_ms": 41.7,
            "summary": "HTTP 200 — Négoce ✓",
            "http": {"status": 200},
            "n": n,
            "pad": os.urandom(pad).hex(),
        }
        for n in range(first, first + count)
    ]


def drain(buffer: VerdictBuffer) -> list[list[dict[str, Any]]]:
    """Every batch, oldest first, removing each as the sender does once the hub took it."""
    batches = []
    while (oldest := buffer.oldest()) is not None:
        key, batch = oldest
        batches.append(batch)
        buffer.remove(key)
    return batches


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_an_empty_buffer_has_no_oldest_batch(tmp_path):
    buffer = VerdictBuffer(tmp_path / "buffer")
    assert buffer.oldest() is None
    assert (len(buffer), buffer.verdicts, buffer.bytes, buffer.dropped, buffer.unreadable) == (0, 0, 0, 0, 0)


def test_batches_come_back_whole_oldest_first(tmp_path):
    folder = tmp_path / "agent" / "buffer"
    buffer = VerdictBuffer(folder)
    sent = [verdicts(0, 3), verdicts(3, 1), verdicts(4, 5)]
    for batch in sent:
        buffer.append(batch)
    assert (len(buffer), buffer.verdicts) == (3, 9)
    assert buffer.bytes == sum(path.stat().st_size for path in folder.iterdir())

    key, batch = buffer.oldest() or pytest.fail("no batch")
    assert batch == sent[0]
    assert buffer.oldest() == (key, batch)  # read, not taken: only remove() takes it
    assert key in files(folder)

    assert drain(buffer) == sent
    assert (len(buffer), buffer.verdicts, buffer.bytes) == (0, 0, 0)
    assert files(folder) == []


def test_files_are_gzip_json_named_by_sequence_and_count_and_private(tmp_path):
    folder = tmp_path / "agent" / "buffer"
    buffer = VerdictBuffer(folder)
    buffer.append(verdicts(0, 3))
    buffer.append(verdicts(3, 2))
    assert files(folder) == ["000000000001-3.json.gz", "000000000002-2.json.gz"]
    assert gzip.decompress((folder / "000000000002-2.json.gz").read_bytes()).startswith(b'[{"target":')
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in folder.iterdir()} == {0o600}


def test_a_new_buffer_on_the_same_folder_goes_on_where_the_last_left_off(tmp_path):
    folder = tmp_path / "buffer"
    first = VerdictBuffer(folder)
    sent = [verdicts(0, 2), verdicts(2, 4), verdicts(6, 1)]
    for batch in sent:
        first.append(batch)
    key, _ = first.oldest() or pytest.fail("no batch")
    first.remove(key)  # the hub took the first batch before the agent stopped

    again = VerdictBuffer(folder)
    assert (len(again), again.verdicts, again.bytes) == (2, 5, first.bytes)
    again.append(verdicts(7, 3))
    assert files(folder) == ["000000000002-4.json.gz", "000000000003-1.json.gz", "000000000004-3.json.gz"]
    assert (len(again), again.verdicts) == (3, 8)
    assert drain(again) == [*sent[1:], verdicts(7, 3)]


def test_the_bound_drops_the_oldest_batches_first_and_counts_them(tmp_path, caplog):
    probe = VerdictBuffer(tmp_path / "probe")
    probe.append(verdicts(0, 2, pad=2000))
    size = probe.bytes  # every batch below is about this size: its random bytes do not compress

    folder = tmp_path / "buffer"
    buffer = VerdictBuffer(folder, max_bytes=3 * size + size // 2)  # room for three batches
    sent = [verdicts(2 * n, 2, pad=2000) for n in range(5)]
    with caplog.at_level(logging.WARNING, logger="ronda"):
        for batch in sent:
            buffer.append(batch)

    assert (len(buffer), buffer.verdicts, buffer.dropped) == (3, 6, 4)
    assert buffer.bytes <= buffer.max_bytes
    assert buffer.bytes == sum(path.stat().st_size for path in folder.iterdir())
    assert files(folder)[0].startswith("000000000003-")
    # One warning for each append that dropped (the 4th and the 5th), saying how many.
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("dropped the 2 oldest verdicts" in message for message in warnings)
    assert drain(buffer) == sent[2:]


def test_a_batch_alone_over_the_bound_is_kept_until_the_next(tmp_path):
    buffer = VerdictBuffer(tmp_path / "buffer", max_bytes=10)
    buffer.append(verdicts(0, 3))
    assert (len(buffer), buffer.dropped) == (1, 0)
    assert buffer.bytes > buffer.max_bytes
    buffer.append(verdicts(3, 2))
    assert (len(buffer), buffer.verdicts, buffer.dropped) == (1, 2, 3)
    assert drain(buffer) == [verdicts(3, 2)]


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def flipped(data: bytes) -> bytes:
    """The compressed body's bytes inverted, its gzip header whole."""
    return data[:10] + bytes(byte ^ 0xFF for byte in data[10:-8]) + data[-8:]


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda data: b"not gzip at all", id="not-gzip"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(truncated, id="truncated"),
        pytest.param(flipped, id="flipped"),
        pytest.param(lambda data: gzip.compress(b'[{"target": '), id="bad-json"),
        pytest.param(lambda data: gzip.compress(b'{"target": "x"}'), id="not-a-list"),
        pytest.param(lambda data: gzip.compress(b"[1, 2]"), id="not-verdicts"),
        pytest.param(lambda data: gzip.compress(b"\xff\xfe[]"), id="not-utf8"),
    ],
)
def test_a_file_that_cannot_be_read_is_removed_counted_and_skipped(tmp_path, caplog, corrupt):
    folder = tmp_path / "buffer"
    buffer = VerdictBuffer(folder)
    for n in range(3):
        buffer.append(verdicts(3 * n, 3))
    bad = folder / "000000000001-3.json.gz"
    bad.write_bytes(corrupt(bad.read_bytes()))

    with caplog.at_level(logging.WARNING, logger="ronda"):
        key, batch = buffer.oldest() or pytest.fail("no batch")

    assert batch == verdicts(3, 3)
    assert key == "000000000002-3.json.gz"
    assert not bad.exists()
    assert (buffer.unreadable, len(buffer), buffer.verdicts) == (1, 2, 6)
    assert buffer.bytes == sum(path.stat().st_size for path in folder.iterdir())
    assert [str(bad) in record.getMessage() for record in caplog.records] == [True]


def test_a_file_gone_from_under_the_buffer_is_skipped(tmp_path):
    folder = tmp_path / "buffer"
    buffer = VerdictBuffer(folder)
    buffer.append(verdicts(0, 1))
    buffer.append(verdicts(1, 1))
    (folder / "000000000001-1.json.gz").unlink()
    assert drain(buffer) == [verdicts(1, 1)]
    assert (buffer.unreadable, buffer.verdicts, buffer.bytes) == (1, 0, 0)


def test_leftover_temp_files_are_removed_at_start_and_other_files_left_alone(tmp_path):
    folder = tmp_path / "buffer"
    VerdictBuffer(folder).append(verdicts(0, 2))
    (folder / "000000000002-5.json.gz.tmp").write_bytes(b"\x1f\x8b half a batch")
    (folder / "notes.txt").write_text("the operator's")
    (folder / "000000000009-x.json.gz").write_bytes(b"not a batch name")

    buffer = VerdictBuffer(folder)
    assert files(folder) == ["000000000001-2.json.gz", "000000000009-x.json.gz", "notes.txt"]
    assert (len(buffer), buffer.verdicts) == (1, 2)
    buffer.append(verdicts(2, 1))
    assert "000000000002-1.json.gz" in files(folder)
    assert drain(buffer) == [verdicts(0, 2), verdicts(2, 1)]


def test_removing_an_unknown_key_is_harmless(tmp_path):
    folder = tmp_path / "buffer"
    buffer = VerdictBuffer(folder)
    buffer.append(verdicts(0, 2))
    key, _ = buffer.oldest() or pytest.fail("no batch")
    (tmp_path / "outside").write_text("not the buffer's")

    for unknown in ("000000000099-1.json.gz", "../outside", "notes.txt", ""):
        buffer.remove(unknown)
    assert (len(buffer), buffer.verdicts) == (1, 2)
    assert (tmp_path / "outside").exists()

    buffer.remove(key)
    buffer.remove(key)  # twice: the hub's answer seen twice
    assert (len(buffer), buffer.verdicts, buffer.bytes) == (0, 0, 0)


def test_a_batch_that_is_not_json_is_refused_and_leaves_nothing(tmp_path):
    folder = tmp_path / "buffer"
    buffer = VerdictBuffer(folder)
    with pytest.raises(TypeError):
        buffer.append([{"target": "https://shop.example/", "at": object()}])
    assert files(folder) == []
    assert len(buffer) == 0
