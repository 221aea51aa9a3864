"""Bayesian marketing-mix model (pymc-marketing 1.3) for the ``mmm_posterior`` stage.

Pure domain code: never imports dagster, fastapi or dash. One module per concept:

- :mod:`.config` — :class:`~.config.MMMConfig` (model, priors, sampler, holdout) and its enums.
- :mod:`.frame` — long validated tables → wide window frame (:func:`~.frame.build_model_frame`).
- :mod:`.model` — the pymc-marketing ``MMM`` and its priors (:func:`~.model.build_mmm`).
- :mod:`.calibration` — incrementality tests → lift-test rows
  (:func:`~.calibration.lift_tests_to_calibration`).
- :mod:`.fit` — sampling with compile reuse, progress, holdout, save/load
  (:class:`~.fit.MMMFitter`).
- :mod:`.policy` — when a fit has converged, its one longer retry, the saturation kept
  (:func:`~.policy.fit_converging`, :func:`~.policy.loo_comparison`).
- :mod:`.summaries` — the tidy tables (:func:`~.summaries.summarize`).
- :mod:`.response` — numpy response curves and window lifts from stored draws
  (:class:`~.response.ResponseModel`).
"""
