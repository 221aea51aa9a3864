"""The assets the API serves, by name (the API never imports Dagster)."""

from umm_assets.lib.outputs import MODEL_CHAIN

VALIDATED = ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution", "validated_tests")
KNOWN = (*VALIDATED, *MODEL_CHAIN)


def input_name(asset: str) -> str:
    """validated_spend -> spend."""
    return asset.removeprefix("validated_")
