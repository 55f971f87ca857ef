"""Jobs cross to the probe worker in columns (ronda/node/wire.py): the worker gets every job
as the service made it, and what jobs made alike shared still shares."""

from __future__ import annotations

import pickle
from pathlib import Path

from ronda.config.load import load_config
from ronda.node.runner import jobs_for
from ronda.node.wire import from_columns, in_columns
from ronda.service.scheduler import Job


def test_jobs_cross_in_columns_whole_and_still_sharing_what_they_share(tmp_path: Path) -> None:
    path = tmp_path / "ronda.yaml"
    path.write_text(
        "defaults: {timeout: 3s}\nmonitors:\n"
        + "".join(f"  - {{name: m{i}, url: 'tcp://m{i}.test:1', tags: [web]}}\n" for i in range(50))
        + "  - {name: slow, url: 'tcp://slow.test:1', timeout: 9s, interval: 5m}\n"
        + "  - {name: child, url: 'tcp://child.test:1', depends_on: [m0], confirm: 3}\n"
    )
    jobs = [job for job in jobs_for(load_config(str(path), {})) if isinstance(job, Job)]
    columns = in_columns(jobs)
    assert len(columns.alike) == 3, "50 monitors alike, one slower, one with a parent"
    crossed = from_columns(pickle.loads(pickle.dumps(columns)))
    assert crossed == jobs
    by_name = {job.name: job for job in crossed}
    assert by_name["m1"].options is by_name["m2"].options and by_name["m1"].policy is by_name["m2"].policy
    assert (by_name["slow"].options.timeout, by_name["slow"].interval) == (9.0, 300.0)
    assert (by_name["child"].policy.parents, by_name["child"].policy.confirm) == (("m0",), 3)
    assert by_name["m7"].target.host == "m7.test" and by_name["m7"].tags == ("web",)
