"""rtsp:// and rtsps:// against a real loopback camera (ronda/world/rtsp.py): OPTIONS and
DESCRIBE behind Digest (MD5, SHA-256, with and without qop), Basic or no authentication, the
SDP's streams, and every way a camera or what stands in its place goes wrong."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ronda.errors import UsageError
from ronda.probes.digest import Challenge, authorization, parse_challenges, preferred
from ronda.probes.rtsp import NotRtsp, read_response, request_uri
from ronda.probes.sdp import media_streams
from ronda.target import parse_target
from ronda.world.rtsp import AUDIO, METADATA, VIDEO, RtspServer
from tests.support import ronda_check

LOGIN = "admin:secret@"


@pytest.fixture
def camera(world_loop) -> Iterator[Callable[..., RtspServer]]:
    """camera(auth="digest", ...) starts a camera; all stop at the end of the test."""
    started: list[RtspServer] = []

    def start(**options) -> RtspServer:
        server = RtspServer(**options)
        world_loop.run(server.start())
        started.append(server)
        return server

    yield start
    for server in started:
        world_loop.run(server.stop())


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "algorithms", "qop", "scheme"),
    [
        pytest.param("digest", ("MD5",), True, "Digest MD5", id="digest-md5-qop-auth"),
        pytest.param("digest", ("SHA-256",), True, "Digest SHA-256", id="digest-sha256-qop-auth"),
        pytest.param("digest", ("MD5",), False, "Digest MD5", id="digest-md5-without-qop"),
        pytest.param("digest", ("SHA-256",), False, "Digest SHA-256", id="digest-sha256-without-qop"),
        pytest.param("basic", (), True, "Basic", id="basic"),
    ],
)
def test_options_then_describe_with_the_cameras_authentication(camera, check, auth, algorithms, qop, scheme):
    server = camera(auth=auth, algorithms=algorithms, qop=qop)
    verdict = check(server.url(LOGIN))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert server.logins == [("admin", scheme)], "the camera itself checked the answer to its challenge"
    rtsp = verdict.rtsp
    assert (rtsp["status"], rtsp["auth"], rtsp["server"]) == (200, scheme, "ronda world camera/1.0")
    assert "DESCRIBE" in rtsp["public"]
    assert f"RTSP 200 ({scheme}), 2 streams: video H264/90000, audio MPEG4-GENERIC/16000" in verdict.summary


def test_of_two_digest_challenges_sha256_is_answered_whatever_their_order(camera, check):
    server = camera(auth="digest", algorithms=("MD5", "SHA-256"))
    verdict = check(server.url(LOGIN))
    assert verdict.status == "up", verdict.summary
    assert verdict.rtsp["auth_offered"] == ["Digest MD5", "Digest SHA-256"]
    assert server.logins == [("admin", "Digest SHA-256")]


def test_without_credentials_a_401_challenge_proves_the_camera_alive(camera, check):
    server = camera(auth="digest", algorithms=("SHA-256", "MD5"))
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert "RTSP 401, the device answers and asks for Digest SHA-256/Digest MD5 authentication" in verdict.summary
    assert "no credentials given" in verdict.summary
    rtsp = verdict.rtsp
    assert (rtsp["status"], rtsp["auth"], rtsp["streams"]) == (401, None, [])
    assert server.logins == []


def test_a_recorder_that_challenges_options_too_is_answered_there(camera, check):
    server = camera(auth="digest", algorithms=("SHA-256",))
    server.auth_options = True
    verdict = check(server.url(LOGIN))
    assert verdict.status == "up", verdict.summary
    assert server.logins == [("admin", "Digest SHA-256")] * 2, "OPTIONS and DESCRIBE, both let in"
    alive = check(server.url())
    assert (alive.status, alive.rtsp["status"]) == ("up", 401), alive.summary


@pytest.mark.parametrize(
    ("auth", "userinfo", "scheme"),
    [
        pytest.param("digest", "admin:wrong@", "Digest MD5", id="digest-wrong-password"),
        pytest.param("digest", "guest:secret@", "Digest MD5", id="digest-unknown-user"),
        pytest.param("basic", "admin:wrong@", "Basic", id="basic-wrong-password"),
    ],
)
def test_refused_credentials_are_auth_failed(camera, check, auth, userinfo, scheme):
    server = camera(auth=auth)
    verdict = check(server.url(userinfo))
    assert (verdict.status, verdict.cause) == ("down", "auth_failed"), verdict.summary
    user = userinfo.split(":")[0]
    assert verdict.summary == (
        f"127.0.0.1: the server refused the credentials of {user!r} ({scheme}): RTSP/1.0 401 Unauthorized"
    )
    assert server.logins == []


def test_a_stale_nonce_is_answered_again_with_the_new_one(camera, check):
    server = camera(auth="digest", algorithms=("SHA-256",))
    server.stale = True
    verdict = check(server.url(LOGIN))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert not server.stale, "the camera did expire a nonce"
    assert server.logins == [("admin", "Digest SHA-256")]


def test_digest_answers_the_rfc_7616_examples():
    """RFC 7616 section 3.9.1: the same request answered with SHA-256 and with MD5."""
    values = [
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        for algorithm in ("SHA-256", "MD5")
    ]
    sha256, md5 = parse_challenges(values)
    answers = [
        authorization(
            c,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        for c in (sha256, md5)
    ]
    assert 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"' in answers[0]
    assert 'response="8ca523f5e9506fed4657c9700eebdbec"' in answers[1]
    for answer in answers:
        assert "qop=auth, nc=00000001" in answer
        assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in answer


def test_challenges_sharing_one_header_are_told_apart():
    challenges = parse_challenges(['Digest realm="cam, front", nonce="n1", qop="auth", Basic realm="cam"'])
    assert challenges == [
        Challenge("Digest", {"realm": "cam, front", "nonce": "n1", "qop": "auth"}),
        Challenge("Basic", {"realm": "cam"}),
    ]
    assert preferred(challenges) == challenges[0]
    assert preferred(parse_challenges(["Negotiate abc", 'Digest realm="x", algorithm=SHA-512-256, nonce="n"'])) is None


# --- streams ----------------------------------------------------------------------------------------


def test_the_camera_that_lost_its_video_track_is_stream_missing(camera, check):
    server = camera(auth="digest")
    url = server.url(LOGIN, query="?expect=video")
    assert check(url).status == "up"
    server.tracks = [AUDIO]  # the sensor died; the microphone still works
    verdict = check(url)
    assert (verdict.status, verdict.cause) == ("down", "stream_missing"), verdict.summary
    assert verdict.summary == "127.0.0.1: no video stream in the SDP (it describes audio MPEG4-GENERIC/16000)"
    [audio] = verdict.rtsp["streams"]
    assert audio["media"] == "audio", "what the camera still describes is in the verdict"


def test_without_expect_any_one_stream_will_do(camera, check):
    server = camera(tracks=[AUDIO])
    verdict = check(server.url())
    assert verdict.status == "up", verdict.summary
    assert "1 stream: audio MPEG4-GENERIC/16000" in verdict.summary


def test_each_expected_kind_of_stream_must_be_described(camera, check):
    server = camera(tracks=[VIDEO, METADATA])
    verdict = check(server.url(query="?expect=video,audio"))
    assert (verdict.status, verdict.cause) == ("down", "stream_missing")
    assert "no audio stream in the SDP (it describes video H264/90000, application vnd.onvif.metadata/90000)" in (
        verdict.summary
    )
    assert check(server.url(query="?expect=video,application")).status == "up"


def test_an_sdp_without_media_is_stream_missing(camera, check):
    server = camera(tracks=[])
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "stream_missing")
    assert verdict.summary == "127.0.0.1: the SDP describes no media stream"


def test_a_path_the_camera_does_not_have_is_stream_missing(camera, check):
    server = camera()
    verdict = check(server.url().replace("/stream1", "/stream9"))
    assert (verdict.status, verdict.cause) == ("down", "stream_missing")
    assert f"no stream at rtsp://127.0.0.1:{server.port}/stream9: RTSP/1.0 404 Not Found" in verdict.summary


def test_the_streams_are_listed_in_the_json_verdict_and_the_password_nowhere(camera, repo_root):
    server = camera(auth="digest", algorithms=("SHA-256",))
    proc = ronda_check(repo_root, server.url(LOGIN, query="?expect=video"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["target"] == f"rtsp://admin:***@127.0.0.1:{server.port}/stream1?expect=video"
    assert "secret" not in proc.stdout
    assert verdict["rtsp"]["auth"] == "Digest SHA-256"
    assert verdict["rtsp"]["streams"] == [
        {"media": "video", "codec": "H264", "clock_rate": 90000, "track": "trackID=1", "port": 0,
         "proto": "RTP/AVP", "format": "96"},
        {"media": "audio", "codec": "MPEG4-GENERIC", "clock_rate": 16000, "track": "trackID=2", "port": 0,
         "proto": "RTP/AVP", "format": "97"},
    ]  # fmt: skip


def test_the_plugin_line_counts_the_streams_and_the_detail_lists_them(camera, repo_root):
    server = camera(auth="basic")
    proc = ronda_check(repo_root, server.url(LOGIN))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, *detail = proc.stdout.splitlines()
    assert first.startswith(f"RONDA OK - rtsp://admin:***@127.0.0.1:{server.port}/stream1 is up: RTSP 200 (Basic)")
    assert " streams=2;;;0 " in first
    assert (
        "rtsp: 127.0.0.1 answered 200, server ronda world camera/1.0, authentication Basic (offered: Basic)" in detail
    )
    assert "  - video H264/90000, RTP/AVP, track trackID=1" in detail


def test_static_payload_types_need_no_rtpmap():
    sdp = "v=0\r\nm=audio 0 RTP/AVP 8\r\na=control:track2\r\nm=video 0 RTP/AVP 26\r\nm=broken\r\n"
    assert [(s.media, s.codec, s.clock_rate, s.track) for s in media_streams(sdp)] == [
        ("audio", "PCMA", 8000, "track2"),
        ("video", "JPEG", 90000, None),
    ]


# --- what is not a camera ---------------------------------------------------------------------------


def test_an_http_server_on_the_port_is_a_protocol_error(web, check):
    server = web()
    verdict = check(f"rtsp://127.0.0.1:{server.port}/stream1")
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary == "127.0.0.1: the server does not speak RTSP: its answer to OPTIONS was 'HTTP/1.1 200 OK'"
    assert verdict.rtsp is None


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("http", "the server does not speak RTSP: its answer to OPTIONS was 'HTTP/1.1 400 Bad Request'"),
        ("garbage", "the server does not speak RTSP: its answer to OPTIONS was '\\x00\\xff\\xfe garbage \\x137'"),
        ("busy", "OPTIONS rtsp://127.0.0.1:{port}/stream1 was answered 'RTSP/1.0 503 Service Unavailable'"),
    ],
)
def test_a_camera_that_answers_wrongly_is_a_protocol_error(camera, check, mode, words):
    server = camera(mode=mode)
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert words.format(port=server.port) in verdict.summary, verdict.summary


def test_a_silent_server_costs_the_check_its_budget_only(camera, check):
    server = camera(mode="silent")
    verdict = check(server.url(), timeout=0.5)
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary == "127.0.0.1: the server sent no answer to OPTIONS in time"


def test_a_server_that_does_not_offer_describe_is_a_protocol_error(camera, check):
    server = camera()
    server.public = ("OPTIONS", "SETUP", "PLAY")
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary == "127.0.0.1: the server does not offer DESCRIBE (Public: OPTIONS, SETUP, PLAY)"


def read(data: bytes):
    async def run():
        reader = asyncio.StreamReader(limit=1 << 16)
        reader.feed_data(data)
        reader.feed_eof()
        return await read_response(reader)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 10000000\r\n\r\n",
            "with a body of 10000000 bytes, more than ronda reads",
            id="huge-body",
        ),
        pytest.param(
            b"RTSP/1.0 200 OK\r\n" + b"X-Filler: x\r\n" * 500, "more headers than an RTSP answer has", id="flood"
        ),
        pytest.param(
            b"RTSP/1.0 200 OK\r\nServer: " + b"x" * 70000 + b"\r\n\r\n", "a line of more than 64 KiB", id="line"
        ),
        pytest.param(b"RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", "with Content-Length '-1'", id="negative"),
    ],
)
def test_answers_are_read_within_bounds(data, words):
    with pytest.raises(NotRtsp, match=words):
        read(data)


# --- every address ----------------------------------------------------------------------------------


def test_each_address_behind_the_name_is_asked(camera, check):
    healthy = camera(host="127.0.0.1")
    broken = camera(host="127.0.0.2", port=healthy.port, tracks=[AUDIO])
    resolve = {("cam.test", healthy.port): ("127.0.0.1", "127.0.0.2")}
    verdict = check(f"rtsp://cam.test:{healthy.port}/stream1?expect=video", resolve=resolve)
    assert (verdict.status, verdict.cause) == ("degraded", "stream_missing"), verdict.summary
    [finding] = verdict.findings
    assert (finding.address, finding.port) == ("127.0.0.2", broken.port)
    assert "cam.test at 127.0.0.2: no video stream" in verdict.summary
    assert verdict.rtsp["address"] == "127.0.0.1"


# --- rtsps ------------------------------------------------------------------------------------------


def test_rtsps_is_up_with_its_certificate_read(camera, pki, check):
    server = camera(host="127.0.0.1", tls=pki.server_context("cam.test"), auth="digest", algorithms=("SHA-256",))
    verdict = check(
        f"rtsps://{LOGIN}cam.test:{server.port}/stream1", resolve={("cam.test", server.port): ("127.0.0.1",)}
    )
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    [cert] = verdict.certificates
    assert (cert.host, cert.port, cert.sans, cert.problems) == ("cam.test", server.port, ("cam.test",), ())
    assert server.logins == [("admin", "Digest SHA-256")], "RTSP spoken over the TLS connection"


def test_rtsps_with_an_expired_certificate_is_cert_expired_and_still_described(camera, pki, check):
    now = datetime.now(UTC)
    expired = pki.server_context("cam.test", valid_from=now - timedelta(days=95), valid_until=now - timedelta(days=5))
    server = camera(tls=expired)
    verdict = check(f"rtsps://cam.test:{server.port}/stream1", resolve={("cam.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_expired"), verdict.summary
    assert "expired 5.0 days ago" in verdict.summary
    assert [f.code for f in verdict.findings] == ["cert_expired"], "the camera itself still answers"
    assert len(verdict.rtsp["streams"]) == 2


# --- the URL ----------------------------------------------------------------------------------------


def test_default_ports_and_the_credentials_kept_off_the_url():
    assert parse_target("rtsp://cam.test/stream1").port == 554
    assert parse_target("rtsps://cam.test/stream1").port == 322
    target = parse_target("rtsp://admin:s%40cret@cam.test:8554/cam/realmonitor?channel=1&expect=video&subtype=0")
    assert (target.username, target.password) == ("admin", "s@cret")
    assert target.url == "rtsp://admin:***@cam.test:8554/cam/realmonitor?channel=1&expect=video&subtype=0"
    assert "s@cret" not in repr(target)
    assert request_uri(target) == "rtsp://cam.test:8554/cam/realmonitor?channel=1&subtype=0"


def test_an_unknown_kind_of_stream_to_expect_is_a_usage_error(check, repo_root):
    with pytest.raises(UsageError, match=r"expect='vidoe': name media types from application, audio, message"):
        check("rtsp://127.0.0.1/stream1?expect=vidoe")
    proc = ronda_check(repo_root, "rtsp://127.0.0.1/stream1?expect=vidoe")
    assert proc.returncode == 3
    assert "rtsp://127.0.0.1/stream1?expect=vidoe" in proc.stdout + proc.stderr
