"""Checks of ``experiment_plan``: the ranking does not hang on the simulation's seed, and a channel already
well measured is not the one the plan says to test."""

import dagster as dg
import pandas as pd

from umm_assets.defs import partition_checks

ASSET = "experiment_plan"
STABLE = "ranking_stable_across_seeds"
WELL_MEASURED = "well_measured_channel_valued_low"


def check_specs(partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return partition_checks.specs(ASSET, partitions, [
        (STABLE, "The top channel is the same when its two leading channels are re-assessed with another seed, "
                 "whenever its value leads by more than the Monte-Carlo error (warning).", False),
        (WELL_MEASURED, "The channel with the narrowest ROAS interval today is not the one ranked first: a test "
                        "teaches least where the posterior is already tight (warning).", False),
    ])


def _best(designs: pd.DataFrame) -> pd.DataFrame:
    return designs[designs["best"]].sort_values("rank").reset_index(drop=True)


def leads(best: pd.DataFrame) -> bool:
    """Whether the top channel's value per week leads the next by more than their combined Monte-Carlo error."""
    if len(best) < 2:
        return True
    first, second = best.iloc[0], best.iloc[1]
    error = (first["value_per_week_se"] ** 2 + second["value_per_week_se"] ** 2) ** 0.5
    return bool(first["value_per_week"] - second["value_per_week"] > error)


def results(designs: pd.DataFrame, rerun: pd.DataFrame | None) -> list[dg.AssetCheckResult]:
    best = _best(designs)
    return [_stable(best, rerun), _well_measured(best)]


def _stable(best: pd.DataFrame, rerun: pd.DataFrame | None) -> dg.AssetCheckResult:
    top = best["channel"].iloc[0] if len(best) else ""
    again = _best(rerun)["channel"].iloc[0] if rerun is not None and len(rerun) else top
    clear = leads(best)
    return dg.AssetCheckResult(
        asset_key=ASSET, check_name=STABLE, passed=bool(again == top or not clear),
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{top} first with both seeds" if again == top else
                     f"{top} first, {again} with another seed" + ("" if clear else ": within Monte-Carlo error")),
        metadata={"top": top, "top_other_seed": again, "lead_beyond_mc_error": clear})


def _well_measured(best: pd.DataFrame) -> dg.AssetCheckResult:
    if best.empty:
        return dg.AssetCheckResult(asset_key=ASSET, check_name=WELL_MEASURED, passed=True,
                                   severity=dg.AssetCheckSeverity.WARN, description="no channel to test")
    tightest = best.loc[best["roas_halfwidth_today"].idxmin()]
    passed = len(best) < 2 or bool(tightest["rank"] != best["rank"].min())
    return dg.AssetCheckResult(
        asset_key=ASSET, check_name=WELL_MEASURED, passed=bool(passed), severity=dg.AssetCheckSeverity.WARN,
        description=f"{tightest['channel']} (±{100 * tightest['roas_halfwidth_today']:.0f} % today): "
                    f"rank {int(tightest['rank'])}, {tightest['value_per_week']:,.0f} a week",
        metadata={"channel": str(tightest["channel"]), "value_per_week": float(tightest["value_per_week"])})
