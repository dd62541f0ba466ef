"""The catalog port: where the assets come from, fetching and validating them, and the paced
lookups that confirm delistings (`alpaca.client.AlpacaClient` implements the port).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from asset_sync.logic.confirmation import Lookup, LookupFailedError
from asset_sync.logic.models import ACTIVE, CurrentState, ValidatedCatalog
from asset_sync.logic.pacing import Pacer
from asset_sync.logic.validation import CatalogFormatError, validate_records

_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
KNOWN_ASSET_CLASSES = ("us_equity", "us_option", "crypto")  # Alpaca's documented enum


class CatalogError(RuntimeError):
    """The catalog could not be fetched; the message says why (never with a secret)."""


class CatalogAuthError(CatalogError):
    """The catalog refused the credentials: retrying cannot help."""


class CatalogAssetNotFoundError(CatalogError):
    """A looked-up asset is unknown to the catalog."""


class CatalogSource(Protocol):
    """Where the catalog comes from; raises the errors above."""

    @property
    def attempts(self) -> int:
        """Requests sent so far, retries included."""

    def list_assets_bodies(self, asset_classes: Sequence[str] = ()) -> list[bytes]:
        """One response body (a JSON array of assets) per class."""

    def get_asset(self, symbol_or_id: str) -> dict[str, Any]:
        """One asset (CatalogAssetNotFoundError when there is none)."""


@dataclass(frozen=True)
class FetchedCatalog:
    """The validated catalog and how many records each requested class returned."""

    catalog: ValidatedCatalog
    records_per_class: dict[str, int]


def fetch_catalog(source: CatalogSource, asset_classes: Sequence[str]) -> FetchedCatalog:
    """Fetch one body per class and validate all records together (duplicates span bodies)."""
    raws: list[msgspec.Raw] = []
    per_class: dict[str, int] = {}
    for asset_class, body in zip(
        asset_classes, source.list_assets_bodies(asset_classes), strict=True
    ):
        try:
            records = _ARRAY.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as error:
            raise CatalogFormatError(
                f"the catalog response is not a complete JSON array ({len(body):,} bytes): {error}"
            ) from None
        per_class[asset_class] = len(records)
        raws.extend(records)
    return FetchedCatalog(validate_records(raws), per_class)


def unknown_class_message(
    fetched: FetchedCatalog, current: Mapping[str, CurrentState]
) -> str | None:
    """A requested class that neither the catalog nor the table knows is a typo, not news:
    the message that says so (None when every class is known)."""
    held = {s.asset_class for s in current.values() if s.status == ACTIVE}
    unknown = [
        asset_class
        for asset_class, records in fetched.records_per_class.items()
        if records == 0 and asset_class not in held
    ]
    if not unknown:
        return None
    known = sorted({*KNOWN_ASSET_CLASSES, *(c for c in held if c)})
    return (
        f"Alpaca returned no assets of class {unknown[0]!r}; known classes: "
        f"{', '.join(known)} (class names are lower case; the table holds none either)"
    )


def paced_lookup(source: CatalogSource, per_second: float, wait: Callable[[float], bool]) -> Lookup:
    """Look assets up one at a time at `per_second`; `wait` sleeps (and says whether the run
    must stop: then LookupFailedError). Unknown assets are None; rejected credentials raise."""
    pacer = Pacer(per_second, wait)

    def lookup(key: str) -> dict[str, Any] | None:
        if pacer.wait() or wait(0):
            raise LookupFailedError("the run was asked to stop")
        try:
            return source.get_asset(key)
        except CatalogAssetNotFoundError:
            return None
        except CatalogAuthError:
            raise
        except CatalogError as error:
            raise LookupFailedError(str(error)) from None

    return lookup
