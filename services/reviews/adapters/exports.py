"""The public export files of a closed cycle: JSON and CSV in the export directory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from services.reviews.domain.publication import export_name, render_csv, render_json
from shared.contract.events.reviews import ReviewResultsPublished


async def write_exports(event: ReviewResultsPublished, directory: Path) -> tuple[Path, Path]:
    """Write both forms (replacing earlier ones atomically); returns their paths."""
    return await asyncio.to_thread(_write_both, event, directory)


def _write_both(event: ReviewResultsPublished, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = _write_atomically(directory / export_name(event.cycle_id, "json"), render_json(event).encode("utf-8"))
    # A BOM so that spreadsheet programs read the Chinese text as UTF-8.
    as_csv = _write_atomically(directory / export_name(event.cycle_id, "csv"), render_csv(event).encode("utf-8-sig"))
    return as_json, as_csv


def _write_atomically(path: Path, content: bytes) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)
    return path
