"""ssh://host[:port][?fingerprint=SHA256:...] (port 22): is an SSH server there, and does it hold
the host key it should?

At every address behind the name: TCP (`tcp_at`, so a refusal or silence reads as for any
port), then SSH's version exchange and key exchange, up to the server's signature made with
its host key, which asyncssh verifies: the key is the server's own, not a copy of its public
half. Then ronda hangs up. It never asks to log in: the server's log shows a client that left
after the key exchange, no failed login.

asyncssh speaks over one end of a socket pair, and ronda relays the other end to its own
connection to the server, reading what the server says as it passes: its identification line
(`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`), or, from a server that does not speak SSH (a web
server, garbage, silence), its first words for the `protocol_error`. asyncssh reads no
~/.ssh/config, keys or agent: nothing but the URL decides where it goes and what it shows.

`?fingerprint=SHA256:...`, as `ssh-keygen -lf` prints it, pins the host key: another key is
`ssh_host_key_changed` (down: someone may be in the middle). Without it, in `ronda run`, the key
a monitor's first check saw is kept with the monitor (Observation.keep) and expected from then
on. Every address behind the name must show that key, as OpenSSH's known_hosts expects of a name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import socket
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ronda import __version__
from ronda.errors import UsageError
from ronda.probes.addresses import each_address, tcp_at
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection
from ronda.target import CheckOptions, Target

if TYPE_CHECKING:
    import asyncssh
    from asyncssh import SSHKey

CLIENT_VERSION = f"ronda_{__version__}"  # after "SSH-2.0-" in the server's log: who called
HEARD = 1 << 12  # what is kept of the server's words, to find its identification line or quote it
QUOTE_CHARS = 120  # how much of a non-SSH answer a finding quotes
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")

# asyncssh logs every connection at INFO: once per check and address would drown ronda's log.
logging.getLogger("asyncssh").setLevel(logging.WARNING)
# cryptography 51 deprecates DSA, and asyncssh names its DSA types when imported: a warning on
# ronda's stderr that its user cannot act on (ronda offers no DSA key; a server's DSA host key is
# still read and shown). Pytest replaces filters per test, so pyproject.toml says it again.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")


class NotSsh(Exception):
    """The server did not complete SSH's key exchange; the message says what it did instead."""


@dataclass(frozen=True)
class Server:
    """What one address showed, as the verdict's `ssh` object has it."""

    address: str
    banner: str  # the identification line: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3
    key_type: str  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
    fingerprint: str  # SHA256:..., as ssh-keygen -l prints it

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "banner": self.banner,
            "key_type": self.key_type,
            "fingerprint": self.fingerprint,
        }


