"""The compose file and the environment variables the services read, for the deploy tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.matching.domain.scoring import MatchingWeights
from services.matching.settings import MatchingSettings
from services.reviews.domain.rubric import ReviewRubric
from services.reviews.settings import ReviewsSettings
from shared import tracing
from shared.policy import ProgrammePolicy
from shared.settings import KafkaSettings, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def variables_read_by_services() -> set[str]:
    names = {name.upper() for name in ServiceSettings.model_fields}
    names |= {f"KAFKA_{name.upper()}" for name in KafkaSettings.model_fields}
    names |= {f"POLICY_{name.upper()}" for name in ProgrammePolicy.model_fields}
    names |= {f"MATCHING_{name.upper()}" for name in (*MatchingWeights.model_fields, *MatchingSettings.model_fields)}
    names |= {f"REVIEWS_{name.upper()}" for name in (*ReviewsSettings.model_fields, *ReviewRubric.model_fields)}
    return names | {"AUTHORIZED_SOURCES", *tracing.ENVIRONMENT}
