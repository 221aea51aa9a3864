"""Steps on a Dask cluster (``UMM_DASK_ADDRESS``): dagster-dask's executor, with two fixes.

dagster-dask 0.29.27 submits each step with Dagster's run record as a task argument. Distributed 2026 parses
every tuple among a task's arguments, and Dagster's records refuse iteration (a partitioned run carries its
partition subset), so every partitioned run failed before its first step: the arguments travel here in a box
Dask does not open. And dagster-dask keys a task by job and step only, so two runs of one job at once (a
backfill: one run per week) would share one task: the key here names the run. The rest is dagster-dask's:
the worker function, resource requirements per step, one thread per worker.
"""

from __future__ import annotations

import dagster as dg
import dask.distributed
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker


class _Box:
    """Arguments Dask passes to the worker untouched (it only looks inside tuples, lists, sets and dicts)."""

    __slots__ = ("args",)

    def __init__(self, *args):
        self.args = args


def _step_on_worker(dependencies: list, box: _Box):
    """On a worker: run one step (``dependencies``, other steps' futures, only order the tasks)."""
    return query_on_dask_worker(dependencies, *box.args)


class ExistingClusterExecutor(DaskExecutor):
    def __init__(self, address: str):
        super().__init__("existing", {"address": address})

    def execute(self, plan_context, execution_plan):
        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError("steps on Dask need a persistent Dagster instance")
        run = plan_context.dagster_run
        with dask.distributed.Client(self.cluster_configuration["address"]) as client:
            futures = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    dependencies = [futures[key] for step_input in step.step_inputs
                                    for key in step_input.dependency_keys]
                    box = _Box(plan_context.reconstructable_job, run, plan_context.run_config, [step.key],
                               plan_context.instance.get_ref(), execution_plan.known_state)
                    futures[step.key] = client.submit(_step_on_worker, dependencies, box, key=f"{run.run_id}.{step.key}",
                                                      resources=get_dask_resource_requirements(step.tags))
            try:
                for _, events in dask.distributed.as_completed(list(futures.values()), with_results=True):
                    yield from events
            finally:  # a run stopped here takes back the steps that have not started (a running one finishes)
                client.cancel(list(futures.values()))


@dg.executor(name="dask", config_schema={"address": dg.Field(str, description="tcp://host:port of the scheduler")},
             requirements=dg.multiple_process_executor_requirements())
def dask_executor(init_context: dg.InitExecutorContext) -> ExistingClusterExecutor:
    """Every step of a run on the Dask scheduler at ``address`` (see the module docstring)."""
    return ExistingClusterExecutor(init_context.executor_config["address"])
