"""The records of the catalog generator (`local.catalog`): one realistic Alpaca asset at a time.

Symbols and ids stay unique within one factory; every choice comes from its RNG, so a catalog is
a pure function of its seed.
"""

from __future__ import annotations

import bisect
import random

Asset = dict[str, object]
"""One asset record, exactly as it would be decoded from Alpaca's JSON."""

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_ALNUM = _DIGITS + _LETTERS
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)

# Asset-class mix; us_equity takes whatever the others leave.
_ODD_CLASS_SHARES: tuple[tuple[str, float], ...] = (
    ("crypto", 0.03),
    ("crypto_perp", 0.015),
    ("us_option", 0.015),
    ("ipo", 0.01),
)

# Cumulative thresholds for bisect over random(); the last value takes the rest.
_EQ_EXCHANGES = ("NASDAQ", "NYSE", "ARCA", "BATS", "AMEX", "OTC", "NYSEARCA", "ASCX", "EMLD")
_EQ_EXCHANGE_CUM = (0.33, 0.53, 0.61, 0.65, 0.68, 0.985, 0.99, 0.996)

_SYMBOL_LENGTHS = (1, 2, 3, 4, 5)
_SYMBOL_LENGTH_CUM = (0.005, 0.06, 0.40, 0.88)
_SHARE_CLASS_SUFFIXES = ("A", "B", "B", "C", "U", "WS")

ATTRIBUTES = (
    "ptp_no_exception",
    "ptp_with_exception",
    "ipo",
    "has_options",
    "options_late_close",
    "fractional_eh_enabled",
    "overnight_tradable",
    "overnight_halted",
)
_COMMON_ATTRIBUTES = ("has_options", "fractional_eh_enabled", "overnight_tradable")
_UNKNOWN_ATTRIBUTES = ("short_sale_restricted", "locate_required", "fractional_24x5_enabled")
_UNKNOWN_BORROW_STATUSES = ("locate_required", "threshold_list")
_UNKNOWN_FIELDS: tuple[tuple[str, object], ...] = (
    ("overnight_status", "eligible"),
    ("settlement_cycle", "T+1"),
    ("is_etp", False),
    ("lot_size", 100),
)

_MARGINS = ("25", "30", "30", "30", "30", "40", "50", "75", "100")

NAME_FIRST = (
    "Apex", "Blue", "Cedar", "Delta", "Eagle", "First", "Global", "Harbor", "Iron", "Juniper",
    "Keystone", "Liberty", "Meridian", "North", "Orion", "Pacific", "Quantum", "River", "Summit",
    "Titan", "United", "Vertex", "Western", "Xenon", "Yellowstone", "Zenith", "Atlas", "Beacon",
    "Crescent", "Dynamic", "Evergreen", "Frontier", "Granite", "Horizon", "Insight", "Lakeside",
)  # fmt: skip
_NAME_SECOND = (
    "Acquisition", "Bancorp", "Biosciences", "Capital", "Energy", "Financial", "Foods", "Health",
    "Holdings", "Industries", "Labs", "Logistics", "Materials", "Media", "Minerals", "Networks",
    "Pharmaceuticals", "Realty", "Resources", "Semiconductor", "Software", "Systems",
    "Technologies", "Therapeutics", "Utilities", "Water",
)  # fmt: skip
_CORP_SUFFIXES = ("Inc.", "Corp.", "Corporation", "Ltd.", "plc", "N.V.", "S.A.", "Group, Inc.")
_SECURITY_KINDS = (
    "Common Stock",
    "Common Stock",
    "Common Stock",
    "Class A Common Stock",
    "Class A Ordinary Shares",
    "American Depositary Shares",
    "Units",
    "Warrants",
)
_OTC_COUNTRIES = ("Brazil", "Canada", "Japan", "Germany", "United Kingdom", "Australia")
_ETF_KINDS = ("ETF", "Trust", "Index Fund", "Bond ETF", "2X Leveraged ETF")

_CRYPTO_BASES = (
    ("BTC", "Bitcoin"), ("ETH", "Ethereum"), ("SOL", "Solana"), ("DOGE", "Dogecoin"),
    ("LTC", "Litecoin"), ("AVAX", "Avalanche"), ("LINK", "Chainlink"), ("UNI", "Uniswap"),
    ("AAVE", "Aave"), ("BCH", "Bitcoin Cash"), ("DOT", "Polkadot"), ("XRP", "XRP"),
    ("SHIB", "Shiba Inu"), ("USDC", "USD Coin"), ("USDT", "Tether"), ("MKR", "Maker"),
    ("CRV", "Curve"), ("GRT", "The Graph"), ("SUSHI", "SushiSwap"), ("XTZ", "Tezos"),
    ("YFI", "Yearn.Finance"), ("BAT", "Basic Attention Token"), ("PEPE", "Pepe"),
    ("TRUMP", "Official Trump"),
)  # fmt: skip
_CRYPTO_QUOTES = (("USD", "US Dollar"), ("USD", "US Dollar"), ("USDT", "Tether"),
                  ("USDC", "USD Coin"), ("BTC", "Bitcoin"))  # fmt: skip
