"""Configuration of the reviews service beyond the programme policy: the rubric (the
assessment method, domain/rubric.py) and where the public exports go, read from `REVIEWS_<NAME>`
environment variables once, at start, and handed to the handlers in `ctx.settings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reviews.domain.rubric import ReviewRubric
from shared.messaging.context import EmitContext


class ReviewsSettings(BaseSettings):
    """`REVIEWS_<NAME>` environment variables (the rubric reads the same prefix, other names)."""

    model_config = SettingsConfigDict(env_prefix="REVIEWS_", extra="ignore", frozen=True)

    export_dir: Path = Path("exports")
    """Where each closed cycle's public results are written, as JSON and CSV (a relative path is
    taken from the working directory; the embedded launcher gives `<data dir>/exports`)."""
    deadline_check_every_s: float = Field(default=300.0, gt=0)
    """How often the timer grades reviews whose deadline passed without a report."""
    export_check_every_s: float = Field(default=60.0, gt=0)
    """How often the timer writes public exports that a crash left unwritten."""


class ReviewRubricSettings(ReviewRubric, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REVIEWS_", extra="ignore", frozen=True)


@dataclass(frozen=True, slots=True)
class ReviewsConfig:
    rubric: ReviewRubric
    export_dir: Path
    deadline_check_every_s: float
    export_check_every_s: float = 60.0


def load_config() -> ReviewsConfig:
    settings = ReviewsSettings()
    return ReviewsConfig(
        rubric=ReviewRubric.model_validate(ReviewRubricSettings().model_dump()),
        export_dir=settings.export_dir,
        deadline_check_every_s=settings.deadline_check_every_s,
        export_check_every_s=settings.export_check_every_s,
    )


def config_of(ctx: EmitContext) -> ReviewsConfig:
    """The configuration the service read at start (its ServiceDefinition.settings)."""
    if not isinstance(ctx.settings, ReviewsConfig):
        raise TypeError(f"the reviews service was started without its configuration (settings: {ctx.settings!r})")
    return ctx.settings
