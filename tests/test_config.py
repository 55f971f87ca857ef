"""Loading config files: what works, and every rejection by its exact message."""

from __future__ import annotations

import functools
import pickle
import tempfile
from pathlib import Path

import pytest

from ronda.config.load import load_config
from ronda.config.schema import CheckMonitor, Config, Defaults, PushMonitor, StatusPageMonitor, parse_monitor
from ronda.errors import ConfigError
from ronda.memory import repacked
from ronda.node.runner import job_for, jobs_for
from ronda.notify.outbox import OutboxSettings, settings_for
from ronda.rules.incidents import Policy
from ronda.service.monitors import spec_of
from ronda.service.scheduler import Job
from ronda.target import CheckOptions
from ronda.world.pki import LocalPKI
from tests.support import config_error

CONTRACT_EXAMPLE = """\
server:
  listen: 127.0.0.1:8080
  token: ${RONDA_TOKEN}            # bearer token for the API; ${VAR} reads the environment
storage: sqlite:///ronda.db        # or postgresql://user:pass@host/db
defaults:
  interval: 30s                    # 500ms, 30s, 5m, 1h
  timeout: 10s
  confirm: 2                       # consecutive failed checks before an incident opens
  cert_warn_days: 21
  ca_file: ./ca.pem
canaries: []
notify:
  - json://127.0.0.1:9000/hook     # any Apprise URL
monitors:
  - name: shop
    url: https://shop.example/
    subresources: true
    resolve: {"shop.example:443": ["127.0.0.1"]}
    expect: {status: 200, text: "Welcome", max_latency: 2s}
"""


@functools.cache
def a_ca_bundle() -> bytes:
    """A real CA certificate: the config checks at load that a ca_file is one."""
    folder = Path(tempfile.mkdtemp(prefix="ronda-config-ca-"))
    return Path(LocalPKI("config tests").write_ca(str(folder / "ca.pem"))).read_bytes()


def write(tmp_path: Path, text: str) -> str:
    (tmp_path / "ca.pem").write_bytes(a_ca_bundle())
    path = tmp_path / "ronda.yaml"
    path.write_text(text)
    return str(path)


def test_the_contract_example_loads_with_defaults_filled_in(tmp_path):
    config = load_config(write(tmp_path, CONTRACT_EXAMPLE), {"RONDA_TOKEN": "s3cret-token-of-some-length"})
    assert config.server.token == "s3cret-token-of-some-length"
    assert config.storage == f"sqlite:///{tmp_path / 'ronda.db'}", "relative to the config file"
    job = job_for(config.monitors[0], config)
    assert job.interval == 30.0 and job.policy.confirm == 2
    assert job.options.timeout == 10.0
    assert job.options.ca_file == str(tmp_path / "ca.pem")
    assert job.options.resolve == {("shop.example", 443): ("127.0.0.1",)}
    assert (job.options.expect.status, job.options.expect.text, job.options.expect.max_latency) == (200, "Welcome", 2.0)


def test_per_monitor_settings_override_the_defaults(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "defaults: {interval: 1m, confirm: 3}\nmonitors:\n"
            "  - {name: db, url: 'tcp://db.test:5432', interval: 500ms, confirm: 1, timeout: 2s,"
            " nameserver: '127.0.0.1:5353'}\n",
        ),
        {},
    )
    job = job_for(config.monitors[0], config)
    assert (job.interval, job.policy.confirm, job.options.timeout) == (0.5, 1, 2.0)
    assert job.options.nameserver == ("127.0.0.1", 5353)


def test_a_monitor_is_found_by_name_in_the_config_it_belongs_to(tmp_path):
    """The index behind monitor_named is the config's own: a copy running other monitors
    (the API's added) finds those, and the original still finds only its own."""
    config = load_config(write(tmp_path, "monitors:\n  - {name: a, url: 'tcp://a.test:1', tags: [web]}\n"), {})
    assert config.monitor_named("a").tags == ["web"]
    added = parse_monitor({"name": "b", "url": "tcp://b.test:1"})
    running = config.with_monitors([*config.monitors, added])
    assert running.monitor_named("b").name == "b" and running.monitor_named("a").name == "a"
    assert config.monitor_named("b") is None and config.monitor_named("nobody") is None


