"""Every ``UMM_*`` setting of the platform in one typed object, read from the environment once and
validated at start: the code location, the ``umm`` command, the API and the dashboard all take their
settings from :func:`load_settings` (the API and the dashboard through their sections ``api`` and
``dash``), so a bad value fails every one of them before anything runs, naming the variable.

``UMM_API_*`` and ``UMM_DASH_*`` fill the sections (``UMM_API_STATE_DIR`` is ``api.state_dir``).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from umm_assets.lib.landing import WeeklyBesideDaily
from umm_assets.lib.mmm.config import MIN_WEEKS_FLOOR

PREFIX = "UMM_"
SECRET = {"UMM_DAGSTER_PG_URL", "UMM_DASH_SECRET_KEY"}  # never echoed in an error message


class SettingsError(ValueError):
    """One or more ``UMM_*`` variables are invalid; the message names each with its value and the rule."""


def absolute_uri(uri: str) -> str:
    """Local paths become absolute (relative to the working directory), so child processes agree."""
    if "://" in uri:
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
    return value


Port = Annotated[int, Field(ge=1, le=65535)]
# the form of each address setting: (pattern, how to write it)
ADDRESSES = {
    "dagster_pg_url": (r"postgres(ql)?://[^/\s]+/[^/\s?]+(\?\S*)?", "postgresql://user:password@host:port/database"),
    "dask_address": (r"(tcp|tls)://[^\s/]+:\d+", "tcp://host:port (a Dask scheduler's address)"),
}
CommaList = Annotated[tuple[str, ...], NoDecode]


class ApiSection(BaseModel):
    """``UMM_API_*``: the REST API (see the README's "REST API")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    port: Port = 8000
    state_dir: str = "data/api"
    cors_origins: CommaList = ()
    cache_entries: int = Field(256, ge=0)
    table_cache_entries: int = Field(64, ge=0)
    remote_ttl_seconds: float = Field(2.0, ge=0)
    audit_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    audit_keep: int = Field(20, ge=0)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # none by default: behind no proxy, a forged X-Forwarded-For would become the audited client address
    forwarded_allow_ips: CommaList = ()

    _absolute = field_validator("state_dir", mode="after")(absolute_uri)
    _lists = field_validator("cors_origins", "forwarded_allow_ips", mode="before")(_split_list)


class DashSection(BaseModel):
    """``UMM_DASH_*``: the dashboard (see the README's "Dashboard")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    port: Port = 8050
    secret_key: str | None = None
    session_hours: float = Field(12.0, gt=0)
    secure_cookies: bool = False
    threads: int = Field(8, ge=1)
    table_cache_entries: int = Field(256, ge=0)
    # the dashboard's address as its readers reach it (behind a proxy: the proxy's); None: http://UMM_HOST:port.
    # Dagster's asset pages link to it (see Settings.dash_url)
    public_url: str | None = None

    @field_validator("public_url", mode="after")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            raise ValueError("must read http(s)://host[:port][/path] (the dashboard's address for its readers)")
        return url.rstrip("/") if url else url


# from_env(environ) reads this mapping instead of os.environ (tests and benchmarks build settings for
# temporary folders without touching the process environment)
_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("umm_environ", default=None)


class _Environment(EnvSettingsSource):
    def _load_env_vars(self):
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return {k.lower(): v for k, v in environ.items() if v is not None and (v != "" or not self.env_ignore_empty)}


class Settings(BaseSettings):
    """The platform's settings; field ``x`` is the variable ``UMM_X`` (sections: ``UMM_API_*``, ``UMM_DASH_*``)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                      env_ignore_empty=True, extra="ignore", frozen=True)

    raw_uri: str = "data/raw"
    data_dir: str = "data/warehouse"
    # None: partitions start at the first week with spend or outcome rows in the landing zone
    first_week: dt.date | None = None
    model_window_weeks: int = 156
    weekly_beside_daily: WeeklyBesideDaily = WeeklyBesideDaily.error
    run_config: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    host: str = "127.0.0.1"
    dagster_port: Port = 3000
    # Dagster's run, event-log and schedule storage (dagster_home/dagster.yaml); unset: SQLite in DAGSTER_HOME
    dagster_pg_url: str | None = None
    # run the steps of `umm materialize` on this Dask scheduler; unset: in local processes
    dask_address: str | None = None
    api: ApiSection = ApiSection()
    dash: DashSection = DashSection()

    _absolute = field_validator("raw_uri", "data_dir", mode="after")(absolute_uri)

    @field_validator("first_week", mode="after")
    @classmethod
    def _monday(cls, day: dt.date | None) -> dt.date | None:
        if day is not None and day.weekday() != 0:
            raise ValueError(f"must be a Monday (weekly partitions are keyed by their Monday), not a {day:%A}")
        return day

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @field_validator("dagster_pg_url", "dask_address", mode="after")
    @classmethod
    def _address(cls, value: str | None, info: ValidationInfo) -> str | None:
        pattern, form = ADDRESSES[info.field_name]
        if value is not None and not re.fullmatch(pattern, value):
            raise ValueError(f"must read {form}")
        return value

    @field_validator("model_window_weeks", mode="after")
    @classmethod
    def _a_year_at_least(cls, weeks: int) -> int:
        if weeks < MIN_WEEKS_FLOOR:
            raise ValueError(f"must be at least {MIN_WEEKS_FLOOR}: the model needs a year of weeks to separate "
                             "media from seasonality")
        return weeks

    @field_validator("run_config", mode="after")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @property
    def dash_url(self) -> str:
        """The dashboard's address for links: ``UMM_DASH_PUBLIC_URL``, else ``http://UMM_HOST:UMM_DASH_PORT``
        (``localhost`` for a host that listens on every interface)."""
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        return self.dash.public_url or f"http://{host}:{self.dash.port}"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, _Environment(settings_cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default: the process environment), or :class:`SettingsError`."""
        token = _ENVIRON.set(environ)
        try:
            return cls()
        except ValidationError as err:
            raise SettingsError(describe(err, environ)) from None
        finally:
            _ENVIRON.reset(token)


def variable(loc: tuple) -> str:
    """The environment variable of a field location, e.g. ``("api", "cache_entries")`` -> ``UMM_API_CACHE_ENTRIES``."""
    return PREFIX + "_".join(str(part) for part in loc).upper()


def describe(err: ValidationError, environ: Mapping[str, str] | None = None) -> str:
    """One line per bad variable: its name, the value given and the rule it broke."""
    env = os.environ if environ is None else environ
    lines = []
    for problem in err.errors():
        name = variable(problem["loc"])
        given = "(not shown: it holds a secret)" if name in SECRET else repr(env.get(name, problem.get("input")))
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{name}={given}: {message}")
    return "bad setting: " + "; ".join(lines)


@functools.cache
def load_settings() -> Settings:
    """The process's settings, read from the environment on first use and then shared."""
    return Settings.from_env()
