"""What the Dagster UI shows of a materialization: tables and headline figures formatted for people, and the
link to the week's dashboard page (umm_assets/defs/metadata.py and each model asset's ``headline``). No fit:
the tables are small frames shaped like the stored ones."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from umm_assets.defs import metadata
from umm_assets.defs.allocation import assets as allocate_assets
from umm_assets.defs.mmm_posterior import assets as model_assets
from umm_assets.defs.reconciled_lift import assets as reconcile_assets
from umm_assets.lib.settings import Settings, SettingsError

WEEK = "2026-11-23"
ROAS = pd.DataFrame({"channel": ["search", "tv"], "spend": [2891080.4, 1.2e6], "contribution_mean": [9.0e6, 1.1e6],
                     "roas_mean": [3.113, 0.9167], "roas_p05": [2.5, 0.4], "roas_p50": [3.1, 0.9],
                     "roas_p95": [3.8, 1.5]})


def test_tables_are_real_tables_of_readable_values():
    value = metadata.table(ROAS[["channel", "spend", "roas_mean"]])
    assert isinstance(value, dg.TableMetadataValue)
    assert [c.name for c in value.schema.columns] == ["channel", "spend", "roas_mean"]
    assert [c.type for c in value.schema.columns] == ["string", "float", "float"]
    assert [r.data for r in value.records] == [{"channel": "search", "spend": "2,891,080", "roas_mean": "3.11"},
                                               {"channel": "tv", "spend": "1,200,000", "roas_mean": "0.92"}]
    assert isinstance(metadata.table(ROAS.iloc[:0]), dg.MarkdownMetadataValue)


def test_a_one_row_table_reads_as_fields():
    value = metadata.fields(pd.Series({"rhat_max": 1.0042, "ess_bulk_min": 812.7, "divergences": 0}))
    assert [r.data for r in value.records] == [{"field": "rhat_max", "value": "1.004"},
                                               {"field": "ess_bulk_min", "value": "813"},
                                               {"field": "divergences", "value": "0"}]


def test_markdown_tables_have_no_exponents():
    text = metadata.table_md(ROAS[["channel", "spend", "roas_mean"]]).value
    assert "2,891,080" in text and "3.11" in text and "e+06" not in text
    assert text.splitlines()[1].endswith(":|")  # numbers right-aligned


def test_figures_are_inline_entries_and_none_is_left_out():
    values = metadata.figures({"roas_search": 3.11, "budget": 250000, "decision": "recommended", "held": None})
    assert values == {"roas_search": dg.MetadataValue.float(3.11), "budget": dg.MetadataValue.int(250000),
                      "decision": dg.MetadataValue.text("recommended")}


def test_each_model_asset_names_its_headline_figures():
    assert model_assets.headline(ROAS, pd.Series({"rhat_max": 1.0})) == {
        "blended_roas": 2.47, "roas_search": 3.11, "roas_tv": 0.92, "saturation": None, "adstock": None}
    kept = model_assets.headline(ROAS, pd.Series({"saturation": "hill", "adstock": "delayed"}))
    assert (kept["saturation"], kept["adstock"]) == ("hill", "delayed")

    reconciled = ROAS.rename(columns={"contribution_mean": "incremental_revenue_mean"})
    summary = pd.DataFrame([{"method": "calibrated_refit", "n_tests": 3, "held_channels": ""}])
    assert reconcile_assets.headline({"reconciled": reconciled, "summary": summary}) == {
        "blended_roas": 2.47, "roas_search": 3.11, "roas_tv": 0.92, "method": "calibrated_refit", "n_tests": 3,
        "held_channels": None}

    plan = pd.Series({"decision": "recommended", "budget": 250000.4, "uplift_mean": 12345.6, "uplift_lower": -100.2,
                      "uplift_upper": 25000.0, "expected_revenue_current": 1.0e6, "held_channels": "tv"})
    assert allocate_assets.headline(plan) == {
        "decision": "recommended", "budget": 250000, "uplift": 12346, "uplift_lower": -100, "uplift_upper": 25000,
        "uplift_percent": 1.23, "held_channels": "tv", "outside_data": None}
    assert allocate_assets.headline({**plan, "outside_data": "display,tv"})["outside_data"] == "display,tv"


@pytest.mark.parametrize(("environ", "url"), [
    ({}, "http://127.0.0.1:8050"),
    ({"UMM_HOST": "10.0.0.5", "UMM_DASH_PORT": "9050"}, "http://10.0.0.5:9050"),
    ({"UMM_HOST": "0.0.0.0"}, "http://localhost:8050"),
    ({"UMM_DASH_PUBLIC_URL": "https://umm.example.com/dash/"}, "https://umm.example.com/dash"),
])
def test_the_dashboard_address_comes_from_the_settings(environ, url):
    assert Settings.from_env(environ).dash_url == url


def test_a_public_address_must_be_a_url():
    with pytest.raises(SettingsError, match="UMM_DASH_PUBLIC_URL='umm.example.com': must read http"):
        Settings.from_env({"UMM_DASH_PUBLIC_URL": "umm.example.com"})


@pytest.mark.parametrize(("module", "page"), [(model_assets, "/roas"), (reconcile_assets, "/roas"),
                                              (allocate_assets, "/planner")])
def test_each_model_asset_links_its_weeks_dashboard_page(module, page):
    base = Settings.from_env({"UMM_DASH_PUBLIC_URL": "https://umm.example.com"}).dash_url
    assert metadata.dashboard_link(base, module.DASH_PAGE, WEEK) == {
        "dashboard": dg.MetadataValue.url(f"https://umm.example.com{page}?week={WEEK}")}
    assert metadata.dashboard_link(None, module.DASH_PAGE, WEEK) == {}


def test_the_dashboard_pages_linked_exist():
    from pathlib import Path

    pages = Path(__file__).resolve().parents[2] / "umm_dash" / "pages"
    registered = "".join(p.read_text() for p in pages.glob("*.py"))
    for module in (model_assets, reconcile_assets, allocate_assets):
        assert f'path="{module.DASH_PAGE}"' in registered, module.DASH_PAGE