def test_monitors_checked_alike_share_their_options_and_no_others_do(tmp_path):
    """The jobs of a config share what is alike (100,000 copies of one CheckOptions were
    60 MB), and only that: a monitor differing in any way keeps its own settings."""
    config = load_config(
        write(
            tmp_path,
            "defaults: {timeout: 3s}\nmonitors:\n"
            "  - {name: a, url: 'tcp://a.test:1'}\n"
            "  - {name: b, url: 'tcp://b.test:1'}\n"
            "  - {name: slow, url: 'tcp://c.test:1', timeout: 9s}\n"
            "  - {name: pinned, url: 'tcp://d.test:1', resolve: {'d.test:1': ['127.0.0.4']}}\n"
            "  - {name: child, url: 'tcp://e.test:1', depends_on: [a]}\n",
        ),
        {},
    )
    a, b, slow, pinned, child = (job for job in jobs_for(config) if isinstance(job, Job))
    assert a.options is b.options and a.policy is b.policy
    assert (a.target.host, b.target.host) == ("a.test", "b.test")
    assert (a.options.timeout, slow.options.timeout, pinned.options.timeout) == (3.0, 9.0, 3.0)
    assert a.options.resolve == {} and pinned.options.resolve == {("d.test", 1): ("127.0.0.4",)}
    assert (a.policy.parents, child.policy.parents) == ((), ("a",))


def test_monitors_leaving_a_setting_unset_share_one_value_and_still_show_their_own_definition(tmp_path):
    """What monitors leave unset is one object for all of them (pydantic made each its own
    lists, `expect` and set of names: half a monitor's memory), yet each still dumps just what
    it wrote, and a copy that changes one leaves the others as they were."""
    config = load_config(
        write(
            tmp_path,
            "monitors:\n"
            "  - {name: a, url: 'http://a.test/'}\n"
            "  - {name: b, url: 'http://b.test/'}\n"
            "  - {name: c, url: 'http://c.test/', expect: {status: 204}, tags: [web]}\n",
        ),
        {},
    )
    a, b, c = config.monitors
    assert a.expect is b.expect and a.tags is b.tags and a.model_fields_set is b.model_fields_set
    assert c.expect is not a.expect and c.expect.status == 204 and c.tags == ["web"] and a.tags == []
    assert a.model_dump(exclude_unset=True) == {"name": "a", "url": "http://a.test/"}
    tagged = a.model_copy(update={"tags": ["db"]})
    assert tagged.model_fields_set == {"name", "url", "tags"} and tagged.tags == ["db"]
    assert b.model_dump(exclude_unset=True) == {"name": "b", "url": "http://b.test/"} and b.tags == []


def test_a_config_pickled_across_processes_comes_back_equal_and_still_sharing(tmp_path):
    """`ronda run` gets its config pickled from the child that loaded it: the monitors come
    back equal, each with the names it set, and still sharing what they left unset."""
    config = load_config(
        write(
            tmp_path,
            "monitors:\n  - {name: a, url: 'http://a.test/'}\n  - {name: b, url: 'http://b.test/', tags: [x]}\n",
        ),
        {},
    )
    back = pickle.loads(pickle.dumps(config))
    assert back == config and back.monitors == config.monitors
    a, b = back.monitors
    assert type(a) is type(config.monitors[0]) and a.expect is b.expect
    assert a.interval is b.interval and a.timeout is b.timeout  # pickle makes each float anew
    assert repacked(config) == config  # what a reload runs on: the same trip, in this process
    assert b.model_dump(exclude_unset=True) == {"name": "b", "url": "http://b.test/", "tags": ["x"]}
    assert a.model_copy(update={"tags": ["y"]}).tags == ["y"] and a.tags == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "monitors:\n  - name: a\n    url: https://a.test/\n    intreval: 5s\n",
            ":4: monitors[0].intreval: unknown key (check its spelling)",
        ),
        ("monitors:\n  - name: a\n", ":2: monitors[0].url: required but missing"),
        (
            "defaults:\n  timeout: ten\n",
            ":2: defaults.timeout: expected a duration such as 500ms, 30s, 5m or 1h, got 'ten'",
        ),
        ("defaults:\n  interval: 0s\n", ":2: defaults.interval: a duration must be positive, got '0s'"),
        (
            "monitors:\n  - name: a\n    url: gopher://a.test/\n",
            ":3: monitors[0].url: 'gopher://a.test/': unsupported scheme gopher://; use one of "
            "browser+http://, browser+https://, dns://, grpc://, grpcs://, http://",
        ),
        (
            "monitors:\n  - {name: a, url: 'https://a.test/'}\n  - {name: a, url: 'https://b.test/'}\n",
            ":3: monitors[1].name: 'a' is used by another monitor",
        ),
        (
            "server:\n  listen: localhost\n",
            ":2: server.listen: expected ADDRESS:PORT such as 127.0.0.1:8080, got 'localhost'",
        ),
        (
            "server:\n  health_listen: '[::1]'\n",
            ":2: server.health_listen: expected ADDRESS:PORT such as 127.0.0.1:8080, got '[::1]'",
        ),
        ("server:\n  checks: threads\n", ":2: server.checks: Input should be 'process' or 'thread'"),
        ("defaults:\n  confirm: 0\n", ":2: defaults.confirm: expected at least 1, got 0"),
        ("defaults:\n  recover: many\n", ":2: defaults.recover: expected a whole number, got 'many'"),
        ("defaults:\n  alert_local: maybe\n", ":2: defaults.alert_local: expected true or false, got 'maybe'"),
        (
            "server:\n  token: ${NOT_SET_ANYWHERE}\n",
            ":2: server.token: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "monitors:\n  - name: a\n    url: https://a.test/\n    resolve: {'a.test:443': ['not-an-ip']}\n",
            ":4: monitors[0].resolve: 'a.test:443:not-an-ip': 'not-an-ip' is not an IP address",
        ),
        (
            "monitors:\n  - name: a\n    url: https://a.test/\n    ca_file: missing.pem\n",
            ":4: monitors[0].ca_file: no such file: ",
        ),
        (
            "defaults:\n  quorum: most\n",
            ":2: defaults.quorum: expected a number of vantage points (2) or a share such as 50%, got 'most'",
        ),
        (
            "monitors:\n  - name: a\n    url: https://a.test/\n    deployed_from: renewed/site.pem\n",
            ":4: monitors[0].deployed_from: no such file: ",
        ),
        ("defaults:\n  client_cert: me.pem\n", ":2: defaults.client_cert: no such file: "),
        ("defaults:\n  confirm: 2\ndefaults:\n  confirm: 3\n", ":3: defaults: key appears twice"),
        ("monitors: [\n", ":2: not valid YAML: expected the node content, but found '<stream end>'"),
        ("- just\n- a list\n", ":1: the file must be a mapping of keys"),
    ],
    ids=[
        "a misspelt key is named, not ignored",
        "a missing url is named",
        "a duration that is not one",
        "a zero interval",
        "a scheme no probe handles",
        "two monitors with one name",
        "a listen address without a port",
        "a health listener without a port",
        "a place for the checks that does not exist",
        "a count below its least, in words",
        "a count that is no number, in words",
        "a yes or no that is neither, in words",
        "an unset environment variable",
        "a resolve address that is not an IP",
        "a CA file that does not exist",
        "a quorum that is neither a count nor a share",
        "a renewal file that does not exist",
        "a client certificate that does not exist",
        "a key given twice",
        "broken YAML",
        "a file that is not a mapping",
    ],
)
def test_a_bad_config_is_rejected_with_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    assert f"{path}{message}" in config_error(path)


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, "defaults:\n  timeout: ten\n  confirm: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert [line for line, _, _ in caught.value.problems] == [2, 3]


