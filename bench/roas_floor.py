"""How close to the true ROAS can any estimate get on a demo world? The information floor.

The oracle (:mod:`umm_assets.lib.oracle`) knows everything about a ``umm demo`` world except the channel
coefficients: each channel's true adstock and Hill curve, the baseline's form (trend, two yearly Fourier
modes, price, promo, holiday) and the noise level. It estimates only the coefficients, by generalised least
squares on the model window's 156 weeks of revenue plus the three lift tests.

Printed per world: each channel's relative standard error of ROAS under the oracle (a low-spend
channel whose weekly effect is below the weekly noise stays uncertain whatever the method), the
oracle's expected ROAS MAPE (mean over channels of E|error| = sqrt(2/pi) x relative SE), and its
MAPE on the world's actual noise draw. Then the same over ``--worlds`` seeds. ``--family market`` does the
same for the second family's worlds (every test of each world).

Usage: ``.venv/bin/python bench/roas_floor.py [--worlds 40] [--family market]`` (a few seconds; no model fit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umm_assets.lib import demo, market, oracle  # noqa: E402

REPORTED_SEEDS = (3, 5, 7, 11, 13, 19)  # the worlds measured in the README


def row(seed: int, family: str) -> dict:
    design = (oracle.demo_design(demo.simulate(seed)) if family == "demo"
              else oracle.market_design(market.simulate(seed)))
    floor = oracle.floor(design)
    return {"seed": seed, **{f"se_{c}": se for c, se in floor.relative_se.items()},
            "expected_mape": floor.expected_mape, "actual_mape": floor.actual_mape}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=40, help="seeds 1..N for the summary")
    parser.add_argument("--family", choices=("demo", "market"), default="demo")
    args = parser.parse_args(argv)
    seeds = sorted(set(range(1, args.worlds + 1)) | set(REPORTED_SEEDS))
    table = pd.DataFrame([row(seed, args.family) for seed in seeds])
    mapes = ["expected_mape", "actual_mape"]
    table = table[[c for c in table if c not in mapes] + mapes]  # a market world's channels vary by seed
    pd.options.display.float_format = "{:.1%}".format
    print(f"Oracle on the {args.family} family (true curve shapes and baseline form known; coefficients from "
          "156 weeks + the lift tests).")
    print("Relative standard error of each channel's ROAS, and the oracle's ROAS MAPE:\n")
    print(table[table["seed"].isin(REPORTED_SEEDS)].dropna(axis=1, how="all").to_string(index=False, na_rep=""))
    summary = table.drop(columns="seed").agg(["mean", "min", "max"])
    print(f"\nOver {len(table)} worlds:\n{summary.to_string()}")
    share = (table["actual_mape"] <= 0.10).mean()
    print(f"\nThe oracle's actual ROAS MAPE is <= 10 % on {share:.0%} of the worlds.")


if __name__ == "__main__":
    main()
