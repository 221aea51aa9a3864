"""A writer process for the concurrency tests: re-materializes asset partitions through Dagster
(``--select``), or rewrites the allocation partition directly through the warehouse's commit
protocol with tagged, scaled copies of its tables (``--scaled``). Prints one JSON line per commit.

    python -m tests.api.rewriter dagster --raw R --data-dir D --first-week W0 --home H --select a,b \
        --partition W --times N
    python -m tests.api.rewriter scaled --data-dir D --partition W --times N
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCALED = ("current", "recommended", "lower_bound", "upper_bound", "expected_revenue_current",
          "expected_revenue_recommended")


def scale(generation: int) -> float:
    return 1 + generation / 1000


def dagster(args) -> None:
    import dagster as dg
    import yaml

    from umm_assets.definitions import build_defs
    from umm_assets.defs.runs import failure_messages, materialize_range
    from umm_assets.lib.settings import Settings

    settings = Settings.from_env({"UMM_RAW_URI": args.raw, "UMM_DATA_DIR": args.data_dir,
                                  "UMM_FIRST_WEEK": args.first_week})
    defs = build_defs(settings)
    config = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    op_config = json.loads(args.op_config) if args.op_config else None
    Path(args.home).mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=args.home, overrides=config) as instance:
        print(json.dumps({"ready": True}), flush=True)
        for _ in range(args.times):
            result = materialize_range(defs, instance, args.select.split(","), args.partition, log_level="ERROR",
                                       op_config=op_config)
            print(json.dumps({"run_id": result.run_id, "success": result.success,
                              "errors": [] if result.success else failure_messages(result)}), flush=True)


def scaled(args) -> None:
    import pandas as pd

    from umm_assets.lib.storage import Stored, Warehouse

    warehouse = Warehouse(args.data_dir)
    base = warehouse.require("allocation", args.partition)
    tables = {name: warehouse.read_commit(base, name) for name in base.tables}
    print(json.dumps({"ready": True, "budget": float(tables["summary"]["budget"].iloc[0])}), flush=True)
    for generation in range(1, args.times + 1):
        factor = scale(generation)
        allocation = tables["allocation"].copy()
        for column in SCALED:
            allocation[column] = allocation[column] * factor
        summary = tables["summary"].copy()
        for column in ("budget", "current_total"):
            summary[column] = summary[column] * factor
        stored = Stored({**tables, "allocation": allocation, "summary": pd.DataFrame(summary)}, upstream=base.upstream)
        commit = warehouse.write("allocation", args.partition, stored, run_id=f"gen-{generation}",
                                 code_version=base.code_version)
        print(json.dumps({"run_id": commit.run_id, "version": commit.version}), flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("dagster", "scaled"))
    parser.add_argument("--raw")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--first-week")
    parser.add_argument("--home")
    parser.add_argument("--select")
    parser.add_argument("--op-config")
    parser.add_argument("--partition", required=True)
    parser.add_argument("--times", type=int, default=2)
    args = parser.parse_args(argv)
    (dagster if args.mode == "dagster" else scaled)(args)


if __name__ == "__main__":
    main(sys.argv[1:])
