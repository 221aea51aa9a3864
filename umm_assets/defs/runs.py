"""Launching runs in-process against a Dagster instance (the CLI's ``umm materialize`` and tests)."""

from collections.abc import Mapping, Sequence

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def materialize_range(defs: dg.Definitions, instance: dg.DagsterInstance, assets: Sequence[str],
                      start: str, end: str | None = None, *, log_level: str = "INFO",
                      op_config: Mapping[str, Mapping] | None = None) -> dg.ExecuteInProcessResult:
    """One run of ``assets`` over the weekly partitions [start, end] (a single-run backfill if start < end).

    ``op_config`` gives run config per asset, e.g. ``{"mmm_posterior": {"draws": 200}}``. Runs are
    recorded in ``instance`` and show in the Dagster UI like any other run.
    """
    selected = set(assets)
    ops = {name: {"config": dict(config)} for name, config in (op_config or {}).items() if name in selected}
    end = end or start
    single = start == end
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(a) for a in assets],
        partition_key=start if single else None,
        tags=None if single else {RANGE_START: start, RANGE_END: end},
        # the full event log is in the instance; the terminal gets progress only
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **({"ops": ops} if ops else {})},
        raise_on_error=False,
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """What went wrong, one line per failed step, in the words the asset used."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            text = (user.description if user and user.description else None) or (data.error.message if data.error else "")
            messages.append(f"[{event.step_key}] {text.strip()}")
    return messages or ["the run failed before any step ran; see the Dagster UI for its logs"]
