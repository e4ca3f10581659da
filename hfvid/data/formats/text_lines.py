"""Numbered non-blank lines of an annotation text file: what the list-style readers share."""

from pathlib import Path


def numbered_lines(path, expected: str):
    """Yield ``(1-based line number, stripped text)`` for the non-blank lines of a UTF-8 text file.

    A missing file raises a ``ValueError`` naming the path and ``expected`` (what the file should hold), so every
    reader reports ``file:line`` positions and missing files the same way.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found ({expected})")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


__all__ = ["numbered_lines"]