# -- defaults, once ---------------------------------------------------------------------------


def test_the_notification_settings_default_to_an_empty_configs():
    assert OutboxSettings() == settings_for(Config())
    assert Config().notify_storm_wait == 5.0, "README and CHANGELOG say an opening in a storm waits 5 s"


def test_a_one_shot_check_defaults_to_what_an_empty_config_does():
    config, options = Config(), CheckOptions()
    assert options.timeout == config.defaults.timeout == 10.0, "CONTRACT.md: --timeout and defaults.timeout"
    assert options.warn_days == config.defaults.cert_warn_days == 21.0, "CONTRACT.md: --warn-days, cert_warn_days"
    assert options.subresource_hosts == CheckMonitor.model_fields["subresource_hosts"].default


def test_the_incident_policy_defaults_to_an_empty_configs():
    defaults = Config().defaults
    policy = Policy()
    assert (policy.confirm, policy.recover, policy.quorum, policy.alert_local) == (
        defaults.confirm,
        defaults.recover,
        defaults.quorum,
        defaults.alert_local,
    )


# -- a model per kind of monitor --------------------------------------------------------------


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        ("{name: a, kind: pull, url: 'https://a.test/'}", ":2: monitors[0].kind: Input should be 'check', 'status"),
        (
            "{name: a, kind: statuspage, url: 'https://s.test/', subresources: true}",
            ":2: monitors[0].subresources: a vendor's status page (kind: statuspage) has no subresources",
        ),
        (
            "{name: a, kind: statuspage, url: 'https://s.test/', send: hi}",
            ":2: monitors[0].send: goes with a ws:// or wss:// url",
        ),
        ("{name: a, kind: push, period: 1d, timeout: 5s}", ":2: monitors[0].timeout: a push monitor has no timeout"),
        ("{name: a, kind: push, period: 1d, intreval: 5s}", ":2: monitors[0].intreval: unknown key (check its"),
        ("{name: a, kind: statuspage}", ":2: monitors[0].url: required but missing"),
        ("{name: a, url: 'https://a.test/', timeout: 0s}", ":2: monitors[0].timeout: a duration must be positive"),
    ],
    ids=[
        "an unknown kind",
        "subresources on a status page",
        "a websocket message on a status page",
        "a timeout on a push monitor",
        "a misspelling on a push monitor",
        "a status page without its url",
        "a bad value, located without the kind",
    ],
)
def test_a_key_that_is_not_of_the_monitors_kind_is_named_with_its_kind(tmp_path, monitor, message):
    path = write(tmp_path, f"monitors:\n  - {monitor}\n")
    assert f"{path}{message}" in config_error(path)


