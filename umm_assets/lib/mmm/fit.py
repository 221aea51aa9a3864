"""Build, calibrate and sample a pymc-marketing 1.3 ``MMM`` for one window.

Entry points
------------
- :class:`MMMFitter` — fits windows, reusing the nutpie compilation across windows of the
  same shape, runs the holdout refit, reports progress.
- :func:`save_fit` / :func:`load_mmm` — pymc-marketing's own netCDF format.

Compile reuse. ``MMM.fit`` freezes the model's data into the graph and compiles it with
nutpie on every call (~9–14 s here with a warm numba cache), and calling ``fit`` again on
a fitted ``MMM`` silently refits the old data. The fitter builds a *new* ``MMM`` per
window (cheap) and, per :class:`CompileReuse`, compiles the unfrozen graph once per shape
(weeks, channels, controls, geos, model settings) with
``nutpie.compile_pymc_model(..., freeze_model=False)`` and swaps each window's data in
with ``CompiledModel.with_data``. The sampled free variables are handed to the window's
own ``MMM`` through its ``_fit_mcmc`` hook, so ``MMM.fit`` does its usual bookkeeping
(deterministics, ``fit_data``, attrs) and the result saves and loads like any
pymc-marketing fit. Measured (156 weeks × 5 channels, same process): a reused window costs
~0.7× a fresh ``MMM.fit``; unfrozen gradients are ~15–30 % slower, so a one-off fit is
compiled frozen (``auto``). Lift-test calibration bakes scaled test values into the graph
as constants, so calibrated fits are compiled per window.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .calibration import lift_tests_to_calibration
from .config import MMMConfig, Sampler
from .frame import DATE, GEO, NATIONAL, ModelFrame
from .model import build_mmm

__all__ = [
    "CompileReuse",
    "FitResult",
    "HoldoutResult",
    "LooResult",
    "MMMFitter",
    "Phase",
    "ProgressCallback",
    "build_mmm",
    "lift_tests_to_calibration",
    "load_mmm",
    "save_fit",
]

ProgressCallback = Callable[[str, dict[str, Any]], None]


class CompileReuse(StrEnum):
    """When :class:`MMMFitter` compiles the unfrozen, data-swappable graph.

    ``auto`` (default): the first fit of a shape compiles a frozen graph (its gradients
    are ~25 % faster, and a one-off fit gains nothing from reuse); from the second fit
    of the same shape on, an unfrozen graph is compiled once and reused.
    ``always``: unfrozen from the first fit. ``never``: frozen every time (``MMM.fit``).
    """

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class Phase(StrEnum):
    """Phases reported to the ``progress`` callback, in order."""

    BUILD = "build"
    COMPILE = "compile"
    SAMPLING = "sampling"
    DETERMINISTICS = "deterministics"
    POSTERIOR_PREDICTIVE = "posterior_predictive"
    HOLDOUT = "holdout"


# ---------------------------------------------------------------------------- fitting


@dataclass
class HoldoutResult:
    """Out-of-sample check: the last weeks predicted by the model fitted without them.

    ``method`` is ``"psis"`` (leave-future-out by Pareto-smoothed importance sampling of the full
    posterior, no refit; ``pareto_k`` its reliability) or ``"refit"``.

    ``predicted`` has one row per (week, geo) of the held-out weeks with ``actual``,
    ``predicted_mean``, ``predicted_lower`` (5 %) and ``predicted_upper`` (95 %).
    ``mape`` is the mean absolute percentage error of the predictive mean; ``wape``
    (Σ|error| / Σ|actual|) is the robust alternative when some actuals are near zero.
    """

    weeks: int
    mape: float
    wape: float
    coverage_90: float
    predicted: pd.DataFrame
    seconds: float
    method: str = "refit"
    pareto_k: float = float("nan")


@dataclass
class LooResult:
    """PSIS-LOO of the fitted weeks: expected log predictive density of a week left out (``elpd``, in the
    model's scaled units, so comparable between models of the same window only), its standard error,
    and the largest Pareto k (above 0.7 the estimate is unreliable). ``pointwise``: each week's elpd,
    for paired comparisons of two models of the same weeks (not stored)."""

    elpd: float
    se: float
    pareto_k_max: float
    pointwise: np.ndarray | None = field(default=None, repr=False)


@dataclass
class FitResult:
    """A fitted window: the pymc-marketing model plus what the summaries need."""

    mmm: Any
    frame: ModelFrame
    config: MMMConfig
    timings: dict[str, float] = field(default_factory=dict)
    compile_reused: bool = False
    holdout: HoldoutResult | None = None
    loo: LooResult | None = None
    calibration: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def idata(self):
        """The fitted ``xr.DataTree`` (posterior, posterior_predictive, constant_data …)."""
        return self.mmm.idata


class MMMFitter:
    """Fits MMM windows; compiles once per model shape and reuses it.

    Parameters
    ----------
    config : MMMConfig
        Model and sampler settings.
    progress : callable, optional
        ``progress(phase, detail)`` with ``phase`` a :class:`Phase` value; ``detail``
        holds ``elapsed_s`` and, while sampling with nutpie, ``draws_done``,
        ``draws_total``, ``divergences``, ``tuning``. Called from nutpie's progress
        thread during sampling: keep it quick and thread-safe.
    reuse_compilation : CompileReuse or bool
        When to compile the unfrozen graph once per shape and swap data (nutpie only);
        ``True``/``False`` mean ``always``/``never``. Default ``auto``.

    Examples
    --------
    >>> fitter = MMMFitter(MMMConfig())
    >>> result = fitter.fit(frame)             # doctest: +SKIP
    >>> result2 = fitter.fit(next_week_frame)  # doctest: +SKIP  (no recompile)
    """

    def __init__(
        self,
        config: MMMConfig,
        *,
        progress: ProgressCallback | None = None,
        reuse_compilation: CompileReuse | bool | str = CompileReuse.AUTO,
    ) -> None:
        self.config = config
        self._progress = progress
        if isinstance(reuse_compilation, bool):
            reuse_compilation = CompileReuse.ALWAYS if reuse_compilation else CompileReuse.NEVER
        self.reuse_compilation = CompileReuse(reuse_compilation)
        self._compiled: dict[str, Any] = {}
        self._seen: dict[str, int] = {}
        self.deterministics_unfrozen = True
        self.cache_hits = 0
        self.cache_misses = 0

    # -- public -------------------------------------------------------------------
    @property
    def progress(self) -> ProgressCallback | None:
        """The ``progress(phase, detail)`` callback; may be replaced between fits."""
        return self._progress

    @progress.setter
    def progress(self, callback: ProgressCallback | None) -> None:
        self._progress = callback

    def fit(
        self,
        frame: ModelFrame,
        *,
        calibration: pd.DataFrame | None = None,
        holdout: bool | None = None,
    ) -> FitResult:
        """Fit one window (new ``MMM``), its posterior predictive and the holdout refit.

        Parameters
        ----------
        frame : ModelFrame
            The window.
        calibration : pd.DataFrame, optional
            Lift tests in pymc-marketing's format.
        holdout : bool, optional
            Run the holdout refit; default ``config.holdout_weeks > 0``.

        Returns
        -------
        FitResult
        """
        cfg = self.config
        quiet_library_output()
        t_all = time.perf_counter()
        result = self._fit_once(frame, cfg, calibration=calibration, label="")
        self._emit(Phase.POSTERIOR_PREDICTIVE, t0=time.perf_counter())
        t0 = time.perf_counter()
        result.mmm.sample_posterior_predictive(
            frame.X,
            extend_idata=True,
            combined=False,
            random_seed=cfg.seed,
            progressbar=False,
        )
        result.timings["posterior_predictive"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result.loo = loo(result)
        result.timings["loo"] = time.perf_counter() - t0
        do_holdout = cfg.holdout_weeks > 0 if holdout is None else holdout
        if do_holdout and cfg.holdout_weeks > 0:
            t0 = time.perf_counter()
            self._emit(Phase.HOLDOUT, t0=t0, weeks=cfg.holdout_weeks, method="psis")
            result.holdout = psis_holdout(result, cfg.holdout_weeks)
            if result.holdout is None:  # importance sampling unreliable here (Pareto k > 0.7): refit
                result.holdout = self.holdout(frame, calibration=calibration)
            result.timings["holdout"] = time.perf_counter() - t0
        result.timings["total"] = time.perf_counter() - t_all
        return result

    def holdout(
        self, frame: ModelFrame, *, calibration: pd.DataFrame | None = None
    ) -> HoldoutResult:
        """Refit on all but the last ``holdout_weeks`` weeks (cheaper sampling), predict them.

        The refit uses ``holdout_draws``/``holdout_tune`` per chain: only the predictive
        mean and interval of the held-out weeks are used, which need far fewer effective
        draws than the convergence checks. Adstock carries over into the held-out weeks
        (``include_last_observations``); trend and seasonality are extrapolated.
        """
        cfg = self.config
        h = cfg.holdout_weeks
        t0 = time.perf_counter()
        self._emit(Phase.HOLDOUT, t0=t0, weeks=h)
        train = frame.first_weeks(frame.n_weeks - h)
        hcfg = cfg.replace(draws=cfg.holdout_draws, tune=cfg.holdout_tune, holdout_weeks=0)
        res = self._fit_once(train, hcfg, calibration=calibration, label="holdout ")
        future_weeks = frame.weeks[frame.n_weeks - h :]
        mask = frame.X[DATE].isin(future_weeks).to_numpy()
        X_future = frame.X.loc[mask]
        pp = res.mmm.sample_posterior_predictive(
            X_future,
            extend_idata=False,
            combined=True,
            include_last_observations=True,
            random_seed=cfg.seed,
            progressbar=False,
        )
        scale = _target_scale(res.mmm)
        y = pp["y"] * scale
        dims = ["date", *frame.dims]
        mean = y.mean("sample").transpose(*dims)
        lo = y.quantile(0.05, dim="sample").transpose(*dims)
        hi = y.quantile(0.95, dim="sample").transpose(*dims)
        pred = _long_table(mean, frame).rename(columns={"value": "predicted_mean"})
        pred["predicted_lower"] = _long_table(lo, frame)["value"].to_numpy()
        pred["predicted_upper"] = _long_table(hi, frame)["value"].to_numpy()
        actual = frame.X.loc[mask, [DATE, *frame.dims]].assign(actual=frame.y[mask].to_numpy())
        actual = actual.rename(columns={DATE: "week"})
        if not frame.is_geo:
            actual[GEO] = NATIONAL
        pred = pred.merge(actual, on=["week", GEO], how="left")
        ape = (pred["predicted_mean"] - pred["actual"]).abs() / pred["actual"].abs()
        inside = (pred["actual"] >= pred["predicted_lower"]) & (
            pred["actual"] <= pred["predicted_upper"]
        )
        abs_err = (pred["predicted_mean"] - pred["actual"]).abs()
        return HoldoutResult(
            weeks=h,
            mape=float(ape.mean()),
            wape=float(abs_err.sum() / pred["actual"].abs().sum()),
            coverage_90=float(inside.mean()),
            predicted=pred[
                ["week", GEO, "actual", "predicted_mean", "predicted_lower", "predicted_upper"]
            ],
            seconds=time.perf_counter() - t0,
        )

    # -- internals ----------------------------------------------------------------
    def _emit(self, phase: Phase, *, t0: float, **detail: Any) -> None:
        if self._progress is None:
            return
        detail.setdefault("elapsed_s", round(time.perf_counter() - t0, 3))
        try:
            self._progress(phase.value, detail)
        except Exception:  # a broken logger must not break a fit
            pass

    def _fit_once(
        self,
        frame: ModelFrame,
        cfg: MMMConfig,
        *,
        calibration: pd.DataFrame | None,
        label: str,
    ) -> FitResult:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self._emit(
            Phase.BUILD,
            t0=t0,
            weeks=frame.n_weeks,
            channels=len(frame.channels),
            geos=len(frame.geos),
            label=label.strip(),
        )
        mmm = build_mmm(frame, cfg, calibration=calibration)
        timings["build"] = time.perf_counter() - t0
        result = FitResult(
            mmm=mmm,
            frame=frame,
            config=cfg,
            timings=timings,
            calibration=calibration,
            notes=list(frame.warnings),
        )
        if cfg.sampler == Sampler.NUTPIE:
            hook = _NutpieHook(self, mmm, frame, cfg, calibration, timings, result)
            mmm._fit_mcmc = hook  # instance-level override of the sampling hook
            mmm.fit(frame.X, frame.y, progressbar=False, random_seed=cfg.seed)
            timings["deterministics"] = hook.deterministics_s
        else:
            t1 = time.perf_counter()
            self._emit(Phase.SAMPLING, t0=t1, sampler=cfg.sampler.value)
            extra: dict[str, Any] = {}
            if cfg.sampler == Sampler.NUMPYRO:
                _jax_host_devices(cfg.chains)
                extra["nuts_sampler_kwargs"] = {"chain_method": "parallel"}
            mmm.fit(
                frame.X,
                frame.y,
                progressbar=False,
                random_seed=cfg.seed,
                nuts_sampler=cfg.sampler.value,
                chains=cfg.chains,
                draws=cfg.draws,
                tune=cfg.tune,
                target_accept=cfg.target_accept,
                cores=cfg.cores,
                **extra,
            )
            timings["sampling"] = time.perf_counter() - t1
        timings["fit"] = time.perf_counter() - t0
        return result

    def _compiled_for(
        self, mmm, frame: ModelFrame, cfg: MMMConfig, calibration
    ) -> tuple[Any, bool]:
        import nutpie

        free = [v.name for v in mmm.model.free_RVs]
        key = hashlib.sha256(
            repr((frame.shape_key(), cfg.fingerprint(), tuple(free))).encode()
        ).hexdigest()
        seen = self._seen.get(key, 0)
        self._seen[key] = seen + 1
        mode = self.reuse_compilation
        reuse = (
            mode != CompileReuse.NEVER
            and (calibration is None or len(calibration) == 0)
            and (mode == CompileReuse.ALWAYS or seen >= 1)
        )
        if reuse and key in self._compiled:
            compiled = self._compiled[key]
            data = {v.name: v.get_value() for v in mmm.model.data_vars}
            known = {v.name for v in compiled.shared_var_keys}
            if set(data) != known:  # graph changed shape of its data: compile afresh
                raise RuntimeError(f"data nodes differ: {sorted(data)} vs {sorted(known)}")
            self.cache_hits += 1
            return compiled.with_data(**data), True
        self.cache_misses += 1
        model = mmm.model if reuse else mmm._get_sampling_model()
        compiled = nutpie.compile_pymc_model(model, freeze_model=not reuse, var_names=free)
        if reuse:
            self._compiled[key] = compiled
        return compiled, False


PSIS_K_MAX = 0.7


def loo(result: FitResult) -> LooResult:
    """PSIS-LOO (arviz) of the outcome's likelihood, for comparing model structures on one window.

    The pointwise log-likelihood is computed here and not kept in the saved model (it would add
    weeks × draws values to the file)."""
    import arviz as az
    import pymc as pm
    from xarray import DataTree

    with result.mmm.model:
        log_likelihood = pm.compute_log_likelihood(result.idata, var_names=["y"], extend_inferencedata=False,
                                                   progressbar=False)
    tree = DataTree.from_dict({"posterior": result.idata["posterior"].to_dataset(), "log_likelihood": log_likelihood})
    estimate = az.loo(tree)
    return LooResult(float(estimate.elpd), float(estimate.se), float(np.nanmax(np.asarray(estimate.pareto_k))),
                     np.asarray(estimate.elpd_i, dtype=float).ravel())


def psis_holdout(result: FitResult, weeks: int) -> HoldoutResult | None:
    """The last ``weeks`` weeks predicted as if the model had been fitted without them, with no refit.

    Leave-future-out by Pareto-smoothed importance sampling (Bürkner, Gabry & Vehtari 2020): the
    full posterior's draws are reweighted by 1 / p(held-out weeks | draw), which approximates the
    posterior given the earlier weeks only; their posterior-predictive draws of the held-out weeks,
    so weighted, are the forecast. Returns None when the Pareto k diagnostic exceeds 0.7 (the
    approximation is unreliable): then refit. Assumes the Normal likelihood of the default model.
    """
    from arviz_stats.base import array_stats

    t0 = time.perf_counter()
    frame, idata = result.frame, result.idata
    posterior = idata["posterior"].to_dataset()
    if "mu" not in posterior or "y_sigma" not in posterior or "posterior_predictive" not in idata:
        return None
    dims = ["date", *frame.dims]
    scale = idata["constant_data"]["target_scale"]
    observed = (idata["constant_data"]["target_data"] / scale).transpose(*dims)
    last = frame.weeks[frame.n_weeks - weeks:]
    mu = posterior["mu"].stack(sample=("chain", "draw")).sel(date=last)
    sigma = posterior["y_sigma"].stack(sample=("chain", "draw"))
    z = (observed.sel(date=last) - mu) / sigma  # xarray broadcasts geo/date by name
    loglik = (-0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum([d for d in z.dims if d != "sample"])
    log_weights, k = array_stats.psislw(-loglik.transpose("sample").values)
    if not np.isfinite(k) or k > PSIS_K_MAX:
        return None
    w = np.exp(log_weights - log_weights.max())
    w /= w.sum()
    pp = idata["posterior_predictive"].to_dataset()["y"] * scale
    pp = pp.stack(sample=("chain", "draw")).transpose("sample", *dims).sel(date=last)
    values = pp.values.reshape(len(w), -1)  # (sample, week × geo)
    order = np.argsort(values, axis=0)
    cumulative = np.cumsum(w[order], axis=0)

    def quantile(q: float) -> np.ndarray:
        at = (cumulative >= q).argmax(axis=0)
        return np.take_along_axis(values, order, axis=0)[at, np.arange(values.shape[1])]

    mean = w @ values
    actual = (observed.sel(date=last) * scale).values.reshape(-1)
    index = pp.isel(sample=0).to_dataframe(name="v").reset_index()[dims].rename(columns={"date": "week"})
    if not frame.is_geo:
        index[GEO] = NATIONAL
    predicted = index.assign(actual=actual, predicted_mean=mean, predicted_lower=quantile(0.05),
                             predicted_upper=quantile(0.95))[["week", GEO, "actual", "predicted_mean",
                                                              "predicted_lower", "predicted_upper"]]
    error = np.abs(mean - actual)
    inside = (actual >= predicted["predicted_lower"].to_numpy()) & (actual <= predicted["predicted_upper"].to_numpy())
    return HoldoutResult(weeks=weeks, mape=float(np.mean(error / np.abs(actual))),
                         wape=float(error.sum() / np.abs(actual).sum()), coverage_90=float(inside.mean()),
                         predicted=predicted, seconds=time.perf_counter() - t0, method="psis", pareto_k=float(k))


class _NutpieHook:
    """Replaces ``MMM._fit_mcmc``: sample with a (possibly reused) nutpie compilation."""

    def __init__(self, fitter, mmm, frame, cfg, calibration, timings, result) -> None:
        self.fitter, self.mmm, self.frame, self.cfg = fitter, mmm, frame, cfg
        self.calibration, self.timings, self.result = calibration, timings, result
        self.deterministics_s = 0.0

    def __call__(self, sampler_kwargs: dict[str, Any]):
        import nutpie
        import pymc as pm
        from pymc.backends.arviz import patch_nutpie_idata

        fitter, cfg = self.fitter, self.cfg
        t0 = time.perf_counter()
        fitter._emit(Phase.COMPILE, t0=t0)
        compiled, reused = fitter._compiled_for(self.mmm, self.frame, cfg, self.calibration)
        self.timings["compile"] = time.perf_counter() - t0
        self.result.compile_reused = reused
        fitter._emit(Phase.COMPILE, t0=t0, reused=reused, done=True)

        t1 = time.perf_counter()
        lock = threading.Lock()
        last = [0.0]

        def on_progress(chains) -> None:
            now = time.perf_counter()
            with lock:
                if now - last[0] < 1.0:
                    return
                last[0] = now
            fitter._emit(
                Phase.SAMPLING,
                t0=t1,
                draws_done=int(sum(c.finished_draws for c in chains)),
                draws_total=int(sum(c.total_draws for c in chains)),
                divergences=int(sum(c.divergences for c in chains)),
                tuning=bool(any(c.tuning for c in chains)),
            )

        idata = nutpie.sample(
            compiled,
            draws=cfg.draws,
            tune=cfg.tune,
            chains=cfg.chains,
            cores=cfg.cores,
            seed=int(cfg.seed),
            target_accept=cfg.target_accept,
            adaptation=cfg.nutpie_adaptation,
            save_warmup=False,
            progress_bar=False,
            progress_callback=on_progress if fitter._progress else None,
            progress_rate=500,
        )
        sampling = time.perf_counter() - t1
        self.timings["sampling"] = sampling
        total = cfg.chains * (cfg.draws + cfg.tune)
        fitter._emit(Phase.SAMPLING, t0=t1, draws_done=total, draws_total=total, done=True)

        t2 = time.perf_counter()
        fitter._emit(Phase.DETERMINISTICS, t0=t2)
        # The unfrozen graph is the same for every window of a shape, so its compiled
        # deterministics function comes from the numba cache; a frozen one is rebuilt.
        model = self.mmm.model if fitter.deterministics_unfrozen else self.mmm._get_sampling_model()
        patch_nutpie_idata(idata, model, sampling_time=sampling)
        with model:
            pm.compute_deterministics(idata, extend_dataset=True, progressbar=False)
        self.deterministics_s = time.perf_counter() - t2
        return idata


def quiet_library_output() -> None:
    """What the libraries print during a fit that says nothing to the platform's users (the fit reports its
    own phases): PyMC's "Sampling: [y]" lines, and PyTensor's divide-by-zero warnings from rewriting the graph
    (constant folding evaluates a 1/0 whose result is masked; the posterior is unaffected)."""
    logging.getLogger("pymc").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", "divide by zero encountered", RuntimeWarning, r"pytensor\.tensor\.rewriting")


def _jax_host_devices(n: int) -> None:
    """Let numpyro run ``n`` chains in parallel on CPU (only before jax is imported)."""
    import os
    import sys

    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def _target_scale(mmm) -> Any:
    return mmm.idata["constant_data"]["target_scale"]


def _long_table(da, frame: ModelFrame) -> pd.DataFrame:
    """(date[, geo]) DataArray → rows week, geo, value."""
    df = da.to_dataframe(name="value").reset_index().rename(columns={"date": "week"})
    if GEO not in df.columns:
        df[GEO] = NATIONAL
    return df[["week", GEO, "value"]]


# ---------------------------------------------------------------------------- save / load


def save_fit(result: FitResult, path: str | Path) -> Path:
    """Write the posterior in pymc-marketing's format (netCDF), reloadable by ``MMM.load``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.mmm.save(str(path))
    return path


def load_mmm(path: str | Path):
    """``MMM.load`` of a file written by :func:`save_fit` (model rebuilt from its attrs)."""
    from pymc_marketing.mmm import MMM

    return MMM.load(str(path))
