"""Run configuration of ``mmm_posterior`` (launchpad / ``op_config``); unset fields keep the
measured defaults of :class:`umm_assets.lib.mmm.config.MMMConfig`."""

import json

import dagster as dg

from umm_assets.lib.mmm.config import DIVERGENCES_MAX, ESS_MIN, RHAT_MAX, Adstock, MMMConfig, Saturation
from umm_assets.lib.mmm.policy import ConvergencePolicy

AUTO = "auto"


class MMMRunConfig(dg.Config):
    # "auto" (default): fit logistic and Hill, keep the one lib.mmm.policy.loo_comparison chooses (higher
    # PSIS-LOO elpd among converged fits, Hill on a tie; twice the cost: on the demo's Hill-shaped worlds it
    # turned plans capturing 8-19 % of the true uplift into 63-85 %).
    # "logistic" | "hill": fit that one only.
    saturation: str = AUTO
    # carry-over kernel. "auto" (default): once the saturation is chosen with geometric carry-over, delayed
    # carry-over (a peak weeks after the spend, or at once) is fitted with that saturation too, and
    # loo_comparison chooses among the fits (delayed on a tie). One fit more per week; on market seed 1,
    # whose carry-over peaks 2-3 weeks late on three of four channels, LOO kept delayed (elpd +38) and the
    # plan went from 84 % to 100 % of the true uplift; on demo seed 7 (geometric truth) it kept geometric.
    # "geometric" | "delayed" | "binomial": fit that one only.
    adstock: str = AUTO
    chains: int | None = None
    draws: int | None = None
    tune: int | None = None
    target_accept: float | None = None
    seed: int | None = None
    holdout_weeks: int | None = None
    n_keep_draws: int | None = None
    priors_json: str | None = None  # JSON {model_config name: Prior.to_dict()}
    # convergence checks (blocking): a fit outside these never reaches reconciliation and allocation
    rhat_max: float = RHAT_MAX
    ess_min: float = ESS_MIN
    divergences_max: int = DIVERGENCES_MAX
    # a fit that fails them is sampled once more, longer (lib.mmm.policy.escalated); if it still fails,
    # nothing is written unless keep_unconverged is set
    escalate: bool = True
    keep_unconverged: bool = False
    # holdout check (warning)
    holdout_mape_max: float = 0.15

    def policy(self) -> ConvergencePolicy:
        """The convergence checks this run holds its fits to, and whether it samples a failing one again."""
        return ConvergencePolicy(rhat_max=self.rhat_max, ess_min=self.ess_min, divergences_max=self.divergences_max,
                                 escalate=self.escalate)

    def candidates(self, window_weeks: int) -> list[MMMConfig]:
        """The model(s) to fit first for a window: one, or each saturation when ``saturation`` is ``auto``
        (with geometric carry-over when ``adstock`` is ``auto``)."""
        adstock = Adstock.GEOMETRIC.value if self.adstock == AUTO else self.adstock
        saturations = [s.value for s in Saturation] if self.saturation == AUTO else [self.saturation]
        return [self.model_copy(update={"saturation": s, "adstock": adstock}).mmm_config(window_weeks)
                for s in saturations]

    def carry_over_candidate(self, kept: MMMConfig) -> MMMConfig | None:
        """With ``adstock`` ``auto``: the model kept among the first candidates, with delayed carry-over."""
        return kept.replace(adstock=Adstock.DELAYED) if self.adstock == AUTO else None

    def label(self, candidate: MMMConfig) -> str:
        """A candidate's name in the log and metadata: its families that are chosen (``hill``,
        ``hill delayed``); empty when nothing is."""
        return " ".join(getattr(candidate, part).value for part in ("saturation", "adstock")
                        if getattr(self, part) == AUTO)

    def mmm_config(self, window_weeks: int) -> MMMConfig:
        fields = ("saturation", "adstock", "chains", "draws", "tune", "target_accept", "seed", "holdout_weeks", "n_keep_draws")
        overrides = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        if self.priors_json:
            overrides["priors"] = json.loads(self.priors_json)
        return MMMConfig(window_weeks=window_weeks, min_weeks=min(52, window_weeks), **overrides)
