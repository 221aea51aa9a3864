"""A client of the Dagster webserver's GraphQL API, the one the UI itself calls: what ``umm up`` follows of
the backfill it queued, and what tests launch and watch backfills with (no Dagster import: plain HTTP)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack }
  ... on InvalidSubsetError { message } ... on PartitionKeysNotFoundError { message }
  ... on UnauthorizedError { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status runs(limit: 50) { runId status startTime endTime
    assetSelection { path } tags { key value } } }
  ... on PythonError { message } } }"""
TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename
  ... on TerminateRunSuccess { run { runId } } ... on TerminateRunFailure { message } ... on PythonError { message } } }"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class GraphQLError(RuntimeError):
    """The webserver answered with errors."""


@dataclass(frozen=True)
class Webserver:
    url: str  # e.g. http://127.0.0.1:3000

    def __call__(self, query: str, **variables) -> dict:
        request = urllib.request.Request(f"{self.url}/graphql", data=json.dumps(
            {"query": query, "variables": variables}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        if "errors" in body:
            raise GraphQLError(json.dumps(body["errors"])[:2000])
        return body["data"]

    def launch_backfill(self, partitions: dict[str, list[str]], config: dict, title: str) -> str:
        """What the UI's "Materialize" dialog launches: ``partitions`` maps an asset to its weeks (first, last)."""
        params = {"partitionsByAssets": [{"assetKey": {"path": [asset]}, "partitions": {"range": {
            "start": weeks[0], "end": weeks[-1]}}} for asset, weeks in partitions.items()],
            "runConfigData": {"ops": {a: {"config": c} for a, c in config.items() if a in partitions}},
            "title": title}
        launched = self(LAUNCH, p=params)["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"{launched['__typename']}: {launched.get('message')}")
        return launched["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        """``{status, runs: [{runId, status, startTime, endTime, assetSelection, tags}]}``."""
        state = self(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
        if state["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"backfill {backfill_id}: {state.get('message', state['__typename'])}")
        return state

    def wait(self, backfill_id: str, until: Callable[[dict], bool] = lambda s: s["status"] in FINISHED,
             timeout: float = 900, every: float = 2) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = self.backfill(backfill_id)
            if until(state) or time.monotonic() > deadline:
                return state
            time.sleep(every)

    def terminate(self, run_id: str) -> dict:
        return self(TERMINATE, id=run_id)["terminateRun"]
