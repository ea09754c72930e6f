"""Versioned JSON files, and files written atomically.

Searches rewrite ``metagraph.json`` after every iteration, and their logs on
resume; a kill in the middle of a write must leave the previous file intact,
hence temporary file + rename.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gramnas.errors import GramError


@contextmanager
def atomic_file(path: str | os.PathLike[str], binary: bool = False) -> Iterator[IO[Any]]:
    """A file that replaces ``path`` only once written in full and synced: readers see the
    old file or the new one, never half, and a kill mid-write leaves the old one.

    The temporary file is created with mode 0666 less the umask, as ``open``
    creates any other output (``mkstemp`` would make it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as f:
        f.write(text)


def read_json(path: str | os.PathLike[str], damaged: str = "the file is corrupt") -> Any:
    """``path``'s JSON, or one line naming the file that is not text or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GramError(f"{path}: not valid JSON ({exc}); {damaged}") from None


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(obj, indent=1) + "\n")


def read_versioned_json(
    path: str | os.PathLike[str], fmt: str, version: int | tuple[int, ...]
) -> dict[str, Any]:
    """Load a ``{"format": fmt, "version": version, ...}`` file or fail in one line.

    ``version`` may list every version this gramnas still reads.
    """
    path = Path(path)
    if not path.is_file():
        raise GramError(f"{path}: file not found; check the path")
    data = read_json(path)
    check_header(data, fmt, version, str(path))
    return data


def check_header(data: Any, fmt: str, version: int | tuple[int, ...], where: str) -> None:
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise GramError(f"{where}: not a {fmt} file (missing 'format': '{fmt}')")
    versions = version if isinstance(version, tuple) else (version,)
    if data.get("version") not in versions:
        readable = " or ".join(str(v) for v in versions)
        raise GramError(
            f"{where}: {fmt} version {data.get('version')!r} is not supported "
            f"(this gramnas reads version {readable}); upgrade gramnas or re-create the file"
        )
