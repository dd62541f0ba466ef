"""What the identity rule reads beyond a plain run's projection (docs/identity.md, "Reads").

An unchanged run reads nothing more: a record whose hash equals the stored hash has the stored
`asset_id`. The rule needs the whole items of the catalog symbols the plan writes and of the
delisting candidates, and, for the ids those items do not settle (listings, reassignments), the
items the asset-id index names.
"""

from __future__ import annotations

from asset_sync.logic.identity import needs_lookup
from asset_sync.logic.item_writes import holder
from asset_sync.logic.models import ACTIVE
from asset_sync.logic.planning import Plan
from asset_sync.logic.ports import AssetStore, Items


def read_for_identity(store: AssetStore, plan: Plan) -> Items:
    """The whole items the identity rule decides on, read strongly consistent."""
    incoming = [*plan.creates, *plan.updates, *plan.reactivations, *plan.repairs]
    wanted = [i.symbol for i in incoming if i.current is not None]
    items = store.get_items([*wanted, *(i.symbol for i in plan.delists)])
    active_holders = {
        asset_id
        for item in items.values()
        if item.get("status") == ACTIVE and (asset_id := holder(item)) is not None
    }
    unmatched = set()
    for plan_item in incoming:
        assert plan_item.asset is not None
        asset_id = str(plan_item.asset.content["asset_id"])
        if asset_id not in active_holders and needs_lookup(asset_id, items.get(plan_item.symbol)):
            unmatched.add(asset_id)
    found = store.holders_of(unmatched)
    more = sorted({s for symbols in found.values() for s in symbols if s not in items})
    items.update(store.get_items(more))
    return items
