"""Websocket market data -> TickData: one merged snapshot per symbol, emitted on every update.

Binance spreads what a foxtrot tick holds over several streams (bookTicker for the best
prices, the 24 h ticker for last/volume/OHLC, depth5 for five levels, and on USDⓈ-M the mark
price stream for mark/index/funding). Each update folds into a small mutable per-symbol state
and a *new* TickData is built from it, so an object handed to ``on_tick`` is never touched
again, without deep copies on the hot path.

Three choices a trader would otherwise trip over:

* no tick is emitted before the symbol's first 24 h ticker, so ``last_price`` is never 0;
* bookTicker and depth share Binance's order-book update id, so an update older than the
  one already shown cannot move level 1 back (a 100 ms depth snapshot would otherwise
  overwrite a fresher bookTicker and make the best price flicker);
* levels 2-5 come from the last depth snapshot, and only its levels strictly behind the
  current best price are shown there: when a real-time bookTicker moves level 1 past them,
  a stale level 2 above the best bid (a book that is not monotonic) would mislead anything
  that reads the depth, so the side shows fewer levels until the next snapshot;
* ``datetime`` is the exchange event time where the payload has one (spot bookTicker and
  spot depth have none: receive time), never earlier than the symbol's previous tick, so bar
  builders see a monotonic clock. ``localtime`` is the receive time. Both are UTC-aware.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Protocol

from foxtrot_hooks import Exchange, TickData

from foxtrot_binance.stream_client import MarketStreamClient, OnMessage
from foxtrot_binance.stream_messages import BookTicker, DepthUpdate, MarkPrice, PartialDepth, Ticker24h

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_now = datetime.now
_fromtimestamp = datetime.fromtimestamp
_new_tick = TickData.__new__
_BID_P = tuple(f"bid_price_{i}" for i in range(1, 6))
_BID_V = tuple(f"bid_volume_{i}" for i in range(1, 6))
_ASK_P = tuple(f"ask_price_{i}" for i in range(1, 6))
_ASK_V = tuple(f"ask_volume_{i}" for i in range(1, 6))


class StreamClient(Protocol):
    """What the manager needs from a stream client (MarketStreamClient, or a test double)."""

    def subscribe(self, streams: Iterable[str]) -> None: ...

    def unsubscribe(self, streams: Iterable[str]) -> None: ...

    async def close(self) -> None: ...


def streams_for(kind: str, symbol: str) -> list[str]:
    """The Binance streams one subscribed symbol needs."""
    s = symbol.lower()
    streams = [f"{s}@bookTicker", f"{s}@ticker", f"{s}@depth5@100ms"]
    if kind != "spot":
        streams.append(f"{s}@markPrice@1s")
    return streams


class _SymbolState:
    """The latest known value of every TickData field of one symbol, as a plain dict."""

    __slots__ = ("asks", "bids", "book_id", "depth_id", "extra", "fields", "last_time", "mark_time", "ticker")

    def __init__(self, adapter_name: str, symbol: str, exchange: Exchange) -> None:
        template = TickData(adapter_name=adapter_name, symbol=symbol, exchange=exchange, datetime=_EPOCH, name=symbol)
        # __init__ and __post_init__ ran once here, so the dict holds every field and vt_symbol
        self.fields: dict[str, Any] = dict(template.__dict__)
        self.extra: dict[str, Any] | None = None
        self.book_id = -1
        self.depth_id = -1  # update id of the last depth snapshot applied
        self.mark_time = -1  # event time of the last mark price applied
        self.bids: list[Any] = []  # the last depth snapshot's levels, (price, qty) best first
        self.asks: list[Any] = []
        self.last_time = _EPOCH
        """``datetime`` of the symbol's last tick: the next one is never earlier."""
        self.ticker: Ticker24h | None = None
        """The last 24 h ticker applied; none yet means no tick may be emitted."""


