"""Fit benchmark: what one MMM partition costs, against a bare pymc-marketing fit, in one run.

On the same data (the demo generator's 156 weeks × 5 channels, weekly), each measured as a whole
process from start to exit:

  (a) a script that loads the weekly data and calls a bare default pymc-marketing ``MMM.fit``;
  (b) ``umm materialize`` of one ``mmm_posterior`` partition whose inputs are already materialized;
  (c) ``umm materialize`` of the next 4 partitions (one run: the compiled model is reused).

and the floor under (b): importing pymc-marketing and nutpie (a process that does only that) plus the
compile time (b) reports, which every fit pays before its first draw.

For each: wall time, min bulk-ESS per second of wall time, ROAS error against the truth, and
whether it passes the platform's convergence checks (R-hat <= 1.01, bulk/tail ESS >= 400,
0 divergences); printed as ratios to (a). Usage: ``.venv/bin/python bench/fit.py [--seed N]``.
The PyTensor compile cache is kept warm for every case alike (the first, untimed, fit fills it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from umm_assets.lib import demo  # noqa: E402
from umm_assets.lib.storage import Warehouse  # noqa: E402

VALIDATED = "validated_spend,validated_outcomes,validated_controls,validated_attribution,validated_tests"
WINDOW = 156

BARE_FIT = textwrap.dedent('''
    import json, sys
    import numpy as np, pandas as pd, arviz as az
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation
    data = pd.read_parquet(sys.argv[1])
    channels = [c for c in data.columns if c.startswith("spend_")]
    controls = ["price_index", "promo", "holiday"]
    mmm = MMM(date_column="week", channel_columns=channels, control_columns=controls, target_column="revenue",
              adstock=GeometricAdstock(l_max=8), saturation=LogisticSaturation(), yearly_seasonality=2)
    X, y = data[["week", *channels, *controls]], data["revenue"]
    mmm.fit(X, y, progressbar=False, random_seed=1)
    posterior = mmm.idata.posterior
    summary = az.summary(posterior, var_names=["adstock_alpha", "saturation_lam", "saturation_beta", "intercept_contribution", "y_sigma"], kind="diagnostics")
    divergences = int(mmm.idata.sample_stats["diverging"].sum())
    scale = float(mmm.idata["constant_data"]["target_scale"].values)
    contribution = (posterior["channel_contribution"].sum("date") * scale).median(("chain", "draw"))
    spend = data[channels].sum()
    roas = {c.removeprefix("spend_"): float(contribution.sel(channel=c)) / float(spend[c]) for c in channels}
    json.dump({"rhat_max": float(summary["r_hat"].max()), "ess_bulk_min": float(summary["ess_bulk"].min()),
               "ess_tail_min": float(summary["ess_tail"].min()), "divergences": divergences, "roas": roas},
              open(sys.argv[2], "w"))
''')


# What any process that fits this model pays before it can build it: importing pymc-marketing and nutpie.
IMPORTS = "import nutpie, pymc_marketing.mmm"


def run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return wall


def converged(d: dict) -> bool:
    return d["rhat_max"] <= 1.01 and d["ess_bulk_min"] >= 400 and d["ess_tail_min"] >= 400 and d["divergences"] == 0


def roas_error(roas: pd.DataFrame, truth: dict, as_of) -> float:
    """Mean absolute percentage error of the posterior-median ROAS over the model window ending at ``as_of``."""
    true = demo.true_roas(truth, pd.Timestamp(as_of).date(), WINDOW)
    errors = [abs(r.roas_p50 / true[r.channel] - 1) for r in roas.itertuples()]
    return sum(errors) / len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="umm-bench-fit-"))
    truth = demo.generate(work / "raw", seed=args.seed, weeks=WINDOW + 4)
    weeks = pd.date_range(truth["first_week"], truth["last_week"], freq="7D")
    as_of, backfill = weeks[WINDOW - 1], weeks[WINDOW:]
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster_home" / "dagster.yaml").read_text())
    env = {**os.environ, "UMM_RAW_URI": str(work / "raw"), "UMM_DATA_DIR": str(work / "warehouse"),
           "DAGSTER_HOME": str(home), "UMM_FIRST_WEEK": truth["first_week"], "UMM_LOG_LEVEL": "WARNING",
           "PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS", f"base_compiledir={ROOT / '.cache' / 'pytensor'}")}
    # the bare script's model, fitted once: the platform's default (saturation auto) would fit it and Hill
    (work / "run.json").write_text(json.dumps({"mmm_posterior": {"saturation": "logistic"}}))
    env["UMM_RUN_CONFIG"] = str(work / "run.json")
    umm = [sys.executable, "-m", "umm_assets.cli"]
    print(f"data: {work} ({len(weeks)} weeks, model window {WINDOW}); as-of {as_of.date()}", flush=True)
    run([*umm, "materialize", "--from", truth["first_week"], "--to", truth["last_week"], "--select", VALIDATED], env)

    # the weekly data the bare script reads: exactly what the platform's model frame sees
    warehouse = Warehouse(work / "warehouse")
    keys = [w.date().isoformat() for w in weeks[:WINDOW]]
    spend = warehouse.read("validated_spend", keys).pivot_table(index="week", columns="channel", values="spend")
    outcomes = warehouse.read("validated_outcomes", keys).set_index("week")[["revenue"]]
    controls = warehouse.read("validated_controls", keys).set_index("week")[["price_index", "promo", "holiday"]]
    bare = spend.add_prefix("spend_").join(outcomes).join(controls).reset_index()
    bare.to_parquet(work / "weekly.parquet")
    script = work / "bare_fit.py"
    script.write_text(BARE_FIT)

    print("warming the compile cache (untimed)...", flush=True)
    run([sys.executable, str(script), str(work / "weekly.parquet"), str(work / "warm.json")], env)

    results = {}
    wall = run([sys.executable, str(script), str(work / "weekly.parquet"), str(work / "bare.json")], env)
    bare_result = json.loads((work / "bare.json").read_text())
    bare_roas = pd.DataFrame({"channel": list(bare_result["roas"]), "roas_p50": list(bare_result["roas"].values())})
    results["(a) bare MMM.fit"] = {"wall": wall, **bare_result, "roas_error": roas_error(bare_roas, truth, as_of)}

    wall = run([*umm, "materialize", "--partition", as_of.date().isoformat(), "--select", "mmm_posterior"], env)
    diag = warehouse.read("mmm_posterior", as_of.date().isoformat(), "diagnostics").iloc[0].to_dict()
    roas = warehouse.read("mmm_posterior", as_of.date().isoformat(), "roas")
    results["(b) umm materialize, 1 week"] = {"wall": wall, **diag, "roas_error": roas_error(roas, truth, as_of)}

    wall = run([*umm, "materialize", "--from", backfill[0].date().isoformat(), "--to",
                backfill[-1].date().isoformat(), "--select", "mmm_posterior"], env)
    diags = [warehouse.read("mmm_posterior", w.date().isoformat(), "diagnostics").iloc[0] for w in backfill]
    worst = {k: (max if k == "rhat_max" else min)(float(d[k]) for d in diags) for k in ("rhat_max", "ess_bulk_min", "ess_tail_min")}
    worst["divergences"] = max(int(d["divergences"]) for d in diags)
    errors = [roas_error(warehouse.read("mmm_posterior", w.date().isoformat(), "roas"), truth, w) for w in backfill]
    results[f"(c) backfill, per week of {len(backfill)}"] = {"wall": wall / len(backfill), **worst,
                                                           "roas_error": sum(errors) / len(errors)}

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], env=env, cwd=ROOT, check=True, capture_output=True)
    imports = time.perf_counter() - start
    b = results["(b) umm materialize, 1 week"]

    base = results["(a) bare MMM.fit"]
    print(f"\n{'case':32s} {'wall s':>7s} {'× (a)':>6s} {'ESS/s':>6s} {'× (a)':>6s} {'R-hat':>6s} {'ESS':>5s} "
          f"{'div':>4s} {'checks':>7s} {'ROAS err':>8s}")
    for name, r in results.items():
        ess_per_s = r["ess_bulk_min"] / r["wall"]
        base_ess_per_s = base["ess_bulk_min"] / base["wall"]
        error = f"{r['roas_error']:.1%}"
        print(f"{name:32s} {r['wall']:7.1f} {r['wall'] / base['wall']:6.2f} {ess_per_s:6.1f} "
              f"{ess_per_s / base_ess_per_s:6.2f} {r['rhat_max']:6.3f} {r['ess_bulk_min']:5.0f} "
              f"{int(r['divergences']):4d} {'pass' if converged(r) else 'FAIL':>7s} {error:>8s}")
    floor = imports + b["compile_seconds"]
    print(f"\n(b) in parts: compile {b['compile_seconds']:.1f} s, sampling {b['sampling_seconds']:.1f} s, the rest of "
          f"the process {b['wall'] - b['compile_seconds'] - b['sampling_seconds']:.1f} s. Floor before the first draw "
          f"of any such fit: importing pymc-marketing + nutpie {imports:.1f} s + (b)'s compile = {floor:.1f} s = "
          f"{floor / base['wall']:.2f} × (a)")
    results["floor (imports + compile)"] = {"wall": floor, "imports": imports}
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {work / 'results.json'}")


if __name__ == "__main__":
    main()
