"""Debian's Chromium for the browser tests of the pages the services serve: installed from
Debian's packages when missing (as root, as CI runs), then run headless to render a page.

Chromium is started with the flags this machine needs (no sandbox as root, no background
networking: the closed network refuses Google's hosts) and a new empty profile each time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserUnavailable(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """The Chromium binary, installing Debian's `chromium` package if it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise BrowserUnavailable(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "install Debian's chromium package"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrowserUnavailable(f"apt-get could not install chromium: {done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        raise BrowserUnavailable(f"the chromium package installed no {CHROMIUM}")
    return CHROMIUM


def rendered_dom(url: str, *, timeout_s: float = 60.0) -> str:
    """The page's DOM after Chromium loaded it and ran its scripts (`--dump-dom`)."""
    chromium = ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [str(chromium), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    if done.returncode != 0 or not done.stdout.strip():
        raise BrowserUnavailable(f"chromium could not render {url} (exit {done.returncode}): {done.stderr[-2000:]}")
    return done.stdout
