"""Enums of the foxtrot data model.

Member names and values are exactly the foxtrot platform's, so the host's engines, storage
and UIs consume adapter output unchanged (``Direction.LONG.value == "LONG"``).
"""

from __future__ import annotations

from enum import Enum


class Direction(Enum):
    """Side of an order or trade, or of a position (NET: one signed position per symbol)."""

    LONG = "LONG"
    SHORT = "SHORT"
    NET = "NET"


class Offset(Enum):
    """Whether an order opens or closes a position; NONE where the venue has no such notion."""

    NONE = ""
    OPEN = "OPEN"
    CLOSE = "CLOSE"
    CLOSETODAY = "CLOSETODAY"
    CLOSEYESTERDAY = "CLOSEYESTERDAY"


class Status(Enum):
    """Order status. SUBMITTING, NOTTRADED and PARTTRADED are the active states."""

    SUBMITTING = "SUBMITTING"
    NOTTRADED = "NOTTRADED"
    PARTTRADED = "PARTTRADED"
    ALLTRADED = "ALLTRADED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class Product(Enum):
    """Product class of a contract."""

    EQUITY = "EQUITY"
    FUTURES = "FUTURES"
    OPTION = "OPTION"
    INDEX = "INDEX"
    FOREX = "FOREX"
    SPOT = "SPOT"
    ETF = "ETF"
    BOND = "BOND"
    WARRANT = "WARRANT"
    SPREAD = "SPREAD"
    FUND = "FUND"
    CFD = "CFD"
    SWAP = "SWAP"


class OrderType(Enum):
    """Order type. FAK is fill-and-kill (IOC); STOP triggers at the request price."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    FAK = "FAK"
    FOK = "FOK"
    RFQ = "RFQ"
    ETF = "ETF"


class OptionType(Enum):
    CALL = "CALL"
    PUT = "PUT"


class Exchange(Enum):
    """Trading venue. Crypto venues at the end; EUREX's value is "EUX" as on the platform."""

    # China
    CFFEX = "CFFEX"
    SHFE = "SHFE"
    CZCE = "CZCE"
    DCE = "DCE"
    INE = "INE"
    GFEX = "GFEX"
    SSE = "SSE"
    SZSE = "SZSE"
    BSE = "BSE"
    SHHK = "SHHK"
    SZHK = "SZHK"
    SGE = "SGE"
    WXE = "WXE"
    CFETS = "CFETS"
    XBOND = "XBOND"

    # Global
    SMART = "SMART"
    NYSE = "NYSE"
    NASDAQ = "NASDAQ"
    ARCA = "ARCA"
    EDGEA = "EDGEA"
    ISLAND = "ISLAND"
    BATS = "BATS"
    IEX = "IEX"
    AMEX = "AMEX"
    TSE = "TSE"
    NYMEX = "NYMEX"
    COMEX = "COMEX"
    GLOBEX = "GLOBEX"
    IDEALPRO = "IDEALPRO"
    CME = "CME"
    ICE = "ICE"
    SEHK = "SEHK"
    HKFE = "HKFE"
    SGX = "SGX"
    CBOT = "CBOT"
    CBOE = "CBOE"
    CFE = "CFE"
    DME = "DME"
    EUREX = "EUX"
    APEX = "APEX"
    LME = "LME"
    BMD = "BMD"
    TOCOM = "TOCOM"
    EUNX = "EUNX"
    KRX = "KRX"
    OTC = "OTC"
    IBKRATS = "IBKRATS"

    # Crypto
    BINANCE = "BINANCE"
    BITMEX = "BITMEX"
    OKX = "OKX"
    DERIBIT = "DERIBIT"
    BYBIT = "BYBIT"
    GATEIO = "GATEIO"
    COINBASE = "COINBASE"
    BITGET = "BITGET"
    MEXC = "MEXC"
    GATE = "GATE"
    KUCOIN = "KUCOIN"
    BINANCEUSDM = "BINANCEUSDM"

    # Special
    LOCAL = "LOCAL"
    GLOBAL = "GLOBAL"


class Currency(Enum):
    USD = "USD"
    HKD = "HKD"
    CNY = "CNY"
    CAD = "CAD"


class Interval(Enum):
    """Bar interval. The platform's values: "1m", "1h", "d", "w" and "tick"."""

    MINUTE = "1m"
    HOUR = "1h"
    DAILY = "d"
    WEEKLY = "w"
    TICK = "tick"
