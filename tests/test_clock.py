"""One clock: only ronda/clock.py reads the machine's calendar time; everything else is
handed a Clock, so a test that pins a moment pins it for every part it touches."""

from __future__ import annotations

import ast
from pathlib import Path

import ronda

SOURCE = Path(ronda.__file__).parent
THE_CLOCK = SOURCE / "clock.py"
# Calls that read the wall clock: (the object's last name, the attribute).
WALL_CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
}


def wall_clock_reads(path: Path, root: Path = SOURCE.parent) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        if (name, node.func.attr) in WALL_CLOCK_READS:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}.{node.func.attr}()")
    return found


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    reads = [read for path in sorted(SOURCE.rglob("*.py")) if path != THE_CLOCK for read in wall_clock_reads(path)]
    assert reads == [], "take a Clock (ronda/clock.py) instead of reading the wall clock:\n" + "\n".join(reads)


def test_the_check_finds_a_wall_clock_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import datetime as dt\nimport time\nA = dt.datetime.now()\nB = time.monotonic()\nC = time.time()\n"
    )
    assert wall_clock_reads(sample, tmp_path) == ["sample.py:3: datetime.now()", "sample.py:5: time.time()"]
