"""Local stand-in for Alpaca's Trading API assets endpoints, over real HTTP on loopback.

Stdlib only: a :class:`http.server.ThreadingHTTPServer` (HTTP/1.1, keep-alive, honest
``Content-Length``, ``TCP_NODELAY``) in a daemon thread, bound to ``127.0.0.1`` on an ephemeral
port by default, run by the shared :class:`~asset_sync.local.loopback.LoopbackServer` base.
It is as strict as Alpaca: its defaults are Alpaca's, quoted below from the OpenAPI spec
(``paths./v2/assets``, Trading API v2.0.1, June 2026).

Routes (everything else is ``404 {"code": 40410000, "message": "endpoint not found"}``):

* ``GET /v2/assets`` -- one unpaginated JSON array (the spec has no paging parameter). Every
  parameter is matched exactly (case-sensitive); an empty value counts as absent; a repeated
  parameter uses its first value.

  - ``asset_class``: "Defaults to us_equity." Absent: only ``us_equity``. A value no asset has
    (``bogus``, ``US_EQUITY``): ``[]`` -- the spec does not say what Alpaca does with an
    unknown class and lists no 4xx for this route; an empty array is the stand-in's choice.
  - ``status``: "By default, all statuses are included." Absent: active *and* inactive.
  - ``exchange``: "Optional AMEX, ARCA, BATS, NYSE, NASDAQ, NYSEARCA or OTC". Absent: every
    exchange; other values (``CRYPTO``, ``OPRA``) match the records that carry them.
  - ``attributes``: "Comma separated values [...] Assets which have any of the given attributes
    will be included." (default ``[]``). Absent: no attribute filter.
  - Order: the spec says "Assets are sorted by asset class, exchange and symbol", but Alpaca's
    real output (the 2022 NASDAQ sample) is not sorted by symbol; the stand-in serves the
    current catalog in the order given, then retired assets, and callers must not rely on order.

* ``GET /v2/assets/{symbol_or_asset_id}`` -- the segment is URL-decoded (``BTC%2FUSD`` ->
  ``BTC/USD``; "use the URL encoded version instead, e.g. /v2/assets/BTC%2FUSDT") and matched
  against ``symbol``, then ``id``, then ``cusip`` ("CUSIP is also accepted for US equities":
  ``us_equity`` records only), then the old slash-less crypto symbology (``BTCUSD``); a record
  of the current catalog wins over a retired one for the same key. Inactive assets are found.
  Unknown: ``404 {"code": 40410000, "message": "asset not found for FAKE"}`` (Alpaca's body).

Both routes need ``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY`` matching the configured pair,
else ``401 {"code": 40110000, "message": "request is not authorized"}`` (the secret is never
echoed). Authorized responses carry ``X-RateLimit-Limit: 200``, ``X-RateLimit-Remaining`` (a
per-minute counter, informational only) and ``X-RateLimit-Reset`` (unix epoch seconds).

The asset universe: the stand-in keeps every asset it has served, by ``id``.
:meth:`AlpacaStandIn.set_assets` replaces the current catalog; a known asset absent from the new
catalog is *retired* -- kept with ``status: "inactive"`` and ``tradable: false``, as Alpaca
reports a delisted asset -- so lookups still find it and unfiltered or ``status=inactive`` lists
return it. An asset that reappears is served as given again. A ticker change (same ``id``, new
``symbol``) is served under the new symbol; a lookup by the id returns the new record; the old
symbol is unknown (404): neither the spec nor the samples say Alpaca keeps former symbols.
Records without a string ``id`` are served while in the current catalog and then forgotten.

Scripted inconsistencies (they survive :meth:`~AlpacaStandIn.set_assets` until
:meth:`~AlpacaStandIn.clear_inconsistencies`): :meth:`~AlpacaStandIn.omit_from_list` keeps
assets findable by lookup but out of every list response ("listed as active by id but missing
from the list"); :meth:`~AlpacaStandIn.forget` makes them unknown (lookups 404, lists omit).

Faults (:class:`Fault`) queued with :meth:`AlpacaStandIn.script` are consumed one per request to
an assets route (either route, or only ``"list"`` / ``"lookup"`` ones), first in first out,
before normal serving resumes. :attr:`~AlpacaStandIn.lookups` and
:attr:`~AlpacaStandIn.list_requests` count the GETs each route received.

CLI: ``python -m asset_sync.local.stand_in --assets 35000 --port 8080`` prints the base URL on
the first line of stdout and serves until Ctrl-C / SIGTERM.

Modules: ``universe`` (the assets known, snapshots, lists and lookups), ``api`` (routes,
authorization, rate-limit headers, bodies), ``faults`` (:class:`Fault` and its queues),
``handler`` (HTTP), ``service`` (:class:`AlpacaStandIn`), ``cli``.
"""

from asset_sync.local.stand_in.api import DEFAULT_ASSET_CLASS, RATE_LIMIT
from asset_sync.local.stand_in.cli import main
from asset_sync.local.stand_in.faults import Fault, FaultRoute
from asset_sync.local.stand_in.service import AlpacaStandIn

__all__ = ["DEFAULT_ASSET_CLASS", "RATE_LIMIT", "AlpacaStandIn", "Fault", "FaultRoute", "main"]
