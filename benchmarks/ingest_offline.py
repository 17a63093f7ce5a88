"""End-to-end offline ingestion speed: PrefEval persona-driven conversations through
`GraphMem.add` (offline extractor, embeddings, entity resolution, one Neo4j transaction per
conversation), into a real Neo4j.

    python benchmarks/ingest_offline.py [--items 40] [--uri bolt://...]

Reports messages per second (all messages, and user messages, which are the ones extraction
reads) and the median seconds per conversation. Each conversation goes to its own user, who is
purged afterwards. Runs against the benchmark server (ports 27687/27474) unless --uri names
another. Writes benchmarks/results/ingest_offline.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import bench_settings, write_result
from graphmem.api import GraphMem
from graphmem.eval.cli import default_prefeval_dir
from graphmem.eval.prefeval import Form, load_items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--items", type=int, default=4, help="conversations per topic")
    ap.add_argument("--uri", default=None)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest_offline.json"))
    args = ap.parse_args()
    data = args.data or default_prefeval_dir()
    if data is None:
        raise SystemExit("PrefEval data not found; pass --data")
    settings = bench_settings(args.uri, extractor="offline")
    items = load_items(data, [Form.IMPLICIT_PERSONA], None, args.items)
    tag = time.strftime("%H%M%S")
    per_item: list[float] = []
    messages = user_messages = cubes = 0
    with GraphMem(settings) as mem:
        mem.remember("warm up the extractor and the embedder", user_id=f"ingest-warm-{tag}")
        mem.purge(user_id=f"ingest-warm-{tag}", actor=f"user:ingest-warm-{tag}")
        for n, item in enumerate(tqdm(items, desc="ingest", unit="conversation")):
            user = f"ingest-{tag}-{n}"
            batch = [{"role": t.role, "content": t.content, "id": t.id} for t in item.turns
                     if t.content.strip()]
            started = time.perf_counter()
            result = mem.add(batch, user_id=user, session_id="s1")
            per_item.append(time.perf_counter() - started)
            messages += len(batch)
            user_messages += sum(m["role"] == "user" for m in batch)
            cubes += len(result.cubes)
            mem.purge(user_id=user, actor=f"user:{user}")
    total = sum(per_item)
    row = {
        "conversations": len(items), "messages": messages, "user_messages": user_messages,
        "cubes": cubes, "seconds": round(total, 2),
        "messages_per_s": round(messages / total, 1),
        "user_messages_per_s": round(user_messages / total, 1),
        "median_s_per_conversation": round(statistics.median(per_item), 3),
        "extractor": "offline", "machine": "2 cores, 24 GiB (Neo4j on the same cores)",
    }
    print(f"\n{'conversations':>13} {'messages':>9} {'cubes':>6} {'msg/s':>7} "
          f"{'user msg/s':>10} {'s/conv p50':>10}")
    print(f"{row['conversations']:>13} {messages:>9} {cubes:>6} {row['messages_per_s']:>7} "
          f"{row['user_messages_per_s']:>10} {row['median_s_per_conversation']:>10}")
    write_result(args.out, row)


if __name__ == "__main__":
    main()
