"""Configuration of the matching service beyond the programme policy: the weights and limits
of matching (domain/scoring.py), read from `MATCHING_<NAME>` environment variables once, at start."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.matching.domain.scoring import MatchingWeights
from shared.messaging.context import EmitContext


class MatchingWeightsSettings(MatchingWeights, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore", frozen=True)


def load_weights() -> MatchingWeights:
    return MatchingWeights.model_validate(MatchingWeightsSettings().model_dump())


def weights_of(ctx: EmitContext) -> MatchingWeights:
    """The weights the service read at start (its ServiceDefinition.settings)."""
    if not isinstance(ctx.settings, MatchingWeights):
        raise TypeError(f"the matching service was started without its weights (settings: {ctx.settings!r})")
    return ctx.settings
