"""Stages that could meet in one account and region must not share a physical name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.settings import StageSettings


def collisions(chosen: StageSettings, others: list[StageSettings]) -> list[str]:
    """Why chosen cannot share an account and region with each of others, if it may.

    Stages may share one when they name the same region and not two different accounts (a
    stage without an account deploys to whatever account the credentials name).
    """
    problems = []
    for other in others:
        if other.stage == chosen.stage or other.region != chosen.region:
            continue
        if chosen.account and other.account and chosen.account != other.account:
            continue
        shared = sorted(chosen.fixed_names & other.fixed_names)
        names = [f"{kind} {name!r}" for kind, name in shared]
        a, b = chosen.prefix + "-", other.prefix + "-"
        if a.startswith(b) or b.startswith(a):
            names.append(f"names starting {min(a, b, key=len)!r} (the stage names nest)")
        if names:
            where = (
                f"account {chosen.account}"
                if chosen.account and chosen.account == other.account
                else "one account (a stage without an account deploys to the credentials')"
            )
            problems.append(
                f"stages {chosen.stage!r} and {other.stage!r} may deploy to {where} in "
                f"{chosen.region} and would share {', '.join(names)}: give one of them its own "
                "names in cdk.json (assets_table_name, sync_state_table_name, event_bus_name, "
                "or a stage name that is not the other's plus '-...'), or pin both to "
                "different accounts"
            )
    return problems
