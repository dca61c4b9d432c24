"""Bugs planted in the service processes of a test stack, to prove that the fault suites' checks
catch them. Each folder holds a `sitecustomize.py` that Python imports at the start of every
process whose PYTHONPATH names the folder (`planted_env`): it patches one function of the
services' runtime. Nothing here is imported by the services themselves."""

from __future__ import annotations

from pathlib import Path

PLANTED = Path(__file__).parent


def planted_env(bug: str, state_file: Path) -> dict[str, str]:
    """The environment that plants `bug` (a folder name here) in a stack's service processes."""
    folder = PLANTED / bug
    if not (folder / "sitecustomize.py").is_file():
        raise ValueError(f"no planted bug {bug!r} in {PLANTED}")
    return {"PYTHONPATH": str(folder), "PLANTED_BUG_STATE": str(state_file)}
