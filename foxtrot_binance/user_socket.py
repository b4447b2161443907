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
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from foxtrot_binance.market_kind import MarketKind

Event = dict[str, Any]
OnEvent = Callable[[Event], "str | None"]
"""Applies one event; returns why the stream must be reopened, or None."""

SUBSCRIBE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
LISTEN_KEY_KEEPALIVE_S = 30 * 60.0
"""Binance keeps a listenKey 60 minutes after its last keep-alive; ccxt renews every 20."""
BAD_FRAME_LOG_INTERVAL_S = 1.0


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
        self.bad_frames = 0
        self._bad_logged_at = 0.0

    async def open(self) -> None:
        """Connect and authenticate; returns once events will flow (spot: subscription
        acknowledged; USDⓈ-M: socket open on a valid listenKey). Raises ccxt errors for
        refusals, so callers classify them like REST errors."""
        await self.close()
        if self._http is None:
            self._http = aiohttp.ClientSession()
        if self.kind is MarketKind.SPOT:
            self._ws = await self._connect(self.exchange.urls["api"]["ws"]["ws-api"]["spot"])
            await self._subscribe_spot()
        else:
            listen_key = await self._listen_key()
            self._ws = await self._connect(self.exchange.get_private_ws_url("linear", listen_key))

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
            await asyncio.sleep(LISTEN_KEY_KEEPALIVE_S)
            await self.rest.call("fapiPrivatePutListenKey", weight=1)

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
            raise ConnectionError(f"user data socket refused (HTTP {exc.status})") from None
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

    async def _listen_key(self) -> str:
        import ccxt

        reply = await self.rest.call("fapiPrivatePostListenKey", weight=1)
        key = reply.get("listenKey") if isinstance(reply, dict) else None
        if not isinstance(key, str) or not key:
            raise ccxt.AuthenticationError("Binance returned no listenKey")
        return key

    def _raise_refusal(self, reply: dict[str, Any]) -> None:
        """A refused subscription as the ccxt error REST would give for the same code."""
        import ccxt

        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        status = reply.get("status") if isinstance(reply.get("status"), int) else 400
        body = self._encode(error).decode()
        self.exchange.handle_errors(status, "", "ws-api userDataStream.subscribe.signature", "", {}, body, error, {}, {})
        raise ccxt.ExchangeError(f"user data subscription refused: {error.get('msg') or 'no reason given'}")

    def _bad_frame(self, exc: Exception) -> None:
        """Counted, and logged at most once a second: a broken feed must not flood the log."""
        self.bad_frames += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= BAD_FRAME_LOG_INTERVAL_S:
            self._bad_logged_at = now
            self._log.warning("malformed user-data frame skipped ({}; {} so far)", type(exc).__name__, self.bad_frames)
