"""How long the experiment plan takes, and how precise it is, against the number of simulated outcomes and draws.

The world: a ``umm demo`` world (seed 7, 160 weeks: the model window's spend history and the three past tests)
and a posterior-like set of draws around its true curves, each channel as uncertain as the issue measured the
information floor (bench/roas_floor.py): the three tested channels tight, video wider, display widest. Every
channel gets the full grid of designs (holdout and +50 %, 2/4/6 weeks, usual and recommended spend: up to 12).

Printed side by side for each number of simulated outcomes per design (and of draws): the wall-clock time of
the whole plan, the time per design and per re-optimization, the top design and its value per week with its
Monte-Carlo standard error, how far it leads the next channel in units of that error, whether two seeds agree
on the top channel, and the value the best-measured channel gets (the floor: chance correlations of the draws).

Usage: ``.venv/bin/python bench/experiment_plan.py [--outcomes 16,32,48,96] [--draws 200,500] [--seeds 0,1]``
(about 5 minutes on 2 cores with the defaults; no model fit).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umm_assets.lib import allocate, demo  # noqa: E402
from umm_assets.lib import experiment_plan as ep  # noqa: E402
from umm_assets.lib.mmm.response import ResponseModel  # noqa: E402

# lognormal sd of each channel's beta and Hill kappa: the tested channels tight, display as wide as the floor
SPREAD = {"tv": 0.06, "search": 0.04, "social": 0.06, "video": 0.12, "display": 0.3}


def world(seed: int, n_draws: int) -> tuple[ResponseModel, pd.DataFrame, pd.DataFrame]:
    """The draws, the model window's spend history (long) and the world's past tests."""
    simulated = demo.simulate(seed)
    truth = simulated.truth(seed)
    true_model = demo.true_response_model(truth)
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_draws):
        for c in true_model.channels:
            t = truth["channels"][c]
            for name, value in (("adstock_alpha", t["alpha"]), ("saturation_slope", t["slope"]),
                                ("saturation_kappa", t["half_saturation"]), ("saturation_beta", t["beta"])):
                noise = rng.lognormal(0, SPREAD[c]) if name in ("saturation_kappa", "saturation_beta") else 1.0
                rows.append({"draw": d, "channel": c, "geo": "national", "name": name, "value": value * noise})
    model = ResponseModel.from_draws(pd.DataFrame(rows), true_model.spec)
    window = simulated.spend.iloc[-simulated.window_weeks:]
    spend = window.reset_index(names="week").melt(id_vars="week", var_name="channel", value_name="spend")
    return model, spend, simulated.tests


def optimizer_time(model: ResponseModel, problem: allocate.Problem, repeats: int = 20) -> float:
    """Seconds per re-optimization from today's plan on a resampled posterior (what each outcome costs)."""
    today = allocate.optimize(model, problem).spend
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(repeats):
        weights = rng.dirichlet(np.full(model.n_draws, 0.5))
        allocate.optimize(ep.subset(model, ep.systematic_resample(weights, 0.5)), problem, warm_start=today)
    return (time.perf_counter() - start) / repeats


def run(model, spend, tests, problem, outcomes: int, seed: int) -> tuple[ep.ExperimentPlan, float]:
    start = time.perf_counter()
    result = ep.plan(model, spend, problem, tests, n_outcomes=outcomes, seed=seed)
    return result, time.perf_counter() - start


def summary(results: list[tuple[ep.ExperimentPlan, float]], outcomes: int, n_draws: int) -> dict:
    """One column of the side-by-side table: the first seed's figures, the seeds' agreement."""
    (first, seconds), designs = results[0], len(results[0][0].designs)
    best = first.best.sort_values("net_value", ascending=False)
    top, second = best.iloc[0], best.iloc[1]
    lead = (top["net_value"] - second["net_value"]) / (
        np.hypot(top["value_per_week_se"], second["value_per_week_se"]) * top["horizon_weeks"])
    tops = [r.best.sort_values("net_value", ascending=False).iloc[0]["channel"] for r, _ in results]
    tight = first.designs[first.designs["channel"] == min(SPREAD, key=SPREAD.get)]["value_per_week"].abs().max()
    return {"draws": n_draws, "outcomes per design": outcomes, "designs": designs,
            "plan seconds": round(seconds, 1), "ms per design": round(1000 * seconds / designs),
            "ms per outcome": round(1000 * seconds / designs / outcomes, 1),
            "top design": f"{top['channel']} {top['kind']} {top['weeks']}w {top['spend_level']}",
            "top value / week": round(top["value_per_week"]), "its MC se": round(top["value_per_week_se"], 1),
            "lead over next channel (se)": round(lead, 1),
            "top channel per seed": ", ".join(tops), "seeds agree": len(set(tops)) == 1,
            "best-measured channel's value": round(tight, 1),
            "flagged (low ESS)": int((~first.designs["reweighting_reliable"]).sum()),
            "optimizer failures": int(first.designs["optimizer_failures"].sum())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outcomes", default="16,32,48,96", help="simulated outcomes per design, comma-separated")
    parser.add_argument("--draws", default="200,500", help="posterior draws, comma-separated")
    parser.add_argument("--seeds", default="0,1", help="seeds of the simulated outcomes")
    parser.add_argument("--world", type=int, default=7, help="the demo world's seed")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    columns = []
    for n_draws in (int(d) for d in args.draws.split(",")):
        model, spend, tests = world(args.world, n_draws)
        problem = allocate.build_problem(model.channels, allocate.current_spend(spend))
        print(f"{n_draws} draws: {1000 * optimizer_time(model, problem):.1f} ms per re-optimization "
              f"({allocate.DEFAULT_OBJECTIVE}), ", flush=True)
        for outcomes in (int(s) for s in args.outcomes.split(",")):
            columns.append(summary([run(model, spend, tests, problem, outcomes, seed) for seed in seeds],
                                   outcomes, n_draws))
            print(f"  {outcomes} outcomes: {columns[-1]['plan seconds']} s per plan", flush=True)
    print("\n" + pd.DataFrame(columns).T.to_string(header=False))
    model, spend, tests = world(args.world, int(args.draws.split(",")[-1]))
    result, _ = run(model, spend, tests, allocate.build_problem(model.channels, allocate.current_spend(spend)),
                    ep.N_OUTCOMES, seeds[0])
    print(f"\nThe plan at the defaults ({ep.N_OUTCOMES} outcomes, {model.n_draws} draws), each channel's best:")
    for line in ep.sentences(result, best_only=True):
        print(" -", line)
    print("Notes:", *result.notes, sep="\n - ")


if __name__ == "__main__":
    main()