def test_each_kind_of_monitor_is_its_own_model(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "monitors:\n  - {name: a, url: 'https://a.test/'}\n"
            "  - {name: b, kind: statuspage, url: 'https://s.test/'}\n  - {name: c, kind: push, period: 1d}\n",
        ),
        {},
    )
    assert [type(m) for m in config.monitors] == [CheckMonitor, StatusPageMonitor, PushMonitor]
    assert config.monitors[0].kind == "check", "kind is check unless the monitor says otherwise"


# -- defaults filled in once, at load ----------------------------------------------------------


def test_a_monitor_with_nothing_set_has_every_default_and_no_none_where_a_default_exists():
    config = Config.model_validate({"monitors": [{"name": "a", "url": "https://a.test/"}]})
    [monitor] = config.monitors
    defaults = Defaults()
    for key in Defaults.model_fields:
        assert getattr(monitor, key) == getattr(defaults, key), key
    job = job_for(monitor, config)
    assert job.policy == Policy()
    assert job.options == CheckOptions()
    assert (job.interval, job.recheck) == (defaults.interval, defaults.recheck)


def test_the_configs_defaults_fill_what_each_monitor_leaves_unset(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "defaults: {timeout: 3s, confirm: 4, recover: 2, alert_local: true, ca_file: ca.pem}\nmonitors:\n"
            "  - {name: a, url: 'https://a.test/', recover: 1}\n  - {name: b, kind: push, period: 1d}\n",
        ),
        {},
    )
    probed, pushed = config.monitors
    assert isinstance(probed, CheckMonitor) and isinstance(pushed, PushMonitor)
    assert (probed.timeout, probed.confirm, probed.recover, probed.alert_local) == (3.0, 4, 1, True)
    assert probed.ca_file == str(tmp_path / "ca.pem"), "relative to the config file, as defaults.ca_file is"
    assert (pushed.confirm, pushed.recover, pushed.alert_local) == (1, 2, True), "a missed run is confirmation enough"
    assert pushed.grace == 3600.0


def test_a_monitor_filled_in_still_shows_what_its_definition_wrote():
    config = Config.model_validate({"defaults": {"timeout": "3s"}})
    written = parse_monitor({"name": "site", "url": "https://a.test/", "interval": "200ms", "timeout": None})
    [filled] = config.with_monitors([written]).monitors
    assert isinstance(filled, CheckMonitor) and (filled.timeout, filled.interval) == (3.0, 0.2)
    assert spec_of(filled) == spec_of(written) == {"name": "site", "url": "https://a.test/", "interval": 0.2}
    other = Config.model_validate({"defaults": {"timeout": "7s"}})
    [again] = other.with_monitors([filled]).monitors
    assert isinstance(again, CheckMonitor) and again.timeout == 7.0, "what was filled is filled again (a reload)"


def test_a_missing_file_in_the_defaults_is_named_once_where_it_is_written(tmp_path):
    path = write(tmp_path, "defaults:\n  client_cert: me.pem\nmonitors:\n  - {name: a, url: 'https://a.test/'}\n")
    message = config_error(path)
    assert f"{path}:2: defaults.client_cert: no such file: " in message
    assert "monitors[0]" not in message


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "holds no PEM certificates"), (b"not a certificate\n", "holds no PEM certificates")],
    ids=["an empty CA file", "a CA file of garbage"],
)
def test_a_ca_file_that_trusts_nothing_is_a_config_error_at_its_line(tmp_path, content, words):
    path = write(tmp_path, "monitors:\n  - name: a\n    url: https://a.test/\n    ca_file: bad.pem\n")
    (tmp_path / "bad.pem").write_bytes(content)
    assert f"{path}:4: monitors[0].ca_file: {tmp_path / 'bad.pem'} {words}" in config_error(path)


def test_a_ca_file_that_is_a_folder_is_named(tmp_path):
    (tmp_path / "certs").mkdir()
    path = write(tmp_path, "defaults:\n  ca_file: certs\n")
    assert f"{path}:2: defaults.ca_file: no such file: {tmp_path / 'certs'}" in config_error(path)


def test_a_real_ca_file_is_taken(tmp_path, ca_file):
    (tmp_path / "ca.pem").write_bytes(Path(ca_file).read_bytes())
    path = write(tmp_path, "defaults:\n  ca_file: ca.pem\n")
    assert load_config(path, {}).defaults.ca_file == str(tmp_path / "ca.pem")
