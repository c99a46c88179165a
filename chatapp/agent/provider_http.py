"""The HTTP client a worker reaches its model provider with: the official
client's aiohttp transport, reading a streamed body at a steady pace.

A streamed reply is a token every few tens of milliseconds for seconds on
end, and a worker holds hundreds of them. Read token by token, each one
costs a full trip through Python: the event loop's wake-up, httpcore's
pure-Python HTTP/1.1 parser, a generator per layer, then an event for the
runner, the turn bus and the browser. So:

- aiohttp (the transport behind the official `DefaultAioHttpClient`) reads
  the socket and decodes the chunked body in C (llhttp) into a buffer, with
  the connection pool, timeouts and the client's error types unchanged;
- the body is taken from that buffer at most once per `interval`: whatever
  arrived in the meantime, one token or forty, travels on as one piece, so
  the per-token work left in Python is aiohttp's buffer append. A reply's
  text reaches the person at most `interval` later than the model wrote it.
  A model slower than the interval is read as each token arrives, since
  there is nothing to gather (unless the worker is loaded: see below);
- while the model writes faster than that, the socket itself rests between
  reads (see `PacedResponseStream`), so the tokens of an interval cost one
  wake-up of the event loop, not one each.

The first read of a response is never held, so the time to the first token
is unchanged; nor is the end of the body, once aiohttp has it (while the
socket rests, the end may wait in the kernel until the next read).

Under load the interval stretches (see `ReadPace`): a worker reads all its
open streams about `reads_per_second` times a second in all (its share of
the machine's budget, `Settings.stream_reads_per_worker`), so with
hundreds of slow streams open each one's tokens travel in pieces of a few,
a wake-up and a trip through the pipeline for several tokens, not each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx2
from aiohttp import ClientResponse
from openai import DEFAULT_TIMEOUT
from openai._vendor.httpx_aiohttp import AiohttpTransport, Httpx2AiohttpClient
from openai._vendor.httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

# One worker may stream this many model calls at once; aiohttp's own default
# (100) would cap a worker's turns in flight far below what its CPU holds.
MAX_CONNECTIONS = 10_000
# A read that carried this many events or more marks a stream running faster
# than the read interval; see PacedResponseStream.
BUSY_EVENTS = 3
# However many streams are open, each is read at least this often (seconds).
LONGEST_STRETCH = 1.0
# The interval stretches only once the budget would at least double it: a
# little longer than a slow model's gap gathers about one token a read, and
# costs a hold and a pause besides.
STRETCH_FROM = 2.0
# A read that carried one event and came this share of the interval or more
# after the one before marks a stream slower than the interval; see
# PacedResponseStream.
SLOW_GAP = 0.75


class ReadPace:
    """How often each open stream of one client is read: every `base`
    seconds, or less often while more streams are open than
    `reads_per_second` allows at twice that interval (500 a second at
    100 ms: from 100 streams, each read every 0.2 s; 150 open are each read
    every 0.3 s). What one read costs (a wake-up, the runner's event, a
    publish, an SSE write) is the same for one token or ten, so past that
    point a worker's cost grows with its streams' reads, held near the
    budget, rather than with their tokens.
    A stretched interval stops at `LONGEST_STRETCH`, so text still moves
    every second at any load. `reads_per_second` of 0 keeps it at `base`, and
    a `base` of 0 (no pacing) is never stretched.

    While stretched, every stream is held and paused between reads, even one
    slower than the interval: a loaded worker reads on schedule. Measured
    against a model writing a token every 100 ms, a budget that gathered
    about 1.5 tokens a read cost more than reading each token as it came
    (the hold's timer and the pause are paid per read), and one that
    gathered about 3 cost a fifth less; hence the stretch starts at twice
    the base (`STRETCH_FROM`), and a budget of 500, which reaches that at
    100 streams a worker, well before the worker is busy. (That was measured
    at 500 for each of 2 workers; the budget is now the machine's, split
    among its workers by `Settings.stream_reads_per_worker`.)"""

    def __init__(self, base: float, reads_per_second: float = 0) -> None:
        self.base = base
        self.reads_per_second = reads_per_second
        self.open = 0  # streams being read now

    @property
    def interval(self) -> float:
        if self.reads_per_second <= 0 or self.base <= 0:  # no budget, or no pacing at all
            return self.base
        stretch = self.open / self.reads_per_second
        if stretch < STRETCH_FROM * self.base:
            return self.base
        return max(self.base, min(stretch, LONGEST_STRETCH))


class PacedResponseStream(AiohttpResponseStream):
    """A response body read from aiohttp's buffer at most once per `interval`,
    while the model writes faster than that.

    A stream slower than the interval (a read carried one event, counted by
    its blank line so that `event:` and `data:` fields count once, and it
    came `SLOW_GAP` of the interval or more after the read before) is read as
    its events arrive: holding it would gather nothing, since each read would
    still carry one event, and the hold's timer would wake the event loop a
    second time for every token. The first read is never held and the second
    always is, so the pace is known before a stream is read as it comes; a
    read that carries more than one event starts holding again.

    While a held stream runs well ahead of the interval (a read carried
    about `BUSY_EVENTS` events or more; blank lines are counted, so a
    multi-line event counts for more), the transport is paused between reads (asyncio's
    `Transport.pause_reading`). Over plain TCP the events then wait in the
    kernel and arrive in one `recv`, instead of waking the event loop once
    each. Over TLS asyncio's SSL layer keeps reading the socket into its own
    buffer while the application side is paused, so each arrival still wakes
    the loop; what is saved there is aiohttp's work per arrival. A held
    stream with fewer events a read is left reading, since pausing it would
    save little and cost two system calls. A transport that
    aiohttp's own flow control has paused (its buffer is full), or one
    without flow control, is left as it is. aiohttp's read timeout keeps
    running through a pause, which lasts at most one interval (up to
    `LONGEST_STRETCH` on a loaded worker)."""

    def __init__(self, aiohttp_response: ClientResponse, pace: ReadPace) -> None:
        super().__init__(aiohttp_response)
        self._pace = pace
        self._counted = False  # among the pace's open streams

    def _count(self, opened: bool) -> None:
        if opened != self._counted:
            self._counted = opened
            self._pace.open += 1 if opened else -1

    async def aclose(self) -> None:
        self._count(False)  # closed before its end was read, or without a read
        await super().aclose()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._count(True)
        try:
            loop = asyncio.get_running_loop()
            content = self._aiohttp_response.content
            connection = self._aiohttp_response.connection
            transport = connection.transport if connection is not None else None
            next_read, busy, hold, last_read = 0.0, False, True, None
            with map_aiohttp_exceptions():
                while True:
                    wait = next_read - loop.time()
                    if hold and wait > 0 and not content.is_eof():  # the end is never held once it has arrived
                        await self._hold(wait, transport if busy else None)
                    try:
                        data = await content.readany()
                    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
                        # A broken connection, not a timeout (the vendored map says ConnectTimeout).
                        raise httpx2.ReadError(str(error) or type(error).__name__) from error
                    if not data:
                        return
                    now, interval = loop.time(), self._pace.interval
                    stretched = interval > self._pace.base  # a loaded worker: every stream read on its schedule
                    busy = stretched or data.count(b"\n") >= 2 * BUSY_EVENTS  # an event ends in a blank line
                    events = data.count(b"\n\n") + data.count(b"\r\n\r\n")  # one blank line each, however many fields
                    hold = stretched or last_read is None or events > 1 or now - last_read < SLOW_GAP * interval
                    last_read, next_read = now, now + interval
                    yield data
        finally:
            self._count(False)

    @staticmethod
    async def _hold(seconds: float, transport: asyncio.Transport | None) -> None:
        paused = False
        if transport is not None and not transport.is_closing():
            try:
                if transport.is_reading():
                    transport.pause_reading()
                    paused = True
            except (AttributeError, NotImplementedError, RuntimeError):
                pass  # no flow control on this transport (aiohttp tolerates the same)
        try:
            await asyncio.sleep(seconds)
        finally:
            if paused and not transport.is_closing():  # type: ignore[union-attr]
                transport.resume_reading()  # type: ignore[union-attr]


class PacedAiohttpTransport(AiohttpTransport):
    """Paces streamed (server-sent event) bodies only: a plain JSON answer
    or an error body is read as it comes."""

    def __init__(self, pace: ReadPace, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.pace = pace

    def get_client(self) -> aiohttp.ClientSession:
        """The vendored transport's session, but with `trust_env`: proxies
        from HTTP(S)_PROXY / NO_PROXY apply, as they do on httpx's default."""
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=self.limits.keepalive_expiry,
                                         ssl=self.ssl_context)
        return aiohttp.ClientSession(connector=connector, trust_env=True)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        streamed = response.headers.get("content-type", "").startswith("text/event-stream")
        if streamed and isinstance(response.stream, AiohttpResponseStream):
            response.stream = PacedResponseStream(response.stream._aiohttp_response, self.pace)
        return response


def provider_http_client(interval_seconds: float, reads_per_second: float = 0) -> httpx2.AsyncClient:
    """What `AsyncOpenAI(http_client=...)` gets: the client's own defaults
    (timeouts, redirects) on the paced aiohttp transport."""
    limits = httpx2.Limits(max_connections=MAX_CONNECTIONS)
    transport = PacedAiohttpTransport(ReadPace(interval_seconds, reads_per_second), limits=limits)
    return Httpx2AiohttpClient(transport=transport, timeout=DEFAULT_TIMEOUT, limits=limits, follow_redirects=True)
