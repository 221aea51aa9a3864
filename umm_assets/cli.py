"""The ``umm`` command line (see docs/design.md, "Command line")."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from umm_assets.lib.outputs import MODEL_CHAIN
from umm_assets.lib.settings import Settings, SettingsError, load_settings

VALIDATED = ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution", "validated_tests")


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 1."""


def _week(text: str) -> str:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None
    if day.weekday() != 0:
        raise argparse.ArgumentTypeError(f"{text} is a {day:%A}: weekly partitions are keyed by their Monday")
    return text


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="umm", description="Unified-M: unified marketing measurement on Dagster.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="write a demo landing zone with known true effects (+ truth.json)")
    demo.add_argument("--out", type=Path, help="landing zone folder (default: UMM_RAW_URI, else data/raw)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--weeks", type=int, default=160, help="weeks of daily history (default 160)")
    demo.add_argument("--end-week", type=_week, help="Monday of the last week (default: the last complete week)")
    demo.add_argument("--family", choices=("demo", "market"), default="demo",
                      help="demo: the fixed 5-channel world; market: structure drawn per seed (curve shapes, "
                           "delayed carry-over, a demand confounder, channel-specific last-click biases)")

    mat = commands.add_parser("materialize", help="materialize assets through Dagster (recorded in DAGSTER_HOME)")
    which = mat.add_mutually_exclusive_group(required=True)
    which.add_argument("--latest", action="store_true",
                       help="validated_* for every week with raw rows, then the model chain for the newest week")
    which.add_argument("--partition", type=_week, metavar="W", help="one weekly partition (its Monday)")
    which.add_argument("--from", dest="start", type=_week, metavar="W1", help="first week of a backfill range")
    mat.add_argument("--to", dest="end", type=_week, metavar="W2", help="last week of a backfill range")
    mat.add_argument("--select", help="comma-separated asset names (default: every asset)")
    mat.add_argument("--config", type=Path, default=settings.run_config, metavar="FILE",
                     help="YAML/JSON run config per asset, e.g. {mmm_posterior: {draws: 2000}} "
                          "(default: $UMM_RUN_CONFIG)")
    mat.add_argument("--daemon", action="store_true",
                     help="queue the runs as a backfill for the Dagster daemon (shown live in the UI) and return "
                          "at once, instead of running them in this process; needs a running daemon (make run)")

    serve = commands.add_parser("serve", help="the REST API (OpenAPI docs at /docs)")
    serve.add_argument("--host", default=settings.host)
    serve.add_argument("--port", type=int, default=settings.api.port)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    dash = commands.add_parser("dash", help="the dashboard (needs a key's login when API keys exist)")
    dash.add_argument("--host", default=settings.host)
    dash.add_argument("--port", type=int, default=settings.dash.port)

    commands.add_parser("up", help="the whole platform on one machine (what `make run` does)")

    weeks = commands.add_parser("partitions", help="the materialized weeks of an asset, oldest first, one per line "
                                                   "(e.g. week=$(umm partitions allocation | tail -1))")
    weeks.add_argument("asset", choices=(*VALIDATED[:-1], *MODEL_CHAIN))

    keys = commands.add_parser("keys", help="API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create a key (printed once, as the last line)")
    create.add_argument("--role", choices=("viewer", "analyst", "admin"), required=True)
    create.add_argument("--name", required=True)
    key_commands.add_parser("list", help="list keys (id, name, role, created, revoked; never secrets)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the 16-hex-digit id (the part after umm_ in the key; see `keys list`)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:  # every UMM_* variable is checked before any command runs
        settings = load_settings()
    except SettingsError as err:
        print(f"umm: {err}", file=sys.stderr)
        return 1
    args = _parser(settings).parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "materialize":
            return _materialize(args)
        if args.command == "up":
            from umm_assets.up import up

            return up()
        if args.command == "serve":
            return _serve(args)
        if args.command == "keys":
            return _keys(args)
        if args.command == "dash":
            return _dash(args)
        if args.command == "partitions":
            return _partitions(args)
        raise AssertionError(f"unhandled command {args.command}")
    except CliError as err:
        print(f"umm {args.command}: {err}", file=sys.stderr)
        return 1


# --- demo --------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from umm_assets.lib import demo, market

    out = args.out
    if out is None:
        raw = load_settings().raw_uri
        if "://" in raw:
            raise CliError(f"UMM_RAW_URI={raw} is remote: pass --out DIR and upload the folder")
        out = Path(raw)
    end = dt.date.fromisoformat(args.end_week) if args.end_week else None
    family = market if args.family == "market" else demo
    try:
        truth = family.generate(out, seed=args.seed, weeks=args.weeks, end_week=end)
    except ValueError as err:  # e.g. too few weeks for the family's tests
        raise CliError(str(err)) from None
    print(f"wrote a demo landing zone to {out} ({truth['weeks']} weeks, {truth['first_week']} .. "
          f"{truth['last_week']}, {len(truth['channels'])} channels, {len(truth['tests'])} tests)")
    for name, channel in truth["channels"].items():
        print(f"  {name:10s} true ROAS {channel['roas']:.2f}")
    print(f"truth: {Path(out) / 'truth.json'}")
    return 0


# --- materialize -------------------------------------------------------------------------------


def _instance():
    import dagster as dg

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def _materialize(args: argparse.Namespace) -> int:
    from umm_assets.definitions import build_defs, quiet_dagster_warnings

    settings = load_settings()
    defs = build_defs(settings)
    if settings.log_level != "DEBUG":
        quiet_dagster_warnings()  # also those raised while the runs execute
    known = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    selected = _selection(args.select, known)
    op_config = _run_config(args.config, known)
    weekly = defs.resolve_assets_def("validated_spend").partitions_def
    valid = set(weekly.get_partition_keys())
    instance = _instance()

    if args.latest:
        from umm_assets.defs.automation import raw_weeks
        from umm_assets.defs.resources import LandingZoneResource

        weeks = [w for w in raw_weeks(LandingZoneResource(uri=settings.raw_uri)) if w in valid]
        if not weeks:
            raise CliError(f"no spend or outcome rows under {settings.raw_uri} dated between "
                           f"{min(valid)} (the first partition) and the last complete week")
        validated = [a for a in VALIDATED if a in selected]
        chain = [a for a in MODEL_CHAIN if a in selected]
        if args.daemon:
            spans = {**{a: (weeks[0], weeks[-1]) for a in validated}, **{a: (weeks[-1], weeks[-1]) for a in chain}}
            return _queue(defs, instance, spans, op_config, f"umm materialize --latest ({weeks[-1]})")
        if validated:
            _run(defs, instance, validated, weeks[0], weeks[-1], op_config)
        if chain:
            _run(defs, instance, chain, weeks[-1], weeks[-1], op_config)
        return 0

    if args.partition:
        start = end = args.partition
    else:
        if not args.end:
            raise CliError("--from needs --to")
        start, end = args.start, args.end
        if end < start:
            raise CliError(f"--to {end} is before --from {start}")
    for week in {start, end}:
        if week not in valid:
            raise CliError(f"{week} is not a partition: partitions run from {min(valid)} (UMM_FIRST_WEEK) "
                           f"to {max(valid)} (the last complete week)")
    if args.daemon:
        span = start if start == end else f"{start} .. {end}"
        return _queue(defs, instance, {a: (start, end) for a in selected}, op_config, f"umm materialize {span}")
    _run(defs, instance, sorted(selected, key=_graph_order), start, end, op_config)
    return 0


def _queue(defs, instance, spans: dict[str, tuple[str, str]], op_config: dict, title: str) -> int:
    """``--daemon``: queue one backfill (unpartitioned assets, e.g. validated_tests, take no weeks)."""
    from umm_assets.defs.runs import queue_backfill

    spans = {a: span if defs.resolve_assets_def(a).partitions_def else None for a, span in spans.items()}
    backfill_id = queue_backfill(defs, instance, spans, title=title, op_config=op_config)
    print(f"queued backfill {backfill_id} for the Dagster daemon: {title}", flush=True)
    print(backfill_id, flush=True)
    return 0


def _graph_order(name: str) -> int:
    order = [*VALIDATED, *MODEL_CHAIN]
    return order.index(name) if name in order else len(order)


def _selection(select: str | None, known: set[str]) -> list[str]:
    if not select:
        return sorted(known, key=_graph_order)
    names = [n.strip() for n in select.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CliError(f"unknown asset(s) {', '.join(unknown)}; known: {', '.join(sorted(known, key=_graph_order))}")
    return names


def _run_config(path: Path | None, known: set[str]) -> dict:
    if path is None:
        return {}
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"--config {path}: {err}") from None
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        raise CliError(f"--config {path}: expected a mapping of asset name to its settings")
    unknown = sorted(set(config) - known)
    if unknown:
        raise CliError(f"--config {path}: unknown asset(s) {', '.join(unknown)}")
    return config


def _run(defs, instance, assets: Sequence[str], start: str, end: str, op_config: dict) -> None:
    from umm_assets.defs.runs import materialize

    settings = load_settings()
    span = start if start == end else f"{start} .. {end}"
    where = f" on the Dask scheduler {settings.dask_address}" if settings.dask_address else ""
    print(f"materializing {', '.join(assets)} for {span}{where}", flush=True)
    results = materialize(defs, settings, instance, assets, start, end, log_level=settings.log_level,
                          op_config=op_config)
    failed = [r for r in results if not r.success]
    for result in results:
        print(f"run {result.run_id} {'failed' if result in failed else 'succeeded'}", flush=True)
    if failed:
        raise CliError("\n".join(f"run {r.run_id} failed:\n" + "\n".join(r.failures) for r in failed))


# --- serve and keys (the REST API) ---------------------------------------------------------------


def _api_settings():
    from umm_api.settings import get_settings

    return get_settings()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _api_settings()
    print(f"serving {settings.data_dir} at http://{args.host}:{args.port} (docs: /docs); "
          f"keys and audit log in {settings.state_dir}", flush=True)
    # access_log off: every request is already in the audit log. X-Forwarded-For counts only from the proxies
    # named in UMM_API_FORWARDED_ALLOW_IPS (uvicorn would trust any local caller's)
    trusted = ",".join(settings.forwarded_allow_ips)
    uvicorn.run("umm_api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, access_log=False, proxy_headers=bool(trusted),
                forwarded_allow_ips=trusted or None)
    return 0


def _dash(args: argparse.Namespace) -> int:
    from umm_dash.app import serve
    from umm_dash.settings import get_settings

    settings = get_settings()
    print(f"dashboard of {settings.data_dir} at http://{args.host}:{args.port} (keys and audit log in "
          f"{settings.state_dir})", flush=True)
    serve(settings, args.host, args.port)
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from umm_assets.lib.serving.reader import open_reader

    for commit in open_reader(load_settings().data_dir).partitions(args.asset):
        print(commit.partition)
    return 0


def _keys(args: argparse.Namespace) -> int:
    from umm_assets.lib.serving.keys import KeyStore, UnknownKey

    store = KeyStore(_api_settings().keys_file)
    if args.keys_command == "create":
        try:
            record, key = store.create(args.name, args.role)
        except ValueError as err:
            raise CliError(str(err)) from None
        print(f"created {record.role} key {record.name!r} (id {record.id}) in {store.path}; "
              "it is shown only now, store it safely:", flush=True)
        print(key, flush=True)
        return 0
    if args.keys_command == "list":
        for k in store.list():
            state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
            print(f"{k.id}  {k.role:8s} {k.created_at}  {state:32s} {k.name}")
        return 0
    try:
        record = store.revoke(args.key_id)
    except UnknownKey as err:
        raise CliError(str(err)) from None
    print(f"revoked key {record.name!r} (id {record.id}) at {record.revoked_at}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
