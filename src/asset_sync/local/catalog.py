"""Deterministic generator of realistic Alpaca ``GET /v2/assets`` catalogs (stdlib only).

Records follow ``components.schemas.Assets`` of Alpaca's Trading API OpenAPI spec and the
real responses it was checked against:

* ``maintenance_margin_requirement`` is a JSON number; ``margin_requirement_long`` /
  ``margin_requirement_short`` and the crypto ``min_order_size`` / ``min_trade_increment`` /
  ``price_increment`` are decimal *strings* (``"30"``, ``"0.000000001"``);
* ``cusip`` is a string, sometimes ``null``, sometimes absent; ``borrow_status`` is only on
  US equities; ``attributes`` is usually present (sometimes empty, rarely absent);
* open strings really are open: ``exchange``, ``class``, ``borrow_status`` and ``attributes``
  carry occasional values outside the spec enums, and a few records have an unknown field;
* symbols are unique and include ``BRK.B``-style (``.``) and ``BTC/USD``-style (``/``) ones.

The mix is about 93% ``us_equity``, 3% ``crypto`` and 4% odd classes (``crypto_perp``,
``us_option``, ``ipo``). Output is a pure function of ``(n, seed)`` (and of the input catalog
for :func:`evolve_catalog`).
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

Asset = dict[str, object]
"""One asset record, exactly as it would be decoded from Alpaca's JSON."""

__all__ = ["Asset", "CatalogChanges", "dumps_catalog", "evolve_catalog", "generate_catalog"]

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

