"""The private websocket itself: open it, authenticate, read events, keep the listenKey alive.

Binance's private stream is one socket per market kind:

* spot: the WebSocket API (``ws-api/v3``); one signed ``userDataStream.subscribe.signature``
  request, then events arrive on the same socket wrapped as ``{subscriptionId, event}``;
* USDⓈ-M: ``POST /fapi/v1/listenKey`` (API key only), a socket on that key, raw events, and a
  ``PUT`` keep-alive well inside the key's 60 minutes.

The socket is read with aiohttp and decoded with msgspec on the adapter's I/O loop, like the
market streams. URLs and the request signature come from the ccxt client, so the simulator,
testnet, demo and live endpoints, and HMAC, RSA and Ed25519 keys, work exactly as for REST.
A dead peer is found by aiohttp's ping heartbeat; a frame that is not JSON is logged and
skipped, and the stream goes on. Nothing here ever logs a URL, a request or a reply: the
listenKey is in the URL and the API key and signature in the request.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from foxtrot_binance.binance_mappings import Outcome, classify_error
from foxtrot_binance.logs import OccasionalLog
from foxtrot_binance.market_kind import MarketKind

Event = dict[str, Any]
OnEvent = Callable[[Event], "str | None"]
"""Applies one event; returns why the stream must be reopened, or None."""

SUBSCRIBE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
LISTEN_KEY_KEEPALIVE_S = 30 * 60.0
"""Binance keeps a listenKey 60 minutes after its last keep-alive; ccxt renews every 20."""
LISTEN_KEY_REUSE_S = 50 * 60.0
"""A key renewed less than this long ago is reused to reconnect, without asking REST for one:
a socket that drops during a REST ban comes back at once instead of after the ban."""
KEEPALIVE_RETRY_S = 60.0


class SocketRefused(ConnectionError):
    """The server answered the websocket handshake with an HTTP error (a bad listenKey, say)."""


class SubscriptionThrottled(SocketRefused):
    """Binance refused the private socket with 429 or 418: ask again only after ``until_ms``
    (Binance's clock) or ``retry_after_s``; knocking during a ban lengthens it."""

    def __init__(self, status: int, reason: str, *, until_ms: int | None = None, retry_after_s: float | None = None) -> None:
        self.status = status
        self.until_ms = until_ms
        self.retry_after_s = retry_after_s
        super().__init__(f"{'IP banned' if status == 418 else 'rate limited'} by Binance ({status}): {reason}")


class UserSocket:
    """One private websocket session at a time; ``open`` again after it ended."""

    def __init__(self, kind: MarketKind, exchange: Any, rest: Any, *, heartbeat: float, proxy: str | None, log: Any) -> None:
        self.kind = kind
        self.exchange = exchange
        self.rest = rest
        self.heartbeat = heartbeat
        self.proxy = proxy
        self._log = log
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._decode = msgspec.json.Decoder().decode
        self._encode = msgspec.json.Encoder().encode
        self._bad_frame_log = OccasionalLog()
        self._listen_key: str | None = None  # never logged: it is a bearer credential
        self._renewed_at = 0.0

    async def open(self) -> None:
        """Connect and authenticate; returns once events will flow (spot: subscription
        acknowledged; USDⓈ-M: socket open on a valid listenKey). A refused subscription raises
        the ccxt error REST would give for the same code; a throttled one SubscriptionThrottled;
        a socket that cannot be opened ConnectionError."""
        await self.close()
        if self._http is None:
            self._http = aiohttp.ClientSession()
        if self.kind is MarketKind.SPOT:
            self._ws = await self._connect(self.exchange.urls["api"]["ws"]["ws-api"]["spot"])
            await self._subscribe_spot()
        else:
            listen_key = await self._obtain_listen_key()
            try:
                self._ws = await self._connect(self.exchange.get_private_ws_url("linear", listen_key))
            except SubscriptionThrottled:
                raise
            except SocketRefused:
                self.forget_listen_key()  # the key may be what was refused: ask for one next time
                raise
            # a network failure says nothing about the key: it is tried again (no REST needed)

    @property
    def needs_rest_to_open(self) -> bool:
        """Whether opening needs a REST call (a USDⓈ-M listenKey POST), which the weight gate
        holds back during a 429 pause or a 418 ban. The spot subscription is tried even then:
        fills keep flowing if the WebSocket API still serves us, and if it refuses too, its
        418 names the ban's end and nothing is asked again before it."""
        return self.kind is MarketKind.USDM and not self._reusable_listen_key()

    def forget_listen_key(self) -> None:
        self._listen_key = None

    async def read(self, on_event: OnEvent) -> None:
        """Deliver events until the socket ends; always ends by raising ConnectionError."""
        ws = self._ws
        if ws is None:
            raise ConnectionError("user data stream is not open")
        spot = self.kind is MarketKind.SPOT
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT or message.type is aiohttp.WSMsgType.BINARY:
                try:
                    frame = self._decode(message.data)
                    event = frame.get("event") if spot else frame
                except (msgspec.DecodeError, AttributeError) as exc:
                    self._bad_frame(exc)
                    continue
                if not isinstance(event, dict):
                    if spot and isinstance(frame, dict) and "id" in frame:
                        self._log.debug("user-data reply to request {} ignored", frame.get("id"))
                    else:
                        self._bad_frame(ValueError("not an event object"))
                    continue
                ending = on_event(event)
                if ending is not None:
                    if event.get("e") == "listenKeyExpired":
                        self.forget_listen_key()
                    raise ConnectionError(ending)
            elif message.type is aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"user data socket failed: {type(ws.exception()).__name__}")
            else:  # CLOSE, CLOSING, CLOSED (aiohttp's heartbeat closes a socket whose pong is overdue)
                raise ConnectionError(f"user data socket closed (code {ws.close_code})")

    async def keep_alive(self) -> None:
        """USDⓈ-M: renew the listenKey until cancelled; a refusal raises (reconnect with a new
        key). Spot needs nothing: waits forever."""
        if self.kind is MarketKind.SPOT:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(max(0.0, self._renewed_at + LISTEN_KEY_KEEPALIVE_S - time.monotonic()))
            try:
                await self.rest.call("fapiPrivatePutListenKey", weight=1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # a throttled or unanswered renewal is tried again while the key still has
                # time; only a key Binance disowns (-1125) or one past its life ends the socket
                if _disowned(exc) or time.monotonic() - self._renewed_at >= LISTEN_KEY_REUSE_S:
                    self.forget_listen_key()
                    raise
                self._log.warning("listenKey keep-alive failed ({}); retrying in {:.0f} s", type(exc).__name__,
                                  KEEPALIVE_RETRY_S)
                await asyncio.sleep(KEEPALIVE_RETRY_S)
                continue
            self._renewed_at = time.monotonic()

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            try:
                await ws.close()
            except Exception as exc:  # closing a broken socket must not hide why it broke
                self._log.debug("closing the user data socket failed: {}", type(exc).__name__)

    async def shutdown(self) -> None:
        await self.close()
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    # -- opening -------------------------------------------------------------------------
    async def _connect(self, url: str) -> aiohttp.ClientWebSocketResponse:
        """aiohttp's errors name the URL, and a USDⓈ-M URL holds the listenKey: the error
        raised here says what failed without it."""
        assert self._http is not None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                return await self._http.ws_connect(url, autoping=True, heartbeat=self.heartbeat, proxy=self.proxy)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (418, 429):
                retry_after = (exc.headers or {}).get("Retry-After")
                raise SubscriptionThrottled(
                    exc.status, "the socket was refused",
                    retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
                ) from None
            raise SocketRefused(f"user data socket refused (HTTP {exc.status})") from None
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"user data socket could not connect ({type(exc).__name__})") from None
        except TimeoutError:
            raise ConnectionError(f"user data socket did not connect within {CONNECT_TIMEOUT_S:.0f} s") from None

    async def _subscribe_spot(self) -> None:
        assert self._ws is not None
        request_id = str(next(self._ids))
        params = self.exchange.sign_params({})  # apiKey, recvWindow, timestamp, signature: never logged
        request = {"id": request_id, "method": "userDataStream.subscribe.signature", "params": params}
        await self._ws.send_str(self._encode(request).decode())  # a text frame, as Binance requires
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
            while True:
                message = await self._ws.receive()
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    raise ConnectionError(f"user data socket closed while subscribing (code {self._ws.close_code})")
                try:
                    reply = self._decode(message.data)
                except msgspec.DecodeError as exc:
                    self._bad_frame(exc)
                    continue
                if isinstance(reply, dict) and str(reply.get("id")) == request_id:
                    break
        result = reply.get("result")
        if reply.get("status") == 200 and isinstance(result, dict) and isinstance(result.get("subscriptionId"), int):
            return
        self._raise_refusal(reply)

    async def _obtain_listen_key(self) -> str:
        """The current key while it is surely valid, else a POST (which returns the same key
        when Binance still has it, with its validity extended)."""
        import ccxt

        if self._reusable_listen_key():
            assert self._listen_key is not None
            return self._listen_key
        reply = await self.rest.call("fapiPrivatePostListenKey", weight=1)
        key = reply.get("listenKey") if isinstance(reply, dict) else None
        if not isinstance(key, str) or not key:
            raise ccxt.AuthenticationError("Binance returned no listenKey")
        self._listen_key, self._renewed_at = key, time.monotonic()
        return key

    def _reusable_listen_key(self) -> bool:
        return self._listen_key is not None and time.monotonic() - self._renewed_at < LISTEN_KEY_REUSE_S

    def _raise_refusal(self, reply: dict[str, Any]) -> None:
        """A refused subscription as the ccxt error REST would give for the same code."""
        import ccxt

        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        status = reply.get("status") if isinstance(reply.get("status"), int) else 400
        if status in (418, 429):
            raise SubscriptionThrottled(status, str(error.get("msg") or "no reason given"), until_ms=_ban_end_ms(error))
        body = self._encode(error).decode()
        self.exchange.handle_errors(status, "", "ws-api userDataStream.subscribe.signature", "", {}, body, error, {}, {})
        raise ccxt.ExchangeError(f"user data subscription refused: {error.get('msg') or 'no reason given'}")

    @property
    def bad_frames(self) -> int:
        return self._bad_frame_log.count

    def _bad_frame(self, exc: Exception) -> None:
        if self._bad_frame_log.due():
            self._log.warning("malformed user-data frame skipped ({}; {} so far)", type(exc).__name__, self.bad_frames)


_BANNED_UNTIL = re.compile(r"banned until (\d{12,14})")


def _ban_end_ms(error: dict[str, Any]) -> int | None:
    """Binance's end of a WebSocket API ban or pause: ``data.retryAfter`` (ms), else the time in
    the message ("IP banned until 1700000000000"), else unknown."""
    data = error.get("data")
    retry_after = data.get("retryAfter") if isinstance(data, dict) else None
    if isinstance(retry_after, int) and retry_after > 0:
        return retry_after
    match = _BANNED_UNTIL.search(str(error.get("msg") or ""))
    return int(match.group(1)) if match else None


def _disowned(exc: BaseException) -> bool:
    """Binance says the key (or the API key behind it) is not valid: renewing cannot help."""
    import ccxt

    return isinstance(exc, ccxt.BaseError) and classify_error(exc).outcome is Outcome.AUTH
