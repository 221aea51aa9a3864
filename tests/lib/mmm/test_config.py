import json

import pytest

from umm_assets.lib.mmm.config import (
    Adstock,
    ConfigError,
    MMMConfig,
    Sampler,
    Saturation,
    resolve_prior,
)


def test_defaults_are_valid_and_enum_typed():
    cfg = MMMConfig()
    assert cfg.adstock is Adstock.GEOMETRIC
    assert isinstance(cfg.saturation, Saturation)
    assert cfg.sampler is Sampler.NUTPIE
    assert cfg.min_weeks == 52 and cfg.window_weeks == 156
    assert cfg.cores >= 1


def test_strings_are_coerced_to_enums_and_bad_values_named():
    assert MMMConfig(saturation="hill").saturation is Saturation.HILL
    with pytest.raises(ConfigError, match="saturation"):
        MMMConfig(saturation="tanh")


def test_min_weeks_floor():
    with pytest.raises(ConfigError, match="below the floor of 52"):
        MMMConfig(min_weeks=30)


def test_round_trip_through_json_with_priors():
    from pymc_extras.prior import Prior

    cfg = MMMConfig(
        saturation="hill",
        priors={"saturation_beta": Prior("HalfNormal", sigma=0.5, dims="channel")},
    )
    data = json.loads(json.dumps(cfg.to_dict()))
    back = MMMConfig.from_dict(data)
    assert json.loads(json.dumps(back.to_dict())) == data
    prior = resolve_prior(back.priors["saturation_beta"])
    assert isinstance(prior, Prior) and prior.parameters["sigma"] == 0.5
    with pytest.raises(ConfigError, match="unknown"):
        MMMConfig.from_dict({"nope": 1})


def test_fingerprint_ignores_sampler_settings():
    a, b = MMMConfig(), MMMConfig(draws=10, chains=1, seed=3)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != MMMConfig(l_max=4).fingerprint()
