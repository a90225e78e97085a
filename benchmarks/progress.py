"""The progress bar of one pass, drawn by the pytest process on the terminal of the
`sidebyside run` that started it (pytest's own output goes to the pass's log file).

The run hands its terminal over as an inherited file descriptor named in PROGRESS_FD, and
the bar's label ("pass 2/3") in PROGRESS_LABEL; without them nothing is drawn.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

PROGRESS_FD = "SIDEBYSIDE_PROGRESS_FD"
PROGRESS_LABEL = "SIDEBYSIDE_PROGRESS_LABEL"
BAR = pytest.StashKey[Any]()


def start(config: pytest.Config, total: int) -> None:
    fd = os.environ.get(PROGRESS_FD)
    if fd is None:
        return
    from tqdm import tqdm

    stream = os.fdopen(int(fd), "w", buffering=1, closefd=False)
    tty = stream.isatty()
    config.stash[BAR] = tqdm(total=total, desc=os.environ.get(PROGRESS_LABEL, "pass"), unit="case",
                             file=stream, dynamic_ncols=tty, ncols=None if tty else 100,
                             mininterval=0.5 if tty else 30, smoothing=0.1,
                             bar_format="{desc}: {n_fmt}/{total_fmt} cases |{bar}| "
                                        "{elapsed} elapsed, ETA {remaining}{postfix}")


def advance(config: pytest.Config, nodeid: str) -> None:
    bar = config.stash.get(BAR, None)
    if bar is not None:
        bar.set_postfix_str(nodeid.split("[")[-1].rstrip("]"), refresh=False)
        bar.update()


def close(config: pytest.Config) -> None:
    bar = config.stash.get(BAR, None)
    if bar is not None:
        bar.set_postfix_str("", refresh=False)
        bar.close()
