"""Loads the .cypher files that hold every query, so Python never writes query logic (it only
joins whole files into one statement: graphmem.store.channel_union for a search's channels,
graphmem.store.statement_sequence for an add's writes)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def cypher_root() -> Path:
    return Path(__file__).resolve().parent.parent / "cypher"


def split_statements(text: str) -> list[str]:
    """Split a multi-statement schema file on ';' at line ends, dropping comment lines."""
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//") or not stripped:
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


class Queries:
    """Per-store cache of query texts, keyed by path relative to cypher/ without extension."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root or cypher_root()
        self._cache: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        text = self._cache.get(name)
        if text is None:
            path = self._root / f"{name}.cypher"
            if not path.is_file():
                raise KeyError(f"no Cypher file {path}")
            text = path.read_text(encoding="utf-8")
            self._cache[name] = text
        return text

    def schema_fingerprint(self) -> str:
        """Changes whenever a schema file changes, so `apply_schema` runs again on start."""
        h = hashlib.sha256()
        for path in self.schema_files():
            h.update(path.read_bytes())
        return h.hexdigest()[:12]

    def schema_files(self) -> list[Path]:
        return sorted(p for p in (self._root / "schema").glob("[0-9]*.cypher"))
