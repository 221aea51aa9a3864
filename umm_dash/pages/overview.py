"""Overview: this week's headline — what media earned, what it returns, what the plan gains, can we trust it."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import pandas as pd

from umm_dash import verdicts
from umm_dash.components import download
from umm_dash.components.cards import banners, kpi, page_header, section
from umm_dash.components.page import missing, page
from umm_dash.components.table import frame_table, number, signed_percent, status_badge, text, timestamp
from umm_dash.data import ALLOCATION, MMM_POSTERIOR, RECONCILED_LIFT, Missing, current
from umm_dash.figures.common import MONEY

dash.register_page(__name__, path="/", name="Overview", order=0, title="Overview · Unified-M")
SIGNALS = (("mmm", "MMM"), ("tests", "experiments"), ("attribution", "attribution"))
CHANNEL_COLUMNS = {"channel": ("channel", text), "roas_mean": ("ROAS", number(2)),
                   "roas_interval": ("90 % interval", text), "current": (f"spend per week now ({MONEY})", number()),
                   "recommended": ("recommended next week", number()), "change": ("change", signed_percent()),
                   "guard_note": ("note", text)}
FRESHNESS_COLUMNS = {"asset": ("asset", text), "partition": ("partition", text),
                     "materialized_at": ("materialized", timestamp), "run_id": ("run", lambda v: text(v)[:8]),
                     "code_version": ("code version", text), "status": ("status", status_badge)}


def blended_roas(draws: pd.DataFrame, spend: pd.Series) -> tuple[float, float, float]:
    """Total media revenue over total spend, per posterior draw: (mean, 5 %, 95 %)."""
    total_spend = float(spend.sum())
    if "contribution" in draws:
        per_draw = draws.groupby("draw")["contribution"].sum() / total_spend
    else:
        weighted = draws.assign(c=draws["roas"] * draws["channel"].map(spend).astype(float))
        per_draw = weighted.groupby("draw")["c"].sum() / total_spend
    return float(per_draw.mean()), float(per_draw.quantile(0.05)), float(per_draw.quantile(0.95))


def media_revenue(contributions: pd.DataFrame) -> tuple[float, float]:
    """(mean weekly revenue from media over the model window, its share of all modelled revenue), national."""
    geos = sorted(contributions["geo"].astype(str).unique())
    national = contributions[contributions["geo"] == ("national" if "national" in geos else geos[0])]
    weekly = national.pivot_table(index="week", columns="component", values="mean", aggfunc="sum")
    media = weekly.drop(columns=["baseline"], errors="ignore").sum(axis=1)
    return float(media.mean()), float(media.sum() / weekly.sum(axis=1).sum())


def channel_table(roas: pd.DataFrame, reconciled: pd.DataFrame | None, allocation: pd.DataFrame | None,
                  weeks: int) -> pd.DataFrame:
    """One row per channel: ROAS with its interval (reconciled if there is one), weekly spend now and next
    week's recommended spend (from the plan), and the guard rail's note."""
    out = pd.DataFrame({"channel": roas["channel"], "roas_mean": roas["roas_mean"], "roas_lower": roas["roas_p05"],
                        "roas_upper": roas["roas_p95"], "roas_source": "MMM",
                        "current": roas["spend"] / max(weeks, 1)})
    if reconciled is not None:
        cols = ["channel", "roas_mean", "roas_lower", "roas_upper", *(["guard_note"] if "guard_note" in reconciled
                                                                       else [])]
        out = out.drop(columns=["roas_mean", "roas_lower", "roas_upper"]).merge(reconciled[cols], on="channel")
        out["roas_source"] = "reconciled"
    if allocation is not None:  # the plan's current spend (its recent weeks), not the window's average
        out = out.drop(columns=["current"]).merge(allocation[["channel", "current", "recommended"]], on="channel",
                                                  how="left")
        out["change"] = out["recommended"] / out["current"] - 1
    return out.sort_values("channel", ignore_index=True)


@page("/")
def layout(week: str | None, **_):
    data = current()
    mmm = data.tables(MMM_POSTERIOR, week, "roas", "roas_draws", "contributions", "diagnostics")
    reconciled = data.optional(RECONCILED_LIFT, week, "reconciled", "roas_draws", "summary", "test_coverage")
    plan = data.optional(ALLOCATION, week, "allocation", "summary")
    diagnostics = mmm["diagnostics"].iloc[0].to_dict()
    found = _verdicts(diagnostics, reconciled, plan, data.quality(week), week)
    return [
        page_header("Overview", "This week's headline: what media earned, what it returns, what the plan gains, "
                                "and whether the model can be trusted.", week,
                    f"model window {int(diagnostics.get('n_weeks', 0))} weeks"),
        *banners(found),
        dmc.SimpleGrid(_kpis(mmm, reconciled, plan, found), cols={"base": 1, "xs": 2, "lg": 4}, spacing="md"),
        _signals(reconciled),
        section("Channels", frame_table(_with_intervals(_channels(week)), CHANNEL_COLUMNS, id="overview-channels"),
                "Return on ad spend, this week's spend and next week's recommended spend per channel.",
                actions=download.button("overview-channels")),
        section("Freshness", frame_table(data.freshness(week), FRESHNESS_COLUMNS, id="overview-freshness"),
                "Which materialization each number comes from; stale: an input was rewritten after it.",
                actions=download.button("overview-freshness")),
    ]


@download.table("overview-channels")
def _channels(week: str | None) -> pd.DataFrame:
    data = current()
    mmm = data.tables(MMM_POSTERIOR, week, "roas", "diagnostics")
    reconciled = data.optional(RECONCILED_LIFT, week, "reconciled")
    plan = data.optional(ALLOCATION, week, "allocation")
    return channel_table(mmm["roas"], reconciled and reconciled["reconciled"], plan and plan["allocation"],
                         int(mmm["diagnostics"]["n_weeks"].iloc[0]))


@download.table("overview-freshness")
def _freshness(week: str | None) -> pd.DataFrame:
    if week is None:
        raise Missing(MMM_POSTERIOR, None)
    return current().freshness(week)


def _with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(roas_interval=[f"{lo:.2f} – {hi:.2f}" for lo, hi in zip(frame["roas_lower"],
                                                                                 frame["roas_upper"], strict=True)])


def _verdicts(diagnostics, reconciled, plan, quality: pd.DataFrame, week: str) -> list[verdicts.Verdict]:
    found = verdicts.convergence(diagnostics) + verdicts.quality(quality, week)
    if reconciled is not None:
        found += verdicts.reconciliation(reconciled["summary"].iloc[0].to_dict(), reconciled["reconciled"],
                                         reconciled.get("test_coverage"))
    if plan is not None:
        found += verdicts.allocation(plan["summary"].iloc[0].to_dict(), plan["allocation"])
    return found


def _kpis(mmm, reconciled, plan, found) -> list:
    weekly, share = media_revenue(mmm["contributions"])
    source = reconciled if reconciled is not None else mmm
    spend = (source["reconciled"] if reconciled is not None else mmm["roas"]).set_index("channel")["spend"]
    mean, low, high = blended_roas(source["roas_draws"], spend)
    failed = sum(v.tone == "fail" for v in found)
    cards = [
        kpi("Media revenue per week", f"{weekly:,.0f}", f"{share:.0%} of modelled revenue (model-window average, "
                                                        f"{MONEY})", id="overview-media-revenue"),
        kpi("Blended ROAS", f"{mean:.2f}", f"90 % interval {low:.2f} – {high:.2f} "
                                           f"({'reconciled' if reconciled is not None else 'MMM'})",
            id="overview-blended-roas"),
    ]
    if plan is not None:
        summary = plan["summary"].iloc[0]
        cards.append(kpi("Plan: expected uplift per week", f"{summary['uplift_mean']:+,.0f}",
                         f"90 % interval {summary['uplift_lower']:+,.0f} – {summary['uplift_upper']:+,.0f} on a "
                         f"budget of {summary['budget']:,.0f}", id="overview-uplift"))
    else:
        cards.append(missing(Missing(ALLOCATION, mmm.commit.partition)))
    cards.append(kpi("Checks this week", "all passed" if not failed else f"{failed} failed",
                     "convergence, experiments, optimizer, input contracts", id="overview-checks",
                     tone="red" if failed else "green"))
    return cards


def _signals(reconciled) -> dmc.Group:
    if reconciled is None:
        return dmc.Group([dmc.Text("Signals used:", size="sm", fw=500),
                          dmc.Badge("MMM only (reconciled_lift not materialized)", color="gray")])
    summary = reconciled["summary"].iloc[0]
    used = {s.strip() for s in str(summary.get("signals", "")).split(",")}
    n_tests = int(summary.get("n_tests", 0) or 0)
    badges = [dmc.Badge(f"{label}{f' ({n_tests})' if key == 'tests' else ''}",
                        color="blue" if key in used else "gray", variant="light" if key in used else "outline")
              for key, label in SIGNALS]
    return dmc.Group([dmc.Text("Signals used:", size="sm", fw=500), *badges,
                      dmc.Text(f"fusion: {summary.get('method', '')}", size="sm", c="dimmed")], gap="xs",
                     id="overview-signals")