async def probe_ssh(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    pinned = pinned_fingerprint(target)
    # Without a pin, `ronda run` trusts the key a monitor's first check saw, as ssh trusts a
    # host's first key: the key it kept (Observation.known) is the one expected from then on.
    remembered = obs.known.get("fingerprint")
    expected = pinned or remembered
    named = f"the expected {pinned}" if pinned else f"{remembered}, the one earlier checks saw"
    servers: dict[str, Server] = {}

    async def check(address: str) -> None:
        where = address if target.host == address else f"{target.host} at {address}"
        conn = await tcp_at(obs, address, target.port, deadline)
        if conn is None:
            return
        try:
            servers[address] = server = await key_exchange(conn, address, deadline)
        except NotSsh as exc:
            obs.problem("protocol_error", f"{where}: {exc}", address=address)
            return
        finally:
            conn.close()
        if expected is not None and server.fingerprint != expected:
            obs.problem("ssh_host_key_changed", f"{where}: {changed_words(server, named)}", address=address)

    await each_address(obs, options, deadline, check, ctx.dns)
    obs.latency_ms = obs.elapsed_ms()
    shown = [servers[a] for a in obs.addresses if a in servers]
    if shown:  # the first address that completed the exchange; findings name the others
        obs.facts["ssh"] = shown[0].to_json()
    _remember(obs, expected or (shown[0].fingerprint if shown else None))


def _remember(obs: Observation, trusted: str | None) -> None:
    """Keep the key the monitor trusts for its next check. A changed key is not taken for the new
    normal: the finding stays until a person pins the new key (`?fingerprint=`, a new URL, with
    which the monitor's memory starts over)."""
    if trusted is not None and trusted != obs.known.get("fingerprint"):
        obs.keep = {"fingerprint": trusted}


def pinned_fingerprint(target: Target) -> str | None:
    """`?fingerprint=SHA256:...`: the host key the server must show, or None."""
    text = target.params.get("fingerprint")
    if text is None:
        return None
    # A query string reads `+` as a space; base64 has `+` and no spaces. Padding is optional.
    fingerprint = text.strip().replace(" ", "+").rstrip("=")
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise UsageError(
            f"{target.url!r}: fingerprint={text!r}: expected SHA256: and 43 base64 characters, "
            "as `ssh-keygen -lf KEY.pub` prints it"
        )
    return fingerprint


def changed_words(server: Server, expected: str) -> str:
    return (
        f"the host key is {server.key_type} {server.fingerprint}, not {expected}: "
        "someone may be in the middle (or the server's keys were replaced)"
    )


# --- the exchange ---------------------------------------------------------------------------------


async def key_exchange(conn: Connection, address: str, deadline: float) -> Server:
    """SSH over `conn` as far as the end of the key exchange: the server's identification line and
    its host key, the server's signature verified. NotSsh when it gets no further."""
    import asyncssh  # here, not above: its import costs a quarter second no other check should pay

    heard = bytearray()  # what the server said, for its identification line or a quote
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
            key = await _relayed(conn, address, heard)
    except TimeoutError:
        raise NotSsh(_unfinished(heard, "did not complete the key exchange in time")) from None
    except (asyncssh.Error, OSError, ValueError) as exc:
        # ValueError: asyncssh passes on what the server's bytes made its parser raise (a
        # PacketDecodeError for a packet cut short), not as one of its own errors.
        raise NotSsh(_unfinished(heard, f"failed the key exchange ({_reason(exc)})")) from None
    banner = _identification(heard)
    if key is None or banner is None:  # a key exchange without a host key (GSS): none to show
        raise NotSsh(_unfinished(heard, "showed no host key"))
    return Server(address, banner, key.get_algorithm(), key.get_fingerprint("sha256"))


async def _relayed(conn: Connection, address: str, heard: bytearray) -> SSHKey | None:
    """asyncssh's host key fetch over a socket pair whose other end ronda relays to `conn`."""
    import asyncssh

    ours, theirs = socket.socketpair()
    try:
        reader, writer = await asyncio.open_connection(sock=theirs)
        relay = [
            asyncio.create_task(_pump(conn.reader, writer, heard)),  # the server to asyncssh
            asyncio.create_task(_pump(reader, conn.writer, None)),  # asyncssh to the server
        ]
        # The address and port name the server in asyncssh's records: a socket pair has no peer.
        port = conn.writer.get_extra_info("peername")[1]
        try:
            return await asyncssh.get_server_host_key(address, port, sock=ours, config=None, options=_client_options())
        finally:
            for task in relay:
                task.cancel()
            await asyncio.gather(*relay, return_exceptions=True)
            writer.transport.abort()
    finally:
        ours.close()


@functools.cache
def _client_options() -> asyncssh.SSHClientConnectionOptions:
    """No client keys, agent or identities: none is needed to read a host key, and loading them
    would read the home folder of whoever runs ronda. Made once, at the first ssh check."""
    import asyncssh

    return asyncssh.SSHClientConnectionOptions(
        client_version=CLIENT_VERSION, client_keys=None, agent_identities=None, config=None
    )


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, heard: bytearray | None) -> None:
    """Copy one direction of the relay until its end; the first HEARD bytes are kept in `heard`.
    A reset ends it as a close does: the sink hears the end of the stream either way, or
    asyncssh would wait for the check's timeout on a server that hung up long before."""
    with contextlib.suppress(ConnectionError):  # reset by the peer: an end all the same
        while data := await source.read(1 << 14):
            if heard is not None and len(heard) < HEARD:
                heard += data[: HEARD - len(heard)]
            sink.write(data)
            await sink.drain()
    with contextlib.suppress(OSError):  # the sink's end may be gone already
        if sink.can_write_eof():
            sink.write_eof()


def _identification(heard: bytes | bytearray) -> str | None:
    """The server's `SSH-...` line; RFC 4253 lets other lines come before it."""
    for line in heard.split(b"\n"):
        if line.startswith(b"SSH-"):
            return line.rstrip(b"\r").decode("ascii", "replace")
    return None


def _unfinished(heard: bytes | bytearray, what: str) -> str:
    """Why the exchange stopped, with what the server said if it was not SSH."""
    banner = _identification(heard)
    if banner is not None:
        return f"the SSH server ({banner}) {what}"
    if not heard:
        return f"the server said nothing and {what}"
    text = heard[:QUOTE_CHARS].decode("utf-8", "replace")
    more = "..." if len(heard) > QUOTE_CHARS else ""
    return f"not an SSH server: it said {text!r}{more} and {what}"


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
    return reason.rstrip(".")


def _words(ssh: dict[str, Any]) -> str:
    return f"{ssh['banner']}, {ssh['key_type']} {ssh['fingerprint']}"


def _detail(ssh: dict[str, Any]) -> list[str]:
    return [f"ssh: {ssh['address']} is {ssh['banner']}, host key {ssh['key_type']} {ssh['fingerprint']}"]


SCHEME = ProbeScheme(probe_ssh, facts="ssh", words=_words, detail=_detail)