_ATTRIBUTES = (
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

_NAME_FIRST = (
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


@dataclass(frozen=True, slots=True)
class CatalogChanges:
    """What :func:`evolve_catalog` did, as sorted tuples of symbols.

    ``changed`` is every surviving symbol whose record differs (``flipped`` plus ``renamed``).
    """

    listed: tuple[str, ...]
    delisted: tuple[str, ...]
    changed: tuple[str, ...]
    flipped: tuple[str, ...]
    renamed: tuple[str, ...]


def _digit_sum(v: int) -> int:
    return v // 10 + v % 10


# Per-character contribution to the CUSIP check sum at even / odd (doubled) positions.
_CUSIP_EVEN = {ch: _digit_sum(i) for i, ch in enumerate(_DIGITS + _LETTERS)}
_CUSIP_ODD = {ch: _digit_sum(2 * i) for i, ch in enumerate(_DIGITS + _LETTERS)}


def _cusip_check_digit(base: str) -> str:
    """The standard CUSIP check digit of an 8-character base (digits and capitals)."""
    total = sum(_CUSIP_EVEN[ch] for ch in base[0::2]) + sum(_CUSIP_ODD[ch] for ch in base[1::2])
    return str((10 - total % 10) % 10)


class _Factory:
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
        stem = f"{rng.choice(_NAME_FIRST)} {rng.choice(_NAME_SECOND)}"
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
            attrs.append(rng.choice(_ATTRIBUTES))
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


def generate_catalog(n: int, seed: int = 0, *, inactive: float = 0.0) -> list[Asset]:
    """Return ``n`` asset records, deterministic for ``seed``.

    ``inactive`` is the share of records marked ``status: "inactive"`` (default: none).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= inactive <= 1.0:
        raise ValueError("inactive must be within [0, 1]")
    rng = random.Random(f"asset-sync-catalog:{seed}")  # noqa: S311 - test data
    factory = _Factory(rng, set(), set())
    inactive_idx = set(rng.sample(range(n), round(inactive * n)))
    return [
        factory.make(cls, "inactive" if i in inactive_idx else "active")
        for i, cls in enumerate(factory.class_plan(n))
    ]


def _count(fraction: float, n: int, what: str) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{what} must be within [0, 1]")
    k = round(fraction * n)
    if fraction > 0 and n >= 100:
        k = max(k, 1)
    return k


def _copy(asset: Asset) -> Asset:
    return {k: list(v) if isinstance(v, list) else v for k, v in asset.items()}


def _flip(asset: Asset, rng: random.Random) -> None:
    """Change at least one tradability / borrow / attribute / margin field of ``asset``."""
    kinds = ["tradable", "shortable"]
    if "borrow_status" in asset:
        kinds.append("borrow_status")
    if isinstance(asset.get("attributes"), list):
        kinds.append("attributes")
    if "margin_requirement_long" in asset:
        kinds.append("margin")
    kind = rng.choice(kinds)
    if kind == "tradable":
        asset["tradable"] = not asset.get("tradable")
    elif kind == "shortable":
        shortable = not asset.get("shortable")
        asset["shortable"] = shortable
        if not shortable:
            asset["easy_to_borrow"] = False
            if "borrow_status" in asset:
                asset["borrow_status"] = "hard_to_borrow"
    elif kind == "borrow_status":
        easy = asset.get("borrow_status") != "easy_to_borrow"
        asset["borrow_status"] = "easy_to_borrow" if easy else "hard_to_borrow"
        asset["easy_to_borrow"] = easy
        if easy:
            asset["shortable"] = True
    elif kind == "attributes":
        attrs = asset["attributes"]
        assert isinstance(attrs, list)
        missing = [a for a in _ATTRIBUTES if a not in attrs]
        if attrs and (not missing or rng.random() < 0.5):
            attrs.pop(rng.randrange(len(attrs)))
        else:
            attrs.append(rng.choice(missing))
    else:
        old = asset["margin_requirement_long"]
        new = rng.choice([m for m in ("25", "30", "50", "100") if m != old])
        asset["margin_requirement_long"] = new
        asset["margin_requirement_short"] = new
        asset["maintenance_margin_requirement"] = int(new)


def _rename(asset: Asset, rng: random.Random) -> None:
    """Give ``asset`` a different name (a rebrand keeps the tail of the old name)."""
    old = str(asset.get("name", ""))
    tail = old.split(" ", 1)[1] if " " in old else old
    for _ in range(10):
        new = f"{rng.choice(_NAME_FIRST)} {tail}"
        if new != old:
            asset["name"] = new
            return
    asset["name"] = f"{old} (New)"


def evolve_catalog(
    catalog: Sequence[Asset],
    seed: int,
    *,
    listings: float = 0.01,
    delistings: float = 0.01,
    flips: float = 0.01,
    renames: float = 0.002,
) -> tuple[list[Asset], CatalogChanges]:
    """Return "the next day" of ``catalog`` (a new list; the input is not touched).

    Each count is ``round(fraction * len(catalog))``, at least 1 when the fraction is positive
    and the catalog has 100+ records. Delisted records are removed; flipped and renamed
    records are disjoint survivors; new listings get fresh symbols and ids and are appended.
    """
    n = len(catalog)
    n_list = _count(listings, n, "listings")
    n_delist = min(_count(delistings, n, "delistings"), n)
    n_flip = _count(flips, n, "flips")
    n_rename = _count(renames, n, "renames")
    rng = random.Random(f"asset-sync-evolve:{seed}")  # noqa: S311 - test data

    out = [_copy(a) for a in catalog]
    delist_idx = set(rng.sample(range(n), n_delist))
    survivors = [i for i in range(n) if i not in delist_idx]
    n_flip = min(n_flip, len(survivors))
    n_rename = min(n_rename, len(survivors) - n_flip)
    picked = rng.sample(survivors, n_flip + n_rename)
    for i in picked[:n_flip]:
        _flip(out[i], rng)
    for i in picked[n_flip:]:
        _rename(out[i], rng)

    factory = _Factory(
        rng, {str(a.get("symbol")) for a in catalog}, {str(a.get("id")) for a in catalog}
    )
    listed = [factory.make(cls) for cls in factory.class_plan(n_list)]
    result = [a for i, a in enumerate(out) if i not in delist_idx]
    result.extend(listed)

    flipped = sorted(str(out[i]["symbol"]) for i in picked[:n_flip])
    renamed = sorted(str(out[i]["symbol"]) for i in picked[n_flip:])
    changes = CatalogChanges(
        listed=tuple(sorted(str(a["symbol"]) for a in listed)),
        delisted=tuple(sorted(str(out[i]["symbol"]) for i in delist_idx)),
        changed=tuple(sorted(flipped + renamed)),
        flipped=tuple(flipped),
        renamed=tuple(renamed),
    )
    return result, changes


def dumps_catalog(catalog: Sequence[Asset]) -> bytes:
    """Compact UTF-8 JSON of ``catalog`` (as one ``GET /v2/assets`` body)."""
    return json.dumps(list(catalog), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
