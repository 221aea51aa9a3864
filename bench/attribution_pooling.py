"""How many tested channels does it take before attribution may speak for an untested one? (simulated)

Each simulated world has ``n`` tested channels and one untested channel. Their last-click biases
(log attributed / incremental) are drawn either **realistic** — independent per channel type, log-sd
1.0 (audits find TV ×0.2 next to search ×2.4) — or **shared** — one bias for all, log-sd 0.05. Each
tested channel's bias is observed with the noise of a lift test (log-sd 0.15); the untested channel's
is predicted from them by:

- ``hierarchical``: the platform's model (:func:`umm_assets.lib.attribution.bias_predictive`);
- ``pooled (old)``: what the platform did before — when the tested biases' log-sd was under 0.25,
  their mean with sd ``hypot(spread, mean test sd)``; otherwise nothing.

Printed per ``n`` and regime: how often the untested channel's true bias falls inside the predicted
90 % interval (an honest method stays near 90 % whatever the world), the interval's width (a factor
either way), and how often the old rule pooled at all. Usage: ``python bench/attribution_pooling.py``
(seconds; no model fit).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from umm_assets.lib.attribution import bias_predictive  # noqa: E402

REGIMES = {"realistic": 1.0, "shared": 0.05}
TEST_SD = 0.15
WORLDS = 400


def old_rule(observed: np.ndarray) -> tuple[float, float] | None:
    spread = float(np.std(observed, ddof=1))
    return (float(observed.mean()), float(np.hypot(spread, TEST_SD))) if spread <= 0.25 else None


def simulate(n: int, spread: float, rng: np.random.Generator) -> dict:
    covered, widths, old_covered, old_used = [], [], [], []
    for _ in range(WORLDS):
        mu = rng.normal(0.3, 0.8)
        true = mu + rng.normal(0, spread, n + 1)  # the last one is untested
        observed = true[:n] + rng.normal(0, TEST_SD, n)
        predictive = bias_predictive([(float(v), TEST_SD) for v in observed])
        lo, hi = predictive.quantile(0.05), predictive.quantile(0.95)
        covered.append(lo <= true[-1] <= hi)
        widths.append(np.exp((hi - lo) / 2))
        pooled = old_rule(observed)
        if pooled is not None:
            old_used.append(True)
            old_covered.append(abs(true[-1] - pooled[0]) <= 1.645 * pooled[1])
        else:
            old_used.append(False)
    return {"hierarchical: covered": np.mean(covered), "hierarchical: factor": np.median(widths),
            "pooled (old): used": np.mean(old_used),
            "pooled (old): covered when used": np.mean(old_covered) if old_covered else np.nan}


def main() -> None:
    rng = np.random.default_rng(0)
    rows = [{"regime": regime, "tested": n, **simulate(n, spread, rng)}
            for regime, spread in REGIMES.items() for n in (2, 3, 4, 6, 8, 12)]
    table = pd.DataFrame(rows)
    print(f"{WORLDS} simulated worlds per row; the untested channel's true bias vs its predicted 90 % interval\n")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
