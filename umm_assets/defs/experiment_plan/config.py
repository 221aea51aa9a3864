"""Run configuration of ``experiment_plan``."""

import dagster as dg

from umm_assets.lib import experiment_plan as plan


class ExperimentPlanRunConfig(dg.Config):
    # simulated test outcomes per design: time grows linearly, the Monte-Carlo error as 1/sqrt (96: under a
    # minute for 5 channels × 12 designs on 2 cores, bench/experiment_plan.py)
    n_outcomes: int = plan.N_OUTCOMES
    max_draws: int = plan.MAX_DRAWS  # posterior draws used (more are thinned evenly)
    durations: list[int] = list(plan.DURATIONS)  # test lengths in weeks
    horizon_weeks: int = plan.HORIZON_WEEKS  # how long the team acts on what a test taught
    # the measured lift's relative sd for a 4-week holdout; default: from the team's past tests' intervals,
    # else 20 %
    noise_cv: float | None = None
    min_ess: float = plan.MIN_ESS  # effective draws below which a design's update is flagged as rough
    seed: int = 0
    # the ranking_stable check re-assesses the two leading channels with this seed (its own random numbers)
    check_seed: int = 1