class MarketDataManager:
    """Per-symbol merge of public streams into TickData. Every method runs on the I/O loop."""

    def __init__(
        self,
        kind: str,
        adapter_name: str,
        exchange: Exchange,
        on_tick: Callable[[TickData], None],
        client_factory: Callable[[OnMessage], StreamClient] | None = None,
    ) -> None:
        self.kind = "spot" if kind == "spot" else "usdm"
        self.adapter_name = adapter_name
        self.exchange = exchange
        self._on_tick = on_tick
        self._states: dict[str, _SymbolState] = {}
        # the last exchange event time converted (ms, datetime): in a burst, many updates of
        # every symbol share one millisecond, and the conversion is a third of a tick's cost
        self._event_ms = -1
        self._event_time = _EPOCH
        self._handlers: dict[type[Any], Callable[[_SymbolState, Any], float | None]] = {
            BookTicker: _apply_book_ticker,
            Ticker24h: _apply_ticker,
            PartialDepth: _apply_partial_depth,
            DepthUpdate: _apply_depth_update,
            MarkPrice: _apply_mark_price,
        }
        if client_factory is None:
            kind_ = self.kind

            def client_factory(on_message: OnMessage) -> StreamClient:
                return MarketStreamClient(kind_, on_message, adapter_name=adapter_name)

        self.client = client_factory(self.on_message)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._states)

    def subscribe(self, symbol: str) -> None:
        """Start ticks for a Binance id (``BTCUSDT``); kept across reconnects until unsubscribed."""
        symbol = symbol.upper()
        if symbol in self._states:
            return
        self._states[symbol] = _SymbolState(self.adapter_name, symbol, self.exchange)
        self.client.subscribe(streams_for(self.kind, symbol))

    def unsubscribe(self, symbol: str) -> None:
        symbol = symbol.upper()
        if self._states.pop(symbol, None) is not None:
            self.client.unsubscribe(streams_for(self.kind, symbol))

    def last_price(self, symbol: str) -> float | None:
        """The subscribed symbol's last traded price (any thread: one dict read), None if unknown.

        Read from the merge state rather than recorded per tick, which would cost every tick
        a store for the rare market order that needs it."""
        state = self._states.get(symbol)
        return (state.fields["last_price"] or None) if state is not None else None

    async def close(self) -> None:
        self._states.clear()
        await self.client.close()

    # -- the hot path ------------------------------------------------------------------
    def on_message(self, channel: str, symbol: str, payload: Any) -> None:
        """Stream client callback: fold one payload in and emit the symbol's new tick."""
        state = self._states.get(symbol)
        if state is None:
            return
        handler = self._handlers.get(type(payload))
        if handler is None:
            return
        event_ms = handler(state, payload)
        if event_ms is None or state.ticker is None:
            return
        # one clock read straight into a datetime (cheaper than time.time() + fromtimestamp);
        # datetimes of one tzinfo compare as plain values, so the monotonic guard needs no floats
        local = _now(UTC)
        if event_ms:
            if event_ms == self._event_ms:
                when = self._event_time
            else:
                when = _fromtimestamp(event_ms / 1000.0, UTC)
                self._event_ms, self._event_time = event_ms, when
        else:
            when = local
        if when < state.last_time:
            when = state.last_time
        else:
            state.last_time = when
        fields = state.fields
        fields["localtime"] = local
        fields["datetime"] = when
        tick = _new_tick(TickData)  # a fresh object; __init__ would only re-set these fields
        tick.__dict__ = fields.copy()
        if state.extra is not None:
            tick.extra = dict(state.extra)
        self._on_tick(tick)


# Each handler updates the state and returns the exchange event time in ms (0: none in the
# payload), or None when the payload changed nothing worth a tick.


