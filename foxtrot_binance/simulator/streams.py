"""Builders of Binance's market-stream payloads (web-socket-streams.md; spec §5).

Pure functions: the market model decides *when* something is published, these decide *what
it looks like*. Spot and USD-M differ in small ways ccxt relies on to tell the markets apart
(spot bookTicker has no ``e``/``T``/``E``; futures depth carries ``pu``), so every builder
takes the market kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .instruments import Instrument, fmt
from .klines import Bar

Levels = list[list[str]]


def levels(inst: Instrument, rows: Iterable[tuple[Decimal, Decimal]]) -> Levels:
    return [[inst.fp(p), inst.fq(q)] for p, q in rows]


def book_ticker(inst: Instrument, update_id: int, bid: tuple[Decimal, Decimal], ask: tuple[Decimal, Decimal],
                now: int) -> dict[str, Any]:
    if inst.kind == "spot":
        return {"u": update_id, "s": inst.symbol, "b": inst.fp(bid[0]), "B": inst.fq(bid[1]),
                "a": inst.fp(ask[0]), "A": inst.fq(ask[1])}
    return {"e": "bookTicker", "u": update_id, "E": now, "T": now - 1, "s": inst.symbol,
            "b": inst.fp(bid[0]), "B": inst.fq(bid[1]), "a": inst.fp(ask[0]), "A": inst.fq(ask[1])}


def depth_update(inst: Instrument, first: int, last: int, prev: int, bids: Levels, asks: Levels,
                 now: int) -> dict[str, Any]:
    if inst.kind == "spot":
        return {"e": "depthUpdate", "E": now, "s": inst.symbol, "U": first, "u": last, "b": bids, "a": asks}
    return {"e": "depthUpdate", "E": now, "T": now - 1, "s": inst.symbol, "U": first, "u": last, "pu": prev,
            "b": bids, "a": asks}


def partial_depth(inst: Instrument, update_id: int, prev: int, bids: Levels, asks: Levels, now: int) -> dict[str, Any]:
    if inst.kind == "spot":
        return {"lastUpdateId": update_id, "bids": bids, "asks": asks}
    return {"e": "depthUpdate", "E": now, "T": now - 1, "s": inst.symbol, "U": prev + 1 if prev else update_id,
            "u": update_id, "pu": prev, "b": bids, "a": asks}


def trade(inst: Instrument, trade_id: int, price: Decimal, qty: Decimal, buyer_maker: bool, ts: int,
          now: int) -> dict[str, Any]:
    msg: dict[str, Any] = {"e": "trade", "E": now, "s": inst.symbol, "t": trade_id, "p": inst.fp(price),
                           "q": inst.fq(qty), "T": ts, "m": buyer_maker}
    if inst.kind == "spot":
        msg["M"] = True
    else:
        msg["X"] = "MARKET"
    return msg


def agg_trade(inst: Instrument, agg_id: int, trade_id: int, price: Decimal, qty: Decimal, buyer_maker: bool,
              ts: int, now: int) -> dict[str, Any]:
    msg: dict[str, Any] = {"e": "aggTrade", "E": now, "s": inst.symbol, "a": agg_id, "p": inst.fp(price),
                           "q": inst.fq(qty), "f": trade_id, "l": trade_id, "T": ts, "m": buyer_maker}
    if inst.kind == "spot":
        msg["M"] = True
    return msg


def kline(inst: Instrument, interval: str, bar: Bar, closed: bool, now: int) -> dict[str, Any]:
    return {"e": "kline", "E": now, "s": inst.symbol, "k": {
        "t": bar.open_time, "T": bar.close_time, "s": inst.symbol, "i": interval,
        "f": bar.first_trade, "L": bar.last_trade, "o": inst.fp(bar.open), "c": inst.fp(bar.close),
        "h": inst.fp(bar.high), "l": inst.fp(bar.low), "v": inst.fq(bar.volume), "n": bar.trades, "x": closed,
        "q": fmt(bar.quote_volume, 8), "V": inst.fq(bar.taker_base), "Q": fmt(bar.taker_quote, 8), "B": "0"}}


def mini_ticker(inst: Instrument, s: dict[str, Any], now: int) -> dict[str, Any]:
    return {"e": "24hrMiniTicker", "E": now, "s": inst.symbol, "c": s["lastPrice"], "o": s["openPrice"],
            "h": s["highPrice"], "l": s["lowPrice"], "v": s["volume"], "q": s["quoteVolume"]}


def ticker(inst: Instrument, s: dict[str, Any], now: int) -> dict[str, Any]:
    msg: dict[str, Any] = {"e": "24hrTicker", "E": now, "s": inst.symbol, "p": s["priceChange"],
                           "P": s["priceChangePercent"], "w": s["weightedAvgPrice"]}
    if inst.kind == "spot":
        msg["x"] = s["prevClosePrice"]
    msg.update({"c": s["lastPrice"], "Q": s["lastQty"]})
    if inst.kind == "spot":
        msg.update({"b": s["bidPrice"], "B": s["bidQty"], "a": s["askPrice"], "A": s["askQty"]})
    msg.update({"o": s["openPrice"], "h": s["highPrice"], "l": s["lowPrice"], "v": s["volume"],
                "q": s["quoteVolume"], "O": s["openTime"], "C": s["closeTime"], "F": s["firstId"],
                "L": s["lastId"], "n": s["count"]})
    return msg


def mark_price(inst: Instrument, mark: Decimal, index: Decimal, rate: Decimal, next_funding: int,
               now: int) -> dict[str, Any]:
    return {"e": "markPriceUpdate", "E": now, "s": inst.symbol, "p": fmt(mark, 8), "i": fmt(index, 8),
            "P": fmt(index, 8), "r": fmt(rate, 8), "T": next_funding}
