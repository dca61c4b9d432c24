"""Configuration of the reviews service beyond the programme policy: the rubric (the
assessment method, domain/rubric.py) and where the public exports go."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reviews.domain.rubric import ReviewRubric
from shared.stack.embedded import DATA_DIR


class ReviewsSettings(BaseSettings):
    """`REVIEWS_<NAME>` environment variables (the rubric reads the same prefix, other names)."""

    model_config = SettingsConfigDict(env_prefix="REVIEWS_", extra="ignore", frozen=True)

    export_dir: Path = Field(default_factory=lambda: DATA_DIR / "exports")
    """Where each closed cycle's public results are written, as JSON and CSV."""
    deadline_check_every_s: float = Field(default=300.0, gt=0)
    """How often the timer grades reviews whose deadline passed without a report."""


@lru_cache(maxsize=1)
def current_settings() -> ReviewsSettings:
    return ReviewsSettings()


@lru_cache(maxsize=1)
def current_rubric() -> ReviewRubric:
    return ReviewRubric()
