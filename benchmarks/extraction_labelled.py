"""Score an extractor on the hand-labelled turns: fact recall, entities, relations, dates.

    flock /tmp/graphmem-bench.lock python benchmarks/extraction_labelled.py \
        [--extractor offline|llm] [--runs 3] [--cores 1] [--labels FILE]

The labels and the scoring rules are described in graphmem.extractors.labelled. Each turn is
extracted on its own, twice over: as the bare text and as "Speaker: text" (the way the LoCoMo
ingestion writes two-speaker conversations). Quality comes from the first pass; speed is turns
per second of extraction time, median over --runs passes of the bare-text set, pinned to
--cores cores with BLAS threads capped to match. "llm" uses the GRAPHMEM_LLM_* settings
(an endpoint or a local model) and runs one pass. Writes
benchmarks/results/extraction_labelled.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COLUMNS = (("fact_recall", "fact R"), ("entity_recall", "ent R"), ("entity_precision", "ent P"),
           ("relation_recall", "rel R"), ("relation_typed_recall", "rel R typed"),
           ("date_accuracy", "date acc"))


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _table(rows: dict[str, dict[str, Any]]) -> str:
    head = f"{'input':<16}" + "".join(f"{title:>12}" for _, title in COLUMNS) + (
        f"{'date err':>10}{'on empty':>10}{'msg/s':>9}")
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        lines.append(f"{name:<16}" + "".join(f"{_cell(r[key]):>12}" for key, _ in COLUMNS)
                     + f"{r['date_errors']:>10}{r['memories_on_empty_turns']:>10}"
                     + f"{r['msgs_per_s'] or 0:>9.1f}")
    first = next(iter(rows.values()))
    lines.append(f"{first['turns']} turns: {first['facts']} facts, {first['entities']} entities, "
                 f"{first['relations']} relations, {first['dates']} dates. date err = memories "
                 "whose valid_from is outside every labelled date of the turn; on empty = "
                 f"memories stored from the {first['empty_turns']} turns with nothing to keep.")
    for name, r in rows.items():
        by = ", ".join(f"{k} {_cell(v)}" for k, v in r["fact_recall_by_source"].items())
        kinds = ", ".join(f"{k} {_cell(v)}" for k, v in r["fact_recall_by_kind"].items())
        lines.append(f"fact recall ({name}): by source {by}; by kind {kinds}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="An extractor on the hand-labelled turns.")
    parser.add_argument("--extractor", choices=("offline", "llm"), default="offline")
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "extraction_labelled.json")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from benchmarks.common import pin_cores  # imports no numpy: pinning still comes first

    pin_cores(args.cores)
    from graphmem.extractors import labelled
    from graphmem.extractors.base import Extractor
    from graphmem.extractors.llm import LLMExtractor
    from graphmem.extractors.offline import OfflineExtractor
    from graphmem.settings import Settings

    turns = labelled.load_labels(args.labels or labelled.DEFAULT_LABELS)
    settings = Settings()
    extractor: Extractor
    load = time.perf_counter()
    if args.extractor == "offline":
        offline = OfflineExtractor(settings)
        model = offline.model  # loads the pipeline outside the timed passes
        extractor = offline
        runs = max(1, args.runs)
    else:
        llm = LLMExtractor(settings)
        model = llm.backend.model
        extractor = llm
        runs = 1
    load_s = time.perf_counter() - load

    plain = [labelled.score(extractor, turns) for _ in range(runs)]
    prefixed = labelled.score(extractor, turns, speaker_prefix=True)
    rows = {"text": plain[0].summary(), "Speaker: text": prefixed.summary()}
    rows["text"]["msgs_per_s"] = round(len(turns) / statistics.median(s.seconds for s in plain),
                                       1)
    rows["text"]["runs_s"] = [round(s.seconds, 3) for s in plain]
    print(_table(rows))
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extractor": {"name": extractor.name, "version": extractor.version, "model": model},
        "labels": str((args.labels or labelled.DEFAULT_LABELS).relative_to(REPO)
                      if (args.labels or labelled.DEFAULT_LABELS).is_relative_to(REPO)
                      else args.labels),
        "cores": args.cores,
        "runs": runs,
        "load_s": round(load_s, 2),
        "machine": {"python": platform.python_version(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "sets": rows,
        "turns": [o.to_dict() for o in plain[0].outcomes],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
