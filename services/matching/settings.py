"""Configuration of the matching service beyond the programme policy: the weights and limits
of matching (domain/scoring.py) and how often the award notices are checked, read from
`MATCHING_<NAME>` environment variables once, at start, and handed to the handlers in
`ctx.settings`."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.matching.domain.scoring import MatchingWeights
from shared.messaging.context import EmitContext


class MatchingWeightsSettings(MatchingWeights, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore", frozen=True)


class MatchingSettings(BaseSettings):
    """`MATCHING_<NAME>` environment variables besides the weights."""

    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore", frozen=True)

    notice_check_every_s: float = Field(default=300.0, gt=0)
    """How often the `end-award-notices` timer makes the awards whose public notice ended take
    effect (notices end with a Chongqing day: TeamAccepted follows within this interval)."""


@dataclass(frozen=True, slots=True)
class MatchingConfig:
    weights: MatchingWeights = field(default_factory=MatchingWeights)
    notice_check_every_s: float = 300.0


def load_weights() -> MatchingWeights:
    return MatchingWeights.model_validate(MatchingWeightsSettings().model_dump())


def load_config() -> MatchingConfig:
    return MatchingConfig(weights=load_weights(), notice_check_every_s=MatchingSettings().notice_check_every_s)


def config_of(ctx: EmitContext) -> MatchingConfig:
    """The configuration the service read at start (its ServiceDefinition.settings)."""
    if not isinstance(ctx.settings, MatchingConfig):
        raise TypeError(f"the matching service was started without its configuration (settings: {ctx.settings!r})")
    return ctx.settings


def weights_of(ctx: EmitContext) -> MatchingWeights:
    """The weights the service read at start."""
    return config_of(ctx).weights
