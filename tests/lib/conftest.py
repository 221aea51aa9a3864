"""Known response curves shared by the optimizer's and the plan-support tests: a small demo world's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib import demo
from umm_assets.lib.mmm.response import ResponseModel


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    return demo.generate(tmp_path_factory.mktemp("world") / "raw", seed=3, weeks=80)


@pytest.fixture(scope="module")
def true_model(truth):
    return demo.true_response_model(truth)


@pytest.fixture(scope="module")
def noisy_model(truth, true_model):
    """200 posterior-like draws around the truth (15 % noise on the curve parameters)."""
    rng = np.random.default_rng(0)
    draws = []
    for d in range(200):
        for c in true_model.channels:
            t = truth["channels"][c]
            for name, value in (("adstock_alpha", t["alpha"]), ("saturation_slope", t["slope"]),
                                ("saturation_kappa", t["half_saturation"]), ("saturation_beta", t["beta"])):
                noise = 1.0 if name == "adstock_alpha" else rng.lognormal(0, 0.15)
                draws.append({"draw": d, "channel": c, "geo": "national", "name": name, "value": value * noise})
    return ResponseModel.from_draws(pd.DataFrame(draws), true_model.spec)


@pytest.fixture(scope="module")
def current(truth):
    return {c: v["mean_weekly_spend_last_13_weeks"] for c, v in truth["channels"].items()}
