"""USD-M user-data events, built exactly as Binance sends them on the listenKey stream.

Every contract event carries ``ps`` (position side): ccxt.pro resolves ``BTCUSDT`` to the
perpetual rather than the spot market from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .accounts import ZERO, Account
from .instruments import fmt

if TYPE_CHECKING:  # pragma: no cover
    from .futures import AlgoOrder, FuturesOrder, FuturesTrade
    from .market import Market


def order_trade_update(order: FuturesOrder, exec_type: str, trade: FuturesTrade | None, now: int) -> dict[str, Any]:
    inst = order.inst
    o: dict[str, Any] = {
        "s": inst.symbol, "c": order.client_id, "S": order.side, "o": order.type, "f": order.tif,
        "q": inst.fq(order.qty), "p": inst.fp(order.price), "ap": fmt(order.avg, 5), "sp": inst.fp(order.stop),
        "x": exec_type, "X": order.status, "i": order.order_id,
        "l": inst.fq(trade.qty if trade else ZERO), "z": inst.fq(order.executed),
        "L": inst.fp(trade.price if trade else ZERO),
        "N": inst.margin_asset, "n": fmt(trade.commission, 8) if trade else "0",
        "T": trade.time if trade else order.update_time, "t": trade.trade_id if trade else 0,
        "b": "0", "a": "0", "m": trade.maker if trade else False, "R": order.reduce_only,
        "wt": order.working_type, "ot": order.orig_type, "ps": order.position_side,
        "cp": order.close_position, "pP": False, "si": 0, "ss": 0,
        "rp": fmt(trade.realized if trade else ZERO, 8), "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0",
    }
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": o["T"], "o": o}


def trade_lite(order: FuturesOrder, trade: FuturesTrade) -> dict[str, Any]:
    inst = order.inst
    return {"e": "TRADE_LITE", "E": trade.time, "T": trade.time, "s": inst.symbol, "q": inst.fq(order.qty),
            "p": inst.fp(order.price), "m": trade.maker, "c": order.client_id, "S": order.side,
            "L": inst.fp(trade.price), "l": inst.fq(trade.qty), "t": trade.trade_id, "i": order.order_id}


def account_update(acct: Account, reason: str, symbols: list[str], markets: dict[str, Market],
                   now: int) -> dict[str, Any]:
    """Balances of the margin assets involved and every position row of ``symbols``."""
    assets = sorted({markets[s].inst.margin_asset for s in symbols})
    balances = [{"a": a, "wb": fmt(acct.wallet(a).balance, 8), "cw": fmt(acct.wallet(a).balance, 8), "bc": "0"}
                for a in assets]
    positions = []
    for (sym, side), pos in sorted(acct.positions.items()):
        if sym not in symbols:
            continue
        m = markets[sym]
        positions.append({"s": sym, "pa": m.inst.fq(pos.amount), "ep": fmt(pos.entry, 8), "bep": fmt(pos.entry, 8),
                          "cr": fmt(pos.realized, 8), "up": fmt((m.mark_price - pos.entry) * pos.amount, 8),
                          "mt": "isolated" if acct.margin_type.get(sym) == "ISOLATED" else "cross",
                          "iw": "0", "ps": side, "ma": m.inst.margin_asset})
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": reason, "B": balances, "P": positions}}


def algo_update(algo: AlgoOrder, now: int) -> dict[str, Any]:
    inst, actual = algo.inst, algo.actual
    return {"e": "ALGO_UPDATE", "T": algo.update_time, "E": now, "o": {
        "caid": algo.client_id, "aid": algo.algo_id, "at": "CONDITIONAL", "o": algo.order_type, "s": inst.symbol,
        "S": algo.side, "ps": algo.position_side, "f": algo.tif, "q": inst.fq(algo.qty), "X": algo.status,
        "ai": str(actual.order_id) if actual else "", "ap": fmt(actual.avg if actual else ZERO, 5),
        "aq": inst.fq(actual.executed if actual else ZERO), "act": actual.type if actual else "0",
        "tp": inst.fp(algo.trigger), "p": inst.fp(algo.price), "V": "EXPIRE_MAKER", "wt": algo.working_type,
        "pm": "NONE", "cp": algo.close_position, "pP": False, "R": algo.reduce_only, "tt": algo.trigger_time,
        "gtd": 0}}