_MIN_ORDER_SIZES = ("0.000000002", "0.0001", "0.000434", "0.001", "0.01", "0.1", "1", "10", "1000")
_MIN_TRADE_INCREMENTS = ("0.000000001", "0.00000001", "0.0001", "0.001", "1")
_PRICE_INCREMENTS = ("1", "0.1", "0.01", "0.001", "0.0001", "0.00001", "0.000001", "0.00000001")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _digit_sum(v: int) -> int:
    return v // 10 + v % 10


# Per-character contribution to the CUSIP check sum at even / odd (doubled) positions.
_CUSIP_EVEN = {ch: _digit_sum(i) for i, ch in enumerate(_DIGITS + _LETTERS)}
_CUSIP_ODD = {ch: _digit_sum(2 * i) for i, ch in enumerate(_DIGITS + _LETTERS)}


def _cusip_check_digit(base: str) -> str:
    """The standard CUSIP check digit of an 8-character base (digits and capitals)."""
    total = sum(_CUSIP_EVEN[ch] for ch in base[0::2]) + sum(_CUSIP_ODD[ch] for ch in base[1::2])
    return str((10 - total % 10) % 10)


class Factory:
    """Builds records from one RNG, keeping symbols and ids unique."""

    def __init__(self, rng: random.Random, used_symbols: set[str], used_ids: set[str]) -> None:
        self.rng = rng
        self.symbols = used_symbols
        self.ids = used_ids

    # -- plan -----------------------------------------------------------------------------
    def class_plan(self, n: int) -> list[str]:
        """``n`` class labels with the target mix, shuffled."""
        plan: list[str] = []
        for cls, share in _ODD_CLASS_SHARES:
            plan.extend([cls] * round(share * n))
        plan = plan[:n]
        plan.extend(["us_equity"] * (n - len(plan)))
        self.rng.shuffle(plan)
        return plan

    def make(self, cls: str, status: str = "active") -> Asset:
        if cls == "crypto":
            asset = self.crypto(perp=False)
        elif cls == "crypto_perp":
            asset = self.crypto(perp=True)
        elif cls == "us_option":
            asset = self.option()
        else:
            asset = self.equity(ipo=cls == "ipo")
        asset["status"] = status
        if self.rng.random() < 0.003:
            key, value = self.rng.choice(_UNKNOWN_FIELDS)
            asset[key] = value
        return asset

    # -- pieces ---------------------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            bits = (self.rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET  # version 4, RFC variant
            h = f"{bits:032x}"
            value = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            if value not in self.ids:
                self.ids.add(value)
                return value

    def claim(self, symbol: str) -> bool:
        if symbol in self.symbols:
            return False
        self.symbols.add(symbol)
        return True

    def letters(self, k: int) -> str:
        return "".join(self.rng.choices(_LETTERS, k=k))

    def equity_symbol(self, otc: bool) -> str:
        rng = self.rng
        while True:
            if otc:
                symbol = self.letters(4) + (rng.choice("FY") if rng.random() < 0.7 else "")
            else:
                length = _SYMBOL_LENGTHS[bisect.bisect(_SYMBOL_LENGTH_CUM, rng.random())]
                symbol = self.letters(length)
                if length <= 4 and rng.random() < 0.02:
                    symbol += "." + rng.choice(_SHARE_CLASS_SUFFIXES)
            if self.claim(symbol):
                return symbol

    def company_name(self, exchange: str) -> str:
        rng = self.rng
        stem = f"{rng.choice(NAME_FIRST)} {rng.choice(_NAME_SECOND)}"
        if exchange in ("ARCA", "NYSEARCA") and rng.random() < 0.7:
            return f"{stem} {rng.choice(_ETF_KINDS)}"
        name = f"{stem} {rng.choice(_CORP_SUFFIXES)} {rng.choice(_SECURITY_KINDS)}"
        if exchange == "OTC" and rng.random() < 0.3:
            name += f" ({rng.choice(_OTC_COUNTRIES)})"
        return name

    def cusip(self) -> str:
        rng = self.rng
        issuer = f"{rng.randrange(100000):05d}{rng.choice(_ALNUM)}"
        base = issuer + rng.choice(("10", "20", "30", "40", "1A", "2B"))
        return base + _cusip_check_digit(base)

    def attributes(self, marginable: bool) -> list[str]:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            return []
        attrs: list[str] = []
        if marginable and r < 0.85:
            attrs.extend(a for a in _COMMON_ATTRIBUTES if rng.random() < 0.6)
        if rng.random() < 0.15:
            attrs.append(rng.choice(ATTRIBUTES))
        if rng.random() < 0.01:
            attrs.append(rng.choice(_UNKNOWN_ATTRIBUTES))
        return list(dict.fromkeys(attrs))

    # -- records --------------------------------------------------------------------------
    def equity(self, *, ipo: bool) -> Asset:
        rng = self.rng
        exchange = _EQ_EXCHANGES[bisect.bisect(_EQ_EXCHANGE_CUM, rng.random())]
        if ipo and exchange not in ("NASDAQ", "NYSE"):
            exchange = "NASDAQ"
        otc = exchange == "OTC"
        symbol = self.equity_symbol(otc)
        tradable = not ipo and rng.random() < (0.7 if otc else 0.97)
        marginable = tradable and not otc and rng.random() < 0.85
        shortable = marginable and rng.random() < 0.9
        easy = shortable and rng.random() < 0.8
        fractionable = marginable and rng.random() < 0.65
        margin = rng.choice(_MARGINS) if marginable else "100"
        short_margin = margin if easy or not shortable else rng.choice((margin, "100"))
        borrow_status = "easy_to_borrow" if easy else "hard_to_borrow"
        if rng.random() < 0.004:
            borrow_status = rng.choice(_UNKNOWN_BORROW_STATUSES)
        asset: Asset = {
            "id": self.new_id(),
            "class": "ipo" if ipo else "us_equity",
            "exchange": exchange,
            "symbol": symbol,
            "name": self.company_name(exchange),
            "status": "active",
            "tradable": tradable,
            "marginable": marginable,
            "maintenance_margin_requirement": int(margin),
            "margin_requirement_long": margin,
            "margin_requirement_short": short_margin,
            "shortable": shortable,
            "easy_to_borrow": easy,
            "fractionable": fractionable,
            "borrow_status": borrow_status,
        }
        r = rng.random()
        if ipo:
            asset["attributes"] = ["ipo"]
        elif r > 0.01:
            asset["attributes"] = self.attributes(marginable)
        r = rng.random()
        if r < 0.04:
            asset["cusip"] = None
        elif r > 0.08:
            asset["cusip"] = self.cusip()
        return asset

    def crypto(self, *, perp: bool) -> Asset:
        rng = self.rng
        while True:
            if rng.random() < 0.5:
                base, base_name = rng.choice(_CRYPTO_BASES)
            else:
                base = self.letters(rng.randint(3, 5))
                base_name = f"{base.capitalize()} Token"
            if perp:
                symbol, name = f"{base}-PERP", f"{base_name} Perpetual Future"
            else:
                quote, quote_name = rng.choice(_CRYPTO_QUOTES)
                if quote == base:
                    continue
                symbol, name = f"{base}/{quote}", f"{base_name} / {quote_name}"
            if self.claim(symbol):
                break
        return {
            "id": self.new_id(),
            "class": "crypto_perp" if perp else "crypto",
            "exchange": "CRYPTO",
            "symbol": symbol,
            "name": name,
            "status": "active",
            "tradable": True,
            "marginable": False,
            "maintenance_margin_requirement": 100,
            "shortable": perp,
            "easy_to_borrow": False,
            "fractionable": True,
            "attributes": [],
            "min_order_size": rng.choice(_MIN_ORDER_SIZES),
            "min_trade_increment": rng.choice(_MIN_TRADE_INCREMENTS),
            "price_increment": rng.choice(_PRICE_INCREMENTS),
        }

    def option(self) -> Asset:
        rng = self.rng
        while True:
            root = self.letters(rng.randint(1, 4))
            year, month, day = rng.randint(26, 28), rng.randint(1, 12), rng.randint(1, 28)
            right = rng.choice("CP")
            strike = rng.randint(1, 2000) * 500
            symbol = f"{root}{year:02d}{month:02d}{day:02d}{right}{strike:08d}"
            if self.claim(symbol):
                break
        kind = "Call" if right == "C" else "Put"
        return {
            "id": self.new_id(),
            "class": "us_option",
            "exchange": "OPRA",
            "symbol": symbol,
            "name": f"{root} {_MONTHS[month - 1]} {day} 20{year} {strike / 1000:g} {kind}",
            "status": "active",
            "tradable": True,
            "marginable": False,
            "maintenance_margin_requirement": 100,
            "shortable": False,
            "easy_to_borrow": False,
            "fractionable": False,
            "attributes": [],
        }
