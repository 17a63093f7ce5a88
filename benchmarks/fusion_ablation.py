"""Fusion ablation on PrefEval: which way of combining the three retrievers ranks the
preference highest, measured on one ingestion so every variant sees exactly the same memory.

Each variant is a SearchConfig; the vector retriever alone is the reference every fused
variant has to beat. Prints recall@1/3/5 and MRR per variant and setting, writes JSON.

    PYTHONPATH=. python benchmarks/fusion_ablation.py --limit 10 --settings 10,300
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from graphmem.eval.cli import default_prefeval_dir
from graphmem.eval.prefeval import Form, load_inter_turns, load_items
from graphmem.eval.runner import GraphMemSystem, run_prefeval
from graphmem.retrieval.config import PREFERENCE_ROUTE, RECIPES, RetrieverConfig, SearchConfig


def variants() -> dict[str, SearchConfig]:
    """The default (similarity fusion; vector, BM25, graph walk and the preference channel)
    against RRF and weighted fusion, and against itself without each retriever and without
    the preference prior; then with reserved preference slots (the `personal` recipe)."""
    default = SearchConfig()
    return {
        "vector": RECIPES["vector"],
        "preference channel alone": RECIPES["preferences"],
        "similarity (default)": default,
        "similarity, no bm25": default.model_copy(
            update={"fulltext": RetrieverConfig(enabled=False)}),
        "similarity, no graph": default.model_copy(
            update={"graph_walk": RetrieverConfig(enabled=False)}),
        "similarity, no kind prior": default.model_copy(update={
            "for_preference_questions": {**PREFERENCE_ROUTE, "kind_boost": {}}}),
        "no routing (hybrid_prefeval)": RECIPES["hybrid_prefeval"],
        "similarity, no preference channel": default.model_copy(
            update={"preferences": RetrieverConfig(enabled=False)}),
        "rrf k60, weights 1/1/1": SearchConfig(
            fusion="rrf", fulltext=RetrieverConfig(weight=1.0),
            graph_walk=RetrieverConfig(weight=1.0)),
        "rrf k60, weights 1/.05/.05": SearchConfig(fusion="rrf"),
        "rrf k5, weights 1/.1/.1": SearchConfig(
            fusion="rrf", rrf_k=5, fulltext=RetrieverConfig(weight=0.1, candidates=20),
            graph_walk=RetrieverConfig(weight=0.1, candidates=20)),
        "weighted (min-max)": SearchConfig(fusion="weighted"),
        "+ pref channel 3, 1 slot": default.model_copy(
            update={"preferences": RetrieverConfig(candidates=3, weight=0.0),
                    "preference_slots": 1}),
        "+ pref channel 5, 2 slots": default.model_copy(
            update={"preferences": RetrieverConfig(candidates=5, weight=0.0),
                    "preference_slots": 2}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=10, help="items per topic and form")
    ap.add_argument("--settings", default="10,300")
    ap.add_argument("--only", default=None, help="variant names separated by ;")
    ap.add_argument("--out", default="benchmarks/results/fusion_ablation.json")
    args = ap.parse_args()
    data = args.data or default_prefeval_dir()
    if data is None:
        raise SystemExit("PrefEval data not found; pass --data")
    chosen = variants()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(";")}
    items = load_items(data, list(Form), None, args.limit)
    system = GraphMemSystem(name="gm", view_configs=chosen)
    settings = [int(s) for s in args.settings.split(",")]
    started = time.perf_counter()
    try:
        outcomes = run_prefeval(items, load_inter_turns(data), [system], settings=settings, k=5,
                                run_tag=time.strftime("abl%H%M%S"))
    finally:
        system.close()
    groups: dict[tuple[str, int], list[list[bool]]] = defaultdict(list)
    for o in outcomes:
        groups[(o.system, o.setting)].append(o.hits)
    rows = []
    for (name, setting), hits in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if name == system.name:
            continue  # the system's own view is the default config, listed as a variant
        def recall(k: int, hits: list[list[bool]] = hits) -> float:
            return statistics.fmean(any(h[:k]) for h in hits)
        mrr = statistics.fmean(next((1 / (i + 1) for i, x in enumerate(h) if x), 0.0)
                               for h in hits)
        rows.append({"variant": name.removeprefix("gm[").rstrip("]"), "setting": setting,
                     "n": len(hits), "recall@1": recall(1), "recall@3": recall(3),
                     "recall@5": recall(5), "mrr": mrr})
    print(f"{'variant':28} {'turns':>5} {'n':>5} {'R@1':>6} {'R@3':>6} {'R@5':>6} {'MRR':>6}")
    for r in rows:
        print(f"{r['variant']:28} {r['setting']:>5} {r['n']:>5} {r['recall@1']:6.3f} "
              f"{r['recall@3']:6.3f} {r['recall@5']:6.3f} {r['mrr']:6.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": str(data), "limit": args.limit, "items": len(items),
                               "seconds": time.perf_counter() - started, "rows": rows,
                               "variants": {k: v.model_dump() for k, v in chosen.items()}},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
