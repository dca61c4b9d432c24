"""The public export files of a closed cycle: JSON and CSV in the export directory, written
once the closing has committed (never inside its transaction), then marked written."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from services.reviews.adapters.repository import ReviewRepository
from services.reviews.domain.publication import export_name, render_csv, render_json
from shared.contract.events.reviews import ReviewResultsPublished
from shared.db.types import Connection


def export_after_commit(
    published: ReviewResultsPublished, directory: Path, now: Callable[[], datetime]
) -> Callable[[Connection], Awaitable[None]]:
    """The work of writing a cycle's files and marking them written (EmitContext.after_commit)."""

    async def write(conn: Connection) -> None:
        await write_exports(published, directory)
        repo = ReviewRepository(conn)
        await repo.export_written(published.cycle_id, now())
        await repo.flush(conn)

    return write


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
