"""Working-memory hit rate: how well the scheduler's per-session prediction (cubes about the
entities of the session's latest turns, cypher/scheduler/preload.cypher) anticipates what the
next search returns, on PrefEval persona-driven conversations replayed turn by turn.

The loop is an agent's: before answering each user turn it searches memory with that turn,
then the turn and the assistant's reply are added to memory. The scheduler scores its current
prediction against every search (WorkingMemory.observe), then predicts again. Baseline in the
same run, on the same searches: a recency predictor holding the cubes extracted from the same
number of latest messages (policy.preload_turns) as of the previous search, i.e. the same
information the scheduler had: the cheapest prediction an agent could make.

    python benchmarks/working_memory.py [--items 4] [--chain 8] [--uri bolt://...]

Writes benchmarks/results/working_memory.json.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
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
    ap.add_argument("--k", type=int, default=5, help="cubes per search")
    ap.add_argument("--chain", type=int, default=8, help="conversations per user and session")
    ap.add_argument("--uri", default=None)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/working_memory.json"))
    args = ap.parse_args()
    data = args.data or default_prefeval_dir()
    if data is None:
        raise SystemExit("PrefEval data not found; pass --data")
    settings = bench_settings(args.uri)
    items = load_items(data, [Form.IMPLICIT_PERSONA], None, args.items)
    # One user replays `--chain` conversations back to back in one session, so the prediction
    # window (policy.preload_turns) covers a small part of what the user has said.
    users = [items[i:i + args.chain] for i in range(0, len(items), args.chain)]
    tag = time.strftime("%H%M%S")
    turns_kept = settings.scheduler.preload_turns
    totals = {"searches": 0, "observed": 0, "retrieved": 0, "wm_hits": 0, "recency_hits": 0,
              "recency_retrieved": 0, "preloaded": 0, "recency_size": 0}
    with GraphMem(settings) as mem:
        for n, chain in enumerate(tqdm(users, desc="replay", unit="user")):
            user, session = f"wm-{tag}-{n}", "s1"
            # Same information as the scheduler: the cubes of the latest `preload_turns`
            # messages (two per exchange) stored when the previous search ran.
            recent: deque[list[str]] = deque(maxlen=max(turns_kept // 2, 1))
            snapshot: set[str] | None = None
            messages = [t for item in chain for t in item.turns if t.content.strip()]
            for i, turn in enumerate(messages):
                if turn.role != "user":
                    continue
                wm = mem.scheduler.working_memory(user, session)
                stats = wm.stats()
                before = (stats.retrieved, stats.preloaded_hits)
                predicted = len(wm.cube_ids)  # the prediction this search is scored against
                if recent:  # nothing to search before the first turn is stored
                    hits = mem.search(turn.content, user_id=user, session_id=session,
                                      limit=args.k)
                    ids = [h.cube.id for h in hits]
                    totals["searches"] += 1
                    scored = stats.retrieved > before[0]  # the scheduler had a prediction
                    if scored:
                        totals["observed"] += 1
                        totals["retrieved"] += stats.retrieved - before[0]
                        totals["wm_hits"] += stats.preloaded_hits - before[1]
                        totals["preloaded"] += predicted
                    if scored and snapshot is not None:
                        totals["recency_size"] += len(snapshot)
                        totals["recency_retrieved"] += len(ids)
                        totals["recency_hits"] += sum(c in snapshot for c in ids)
                    snapshot = {c for cubes in recent for c in cubes}
                pair = [{"role": m.role, "content": m.content, "id": m.id}
                        for m in messages[i:i + 2]]
                added = mem.add(pair, user_id=user, session_id=session)
                recent.append([c.id for c in added.cubes])
            mem.purge(user_id=user, actor=f"user:{user}")
    wm_rate = totals["wm_hits"] / totals["retrieved"] if totals["retrieved"] else None
    recency_rate = (totals["recency_hits"] / totals["recency_retrieved"]
                    if totals["recency_retrieved"] else None)
    row = {**totals, "conversations": len(items), "users": len(users), "k": args.k,
           "preload_turns": turns_kept, "preload_limit": settings.scheduler.preload_limit,
           "avg_preloaded": round(totals["preloaded"] / max(totals["observed"], 1), 1),
           "avg_recency_size": round(totals["recency_size"] / max(totals["observed"], 1), 1),
           "working_memory_hit_rate": wm_rate, "recency_hit_rate": recency_rate}
    print(f"\n{'predictor':<28} {'searches':>8} {'retrieved':>9} {'hit rate':>8}")
    print(f"{'scheduler working memory':<28} {totals['observed']:>8} {totals['retrieved']:>9} "
          f"{wm_rate if wm_rate is None else round(wm_rate, 3)!s:>8}")
    print(f"{'recency (same turns)':<28} {totals['observed']:>8} "
          f"{totals['recency_retrieved']:>9} "
          f"{recency_rate if recency_rate is None else round(recency_rate, 3)!s:>8}")
    print(f"cubes held per prediction: working memory {row['avg_preloaded']}, "
          f"recency {row['avg_recency_size']}")
    write_result(args.out, row)


if __name__ == "__main__":
    main()
