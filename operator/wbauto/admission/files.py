"""Manifest files on disk: which files a folder holds, and the documents in one file (bounded reads).

The only module here that touches the filesystem; parsing is :mod:`wbauto.admission.yamlload`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wbauto.admission import yamlload

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 16 * 1024 * 1024
"""Larger files are refused unread."""


class ManifestError(Exception):
    """A file that cannot be read or parsed at all (every document in it is lost)."""


@dataclass(frozen=True)
class Entry:
    """One document of a file: ``source`` is ``path#index`` (``path#index.items[n]`` inside a List)."""

    source: str
    value: Any = None
    error: str | None = None
    path: str = ""
    index: int = 0
    line: int = 0  # the document's first line (1-based; 0 when unknown)
    item: int | None = None  # the item inside a List


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories (recursively) into manifest files, sorted for stable output."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found: list[Path] = []
            for root, _dirs, names in os.walk(p):
                found.extend(Path(root) / n for n in names if n.endswith(MANIFEST_SUFFIXES))
            files.extend(sorted(f for f in found if f.is_file()))
        else:
            files.append(p)
    return files


def read_text(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(f"{path}: larger than {MAX_FILE_BYTES} bytes; split it into smaller files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc


def documents(path: Path, text: str) -> Iterator[Entry]:
    """The documents of one file's text; a ``List`` is expanded into its items (as kubectl does)."""
    stripped = text.lstrip()
    try:
        if path.suffix == ".json" or stripped.startswith("{"):  # kubectl reads such a stream as JSON
            loaded: Iterable[yamlload.Document] = [yamlload.load_json(text)]
        else:
            loaded = list(yamlload.load_yaml(text))
    except yamlload.LoadError as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    for doc in loaded:
        source = f"{path}#{doc.index}"
        if doc.error is not None:
            where = doc.error.where or (f"line {doc.line}" if doc.line else "")
            message = f"{where}: {doc.error.message}" if where else doc.error.message
            yield Entry(source, error=message, path=str(path), index=doc.index, line=doc.line)
            continue
        value = doc.value
        if isinstance(value, dict) and value.get("kind") == "List" and isinstance(value.get("items"), list):
            for sub, item in enumerate(value["items"]):
                yield Entry(f"{source}.items[{sub}]", item, item=sub, path=str(path), index=doc.index, line=doc.line)
        else:
            yield Entry(source, value, path=str(path), index=doc.index, line=doc.line)


def read_documents(path: Path) -> Iterator[Entry]:
    """Every document in a file; raises :class:`ManifestError` when the file is unreadable as a whole."""
    yield from documents(path, read_text(path))
