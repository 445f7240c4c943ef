"""Fetching a file over HTTP with a short timeout and no partial results left behind.

Only used for datasets whose upstream publishes plain files (Fashion-MNIST). The function is
passed in (or monkeypatched) by callers so that unit tests never reach the network.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bnnas.errors import DataError

Downloader = Callable[[str, Path], None]

TIMEOUT_SECONDS = 15.0


def download_file(url: str, dest: Path, *, timeout: float = TIMEOUT_SECONDS) -> None:
    """Save ``url`` to ``dest``, writing a temporary file first and renaming it at the end.

    A crash or a dropped connection therefore never leaves a truncated ``dest`` that a later
    run would mistake for the real file. Network failures raise DataError.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp_name, dest)
    except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(f"download of {url} failed: {reason}") from None
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
