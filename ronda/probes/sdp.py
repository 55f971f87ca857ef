"""The media streams an SDP description (RFC 8866) names: what an RTSP DESCRIBE answers.

Parsed with sdp-transform; ronda keeps of each `m=` line its media type, port, protocol and
first format, the codec and clock rate from that format's `a=rtpmap:` (or RFC 3551's table
for the static payload types that need none), and the track from `a=control:`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sdp_transform

# RFC 3551 section 6: payload types whose codec is fixed, so an SDP may leave out their rtpmap.
STATIC_PAYLOADS: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    10: ("L16", 44100),
    11: ("L16", 44100),
    14: ("MPA", 90000),
    18: ("G729", 8000),
    26: ("JPEG", 90000),
    31: ("H261", 90000),
    32: ("MPV", 90000),
    33: ("MP2T", 90000),
    34: ("H263", 90000),
}
MEDIA_TYPES = frozenset({"audio", "video", "text", "application", "message"})  # RFC 8866 section 5.14


@dataclass(frozen=True)
class Stream:
    media: str  # video, audio, application (ONVIF metadata), ...
    codec: str | None  # H264, H265, PCMA, MPEG4-GENERIC, ...
    clock_rate: int | None
    track: str | None  # a=control: relative (trackID=1) or a whole URL
    port: int
    proto: str  # RTP/AVP, RTP/AVPF, ...
    format: str  # the first payload type of the m= line

    def to_json(self) -> dict[str, Any]:
        return {
            "media": self.media,
            "codec": self.codec,
            "clock_rate": self.clock_rate,
            "track": self.track,
            "port": self.port,
            "proto": self.proto,
            "format": self.format,
        }

    @property
    def words(self) -> str:
        return stream_words(self.to_json())


def stream_words(stream: dict[str, Any]) -> str:
    """`video H264/90000`: a stream (as the verdict's JSON has it) as a person reads it."""
    rate = f"/{stream['clock_rate']}" if stream["clock_rate"] else ""
    return f"{stream['media']} {stream['codec'] or 'format ' + stream['format']}{rate}"


def is_sdp(text: str) -> bool:
    """SDP starts with its version line, `v=0`, and nothing before it."""
    return text.lstrip("\r\n").startswith("v=0")


def media_streams(text: str) -> list[Stream]:
    """Each `m=` line that parses, in order; lines that do not are no streams."""
    session = sdp_transform.parse(text)
    return [_stream(media) for media in session.get("media", []) if "type" in media and "port" in media]


def _stream(media: dict[str, Any]) -> Stream:
    # sdp-transform turns anything that looks like a number into one (a control of `1`, a
    # single payload type): the fields are read back as text or int here.
    fmt = str(media.get("payloads", "")).split(" ")[0]
    rtpmap = next((r for r in media.get("rtp", []) if str(r.get("payload")) == fmt), None)
    codec: str | None = None
    rate: int | None = None
    if rtpmap is not None:
        codec, rate = str(rtpmap.get("codec")), _int(rtpmap.get("rate"))
    elif fmt.isdigit() and int(fmt) in STATIC_PAYLOADS:
        codec, rate = STATIC_PAYLOADS[int(fmt)]
    control = media.get("control")
    return Stream(
        media=str(media["type"]),
        codec=codec,
        clock_rate=rate,
        track=None if control is None else str(control),
        port=_int(media["port"]) or 0,
        proto=str(media.get("protocol", "")),
        format=fmt,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None
