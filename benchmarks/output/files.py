"""Writing result files whole: a temporary file in the same folder, then one rename, so a
failure or an interrupted run never leaves a half-written report, CSV or JSON behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def replace_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` then move tmp over ``path``; on any error ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results private
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    return replace_atomically(path, lambda tmp: tmp.write_text(text))


@contextmanager
def staging_in(out: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder inside ``out`` to write a set of outputs into, removed afterwards
    whatever happens: ``move_into`` publishes it only once everything is written."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=prefix))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_into(staging: Path, out: Path) -> list[Path]:
    """Move everything in ``staging`` into ``out`` (one rename each); the paths written."""
    written = []
    for item in sorted(staging.iterdir()):
        item.replace(out / item.name)
        written.append(out / item.name)
    return written
