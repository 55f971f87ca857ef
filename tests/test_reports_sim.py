"""bench/reports_sim.py at a small size: a simulated month of one service's reports through the
real detector, with a global and a regional outage, meets the issue's targets (seeded, so the
figures are the same on every run; the clock is simulated, nothing here is timed)."""

from __future__ import annotations

from bench import reports_sim


def test_a_simulated_month_finds_both_outages_in_time_scopes_the_regional_one_and_raises_no_false_alarm(capsys):
    code = reports_sim.main(["--services", "1", "--months", "1", "--rates", "150", "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "targets met" in out
    row = next(line for line in out.splitlines() if line.startswith("service-1"))
    assert row.split()[1:5] == ["150", "1", "1", "0"], out  # rate, global outages, found, late