def _apply_book_ticker(state: _SymbolState, m: BookTicker) -> float | None:
    if m.update_id <= state.book_id:  # older, or the same update again (two sockets overlap in a swap)
        return None
    state.book_id = m.update_id
    f = state.fields
    bid, ask = m.bid_price, m.ask_price
    # only a best price that reached level 2 (a level consumed or pulled) invalidates levels
    # 2-5; the common updates (quantity only, or a better price) cost one comparison a side
    if f["bid_price_2"] >= bid:
        _levels_behind(f, state.bids, bid, _BID_P, _BID_V, True)
    if 0.0 < f["ask_price_2"] <= ask:
        _levels_behind(f, state.asks, ask, _ASK_P, _ASK_V, False)
    f["bid_price_1"] = bid
    f["bid_volume_1"] = m.bid_qty
    f["ask_price_1"] = ask
    f["ask_volume_1"] = m.ask_qty
    return m.event_time


def _levels_behind(
    f: dict[str, Any], levels: list[Any], best: float, prices: tuple[str, ...], volumes: tuple[str, ...], bids: bool
) -> None:
    """Levels 2-5: the snapshot's levels strictly behind ``best`` (lower bids, higher asks)."""
    i = 1
    for price, qty in levels:
        if (price < best) if bids else (price > best):
            f[prices[i]] = price
            f[volumes[i]] = qty
            i += 1
            if i == 5:
                return
    while i < 5:
        f[prices[i]] = f[volumes[i]] = 0.0
        i += 1


def _apply_levels(state: _SymbolState, update_id: int, bids: list[Any], asks: list[Any]) -> bool:
    """False for a snapshot already applied or older than it (both sockets of a swap deliver it)."""
    if update_id <= state.depth_id:
        return False
    state.depth_id = update_id
    state.bids, state.asks = bids, asks
    f = state.fields
    if update_id < state.book_id:  # level 1 already shows a fresher book: fill in behind it
        _levels_behind(f, bids, f["bid_price_1"], _BID_P, _BID_V, True)
        _levels_behind(f, asks, f["ask_price_1"], _ASK_P, _ASK_V, False)
        return True
    state.book_id = update_id
    for side, prices, volumes in ((bids, _BID_P, _BID_V), (asks, _ASK_P, _ASK_V)):
        n = len(side)
        for i in range(5):
            if i < n:
                f[prices[i]], f[volumes[i]] = side[i]
            else:
                f[prices[i]] = f[volumes[i]] = 0.0
    return True


def _apply_partial_depth(state: _SymbolState, m: PartialDepth) -> float | None:
    return 0 if _apply_levels(state, m.last_update_id, m.bids, m.asks) else None


def _apply_depth_update(state: _SymbolState, m: DepthUpdate) -> float | None:
    return m.event_time if _apply_levels(state, m.final_update_id, m.bids, m.asks) else None


def _apply_ticker(state: _SymbolState, m: Ticker24h) -> float | None:
    last = state.ticker
    # older, or the same frame again: during a make-before-break swap both sockets deliver it
    if last is not None and (m.event_time < last.event_time or m == last):
        return None
    state.ticker = m
    f = state.fields
    f["last_price"] = m.last_price
    f["last_volume"] = m.last_qty
    f["volume"] = m.volume
    f["turnover"] = m.quote_volume
    f["open_price"] = m.open_price
    f["high_price"] = m.high_price
    f["low_price"] = m.low_price
    if m.prev_close is not None:
        f["pre_close"] = m.prev_close
    else:  # USDⓈ-M has no ``x``; round off the float subtraction's noise (ticks are >= 1e-8)
        f["pre_close"] = round(m.last_price - m.price_change, 10)
    return m.event_time


def _apply_mark_price(state: _SymbolState, m: MarkPrice) -> float | None:
    if m.event_time <= state.mark_time:  # seen again or older: a swap's overlap or the lagging socket
        return None
    state.mark_time = m.event_time
    state.extra = {
        "mark_price": m.mark_price,
        "index_price": m.index_price,
        "estimated_settle_price": m.estimated_settle_price,
        "funding_rate": m.funding_rate,
        "next_funding_time": datetime.fromtimestamp(m.next_funding_time / 1000.0, UTC),
    }
    return m.event_time
