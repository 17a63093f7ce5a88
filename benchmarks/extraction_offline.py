"""Benchmark the offline extractor on the PrefEval development split.

    python benchmarks/extraction_offline.py [--data DIR] [--runs 3] [--cores 1]

Quality is scored against a HEURISTIC polarity label (negation/aversion cue in the
preference sentence → negative, else positive; see graphmem.extractors.evaluation), because
PrefEval does not label polarity. Speed is user messages per second of wall time and of CPU
time, median over --runs passes, pinned to --cores cores with BLAS threads capped to match
(wall time on a shared machine is noisy; CPU time is the steadier number).
Writes benchmarks/results/extraction_offline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METRICS = ("any_preference", "any_match", "first_match", "topic_match")


def _measure(extractor: Any, items: Sequence[Any], runs: int) -> dict[str, Any]:
    """Quality from the first pass; speed as the median of `runs` passes (one extract call
    per item, as a conversation would be handed over)."""
    from graphmem.extractors import evaluation

    messages = sum(len(i.user_messages) for i in items)
    walls, cpus, results = [], [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        results = list(evaluation.run_items(extractor, items))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    row: dict[str, Any] = {"items": len(items), "user_messages": messages}
    row.update({m: round(evaluation.share(results, m), 4) for m in METRICS})
    row["msgs_per_s_wall"] = round(messages / statistics.median(walls), 1)
    row["msgs_per_s_cpu"] = round(messages / statistics.median(cpus), 1)
    row["runs_wall_s"] = [round(w, 3) for w in walls]
    return row


def _table(rows: dict[str, dict[str, Any]]) -> str:
    head = (f"{'set':<10}{'items':>7}{'msgs':>7}{'any pref':>10}{'polarity':>10}"
            f"{'first':>8}{'+topic':>8}{'msg/s':>8}{'msg/cpu-s':>11}")
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        lines.append(
            f"{name:<10}{r['items']:>7}{r['user_messages']:>7}{r['any_preference']:>10.3f}"
            f"{r['any_match']:>10.3f}{r['first_match']:>8.3f}{r['topic_match']:>8.3f}"
            f"{r['msgs_per_s_wall']:>8.1f}{r['msgs_per_s_cpu']:>11.1f}"
        )
    lines.append("polarity = share of items with a preference whose polarity agrees with the "
                 "heuristic label; first = the first preference agrees; +topic = agrees and "
                 "shares a content word with the preference sentence.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Offline extractor on PrefEval dev.")
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared" / "datasets" / "prefeval-dev")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "extraction_offline.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"no PrefEval data at {args.data}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    from benchmarks.common import pin_cores  # imports no numpy: pinning still comes first

    pin_cores(args.cores)
    from graphmem.extractors import evaluation
    from graphmem.extractors.offline import OfflineExtractor
    from graphmem.settings import Settings

    extractor = OfflineExtractor(Settings())
    load = time.perf_counter()
    model = extractor.model  # loads the pipeline outside the timed passes
    load_s = time.perf_counter() - load
    rows = {
        "explicit": _measure(extractor, evaluation.explicit_items(args.data), args.runs),
        "persona": _measure(extractor, evaluation.persona_items(args.data), args.runs),
    }
    print(_table(rows))
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extractor": {"name": extractor.name, "version": extractor.version, "model": model},
        "data": str(args.data),
        "label": "heuristic polarity (graphmem.extractors.evaluation.heuristic_polarity)",
        "cores": args.cores,
        "runs": args.runs,
        "spacy_load_s": round(load_s, 2),
        "machine": {"python": platform.python_version(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "sets": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
