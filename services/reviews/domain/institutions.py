"""Institution names as people write them. Pure: no I/O."""

from __future__ import annotations


def same_institution(a: str, b: str) -> bool:
    """Compared without whitespace and case."""
    return _normalised(a) == _normalised(b)


def _normalised(institution: str) -> str:
    return "".join(institution.split()).casefold()
