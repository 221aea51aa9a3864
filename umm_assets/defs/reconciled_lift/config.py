"""Run configuration of ``reconciled_lift``."""

import dagster as dg

from umm_assets.lib.reconcile import FusionMethod, ReconcileConfig


class ReconcileRunConfig(dg.Config):
    method: str = ReconcileConfig.method.value  # weighted_average | bayesian | calibrated_refit
    weight_mmm: float = 0.5  # weights of the weighted_average method
    weight_tests: float = 0.3
    weight_attribution: float = 0.2
    tau: float = ReconcileConfig.tau
    seed: int = 0
    # a stored posterior that failed its convergence check is refused, and an unconverged calibrated
    # refit is sampled once more, then replaced by bayesian fusion, unless this is set
    allow_unconverged: bool = False
    # sampler overrides for the calibrated refit (default: the MMM's own settings)
    chains: int | None = None
    draws: int | None = None
    tune: int | None = None

    def reconcile_config(self) -> ReconcileConfig:
        return ReconcileConfig(
            method=FusionMethod(self.method),
            weights={"mmm": self.weight_mmm, "tests": self.weight_tests, "attribution": self.weight_attribution},
            tau=self.tau, seed=self.seed)
