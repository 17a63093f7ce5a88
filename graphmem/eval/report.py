"""Benchmark reports: a JSON summary, a Markdown table and a recall plot per benchmark.

Every number in the Markdown and the plot comes from the JSON summary, so the three never
disagree. Plots use matplotlib's object API with the Agg canvas: no pyplot global state and no
display needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from graphmem.eval.metrics import group_by, mean, summarise_ranks
from graphmem.eval.prefeval_llm import Category
from graphmem.eval.runner import ChoiceOutcome, LocomoOutcome, PrefEvalOutcome

Row = dict[str, Any]
GROUPINGS: dict[str, tuple[str, ...]] = {
    "overall": ("system", "setting"),
    "by_form": ("system", "setting", "form"),
    "by_topic": ("system", "setting", "topic"),
    "by_form_topic": ("system", "setting", "form", "topic"),
}


def _prefeval_row(
    keys: Mapping[str, Any], rows: Sequence[PrefEvalOutcome], ks: Sequence[int]
) -> Row:
    ranks = summarise_ranks([o.first_hit_rank for o in rows], ks)
    row: Row = dict(keys)
    row["n"] = ranks.n
    row.update({f"recall@{k}": v for k, v in ranks.recall.items()})
    row["mrr"] = ranks.mrr
    row["ingest_s"] = mean(o.ingest_s for o in rows)
    row["retrieve_s"] = mean(o.retrieve_s for o in rows)
    judged = [o.category for o in rows if o.category is not None]
    if judged:
        for category in Category:
            row[f"rate:{category.value}"] = judged.count(category.value) / len(judged)
    mcq = [o.mcq_correct for o in rows if o.mcq_correct is not None]
    if mcq:
        row["mcq_accuracy"] = sum(mcq) / len(mcq)
    return row


def prefeval_summary(outcomes: Sequence[PrefEvalOutcome], ks: Sequence[int]) -> dict[str, Any]:
    """Rows per grouping in :data:`GROUPINGS`; recall@k is over the first ``k`` memories."""
    summary: dict[str, Any] = {"ks": list(ks)}
    for name, fields in GROUPINGS.items():
        groups = group_by(outcomes, _key_of(fields))
        summary[name] = [
            _prefeval_row(dict(zip(fields, key, strict=True)), rows, ks)
            for key, rows in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))
        ]
    return summary


def _key_of(fields: Sequence[str]) -> Callable[[PrefEvalOutcome], tuple[Any, ...]]:
    return lambda o: tuple(getattr(o, f) for f in fields)


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{v:08d}" if isinstance(v, int) else str(v) for v in key)


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def prefeval_markdown(summary: Mapping[str, Any], title: str = "PrefEval retrieval") -> str:
    """One table per setting (systems as rows), then the same per preference form."""
    ks: list[int] = summary["ks"]
    metric_cols = [f"recall@{k}" for k in ks] + ["mrr"]
    lines = [f"# {title}", ""]
    overall: list[Row] = summary["overall"]
    by_form: list[Row] = summary["by_form"]
    extra = [c for c in ("rate:followed", "mcq_accuracy") if any(c in r for r in overall)]
    for setting in sorted({r["setting"] for r in overall}):
        lines += [f"## {setting} distractor turns", ""]
        rows = [r for r in overall if r["setting"] == setting]
        lines += _table(
            ["system", "n", *metric_cols, *extra, "ingest s", "retrieve s"],
            [
                [
                    r["system"],
                    str(r["n"]),
                    *(_fmt(r[c]) for c in metric_cols),
                    *(_fmt(r[c]) if c in r else "" for c in extra),
                    f"{r['ingest_s']:.3f}",
                    f"{r['retrieve_s']:.4f}",
                ]
                for r in rows
            ],
        )
        lines += ["", "By preference form:", ""]
        form_rows = [r for r in by_form if r["setting"] == setting]
        lines += _table(
            ["system", "form", "n", *metric_cols],
            [
                [r["system"], r["form"], str(r["n"]), *(_fmt(r[c]) for c in metric_cols)]
                for r in form_rows
            ],
        )
        lines.append("")
    lines += [
        "recall@k: share of questions with a hit among the first k memories; a hit is a "
        "memory whose source turns include a preference-bearing turn or whose text states "
        "the preference. MRR is cut at the deepest k.",
        "",
    ]
    return "\n".join(lines)


def plot_recall(summary: Mapping[str, Any], path: Path, k: int | None = None) -> Path:
    """recall@k against distractor turns, one line per system; a panel per form plus overall."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = k or max(summary["ks"])
    metric = f"recall@{k}"
    panels: list[tuple[str, list[Row]]] = [("all forms", summary["overall"])]
    for form in sorted({r["form"] for r in summary["by_form"]}):
        panels.append((form, [r for r in summary["by_form"] if r["form"] == form]))
    fig = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (label, rows) in zip(axes, panels, strict=True):
        for system, sys_rows in group_by(rows, lambda r: str(r["system"])).items():
            points = sorted((r["setting"], r[metric]) for r in sys_rows)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=system)
        settings = sorted({r["setting"] for r in rows})
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xticks(settings, [str(s) for s in settings])
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(label)
        ax.set_xlabel("distractor turns")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    axes[-1].legend(loc="lower left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _write_jsonl(path: Path, records: Sequence[Any], extra: Callable[[Any], Row]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps({**asdict(record), **extra(record)}) + "\n")


def write_prefeval_report(
    outcomes: Sequence[PrefEvalOutcome],
    out_dir: Path,
    ks: Sequence[int],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """summary.json, outcomes.jsonl, report.md and recall.png under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = prefeval_summary(outcomes, ks)
    paths = {
        "summary": out_dir / "summary.json",
        "outcomes": out_dir / "outcomes.jsonl",
        "markdown": out_dir / "report.md",
        "plot": out_dir / f"recall{max(ks)}_vs_turns.png",
    }
    paths["summary"].write_text(json.dumps({"meta": dict(meta or {}), **summary}, indent=2))
    _write_jsonl(paths["outcomes"], outcomes, lambda o: {"first_hit_rank": o.first_hit_rank})
    paths["markdown"].write_text(prefeval_markdown(summary))
    plot_recall(summary, paths["plot"])
    return paths


def personamem_summary(outcomes: Sequence[ChoiceOutcome]) -> dict[str, Any]:
    """Accuracy per system, overall and per question type."""
    rows: list[Row] = []
    for system, sys_rows in group_by(outcomes, lambda o: o.system).items():
        row: Row = {"system": system, "n": len(sys_rows)}
        row["accuracy"] = mean(float(o.is_correct) for o in sys_rows)
        row["unanswered"] = sum(o.predicted is None for o in sys_rows)
        by_type = group_by(sys_rows, lambda o: o.question_type)
        row["by_type"] = {
            t: {"n": len(r), "accuracy": mean(float(o.is_correct) for o in r)}
            for t, r in sorted(by_type.items())
        }
        rows.append(row)
    return {"systems": rows}


def personamem_markdown(summary: Mapping[str, Any], title: str = "PersonaMem accuracy") -> str:
    rows: list[Row] = summary["systems"]
    types = sorted({t for r in rows for t in r["by_type"]})
    lines = [f"# {title}", ""]
    lines += _table(
        ["system", "n", "overall", *types],
        [
            [
                r["system"],
                str(r["n"]),
                _fmt(r["accuracy"]),
                *(
                    f"{_fmt(r['by_type'][t]['accuracy'])} ({r['by_type'][t]['n']})"
                    if t in r["by_type"]
                    else ""
                    for t in types
                ),
            ]
            for r in rows
        ],
    )
    return "\n".join([*lines, ""])


def write_personamem_report(
    outcomes: Sequence[ChoiceOutcome], out_dir: Path, meta: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = personamem_summary(outcomes)
    paths = {
        "summary": out_dir / "summary.json",
        "outcomes": out_dir / "outcomes.jsonl",
        "markdown": out_dir / "report.md",
    }
    paths["summary"].write_text(json.dumps({"meta": dict(meta or {}), **summary}, indent=2))
    _write_jsonl(paths["outcomes"], outcomes, lambda o: {"is_correct": o.is_correct})
    paths["markdown"].write_text(personamem_markdown(summary))
    return paths


# --- LoCoMo ----------------------------------------------------------------------------------

LOCOMO_ANSWER_METRICS = ("f1", "bleu1", "judge")


def _locomo_row(keys: Mapping[str, Any], rows: Sequence[LocomoOutcome], ks: Sequence[int]) -> Row:
    row: Row = dict(keys)
    row["n"] = len(rows)
    row.update({f"recall@{k}": mean(o.recall[k] for o in rows) for k in ks})
    row["mrr"] = mean(o.mrr for o in rows)
    row["retrieve_s"] = mean(o.retrieve_s for o in rows)
    answered = [o for o in rows if o.answer is not None]
    if answered:
        row["answered"] = len(answered)
        row["f1"] = mean(o.f1 or 0.0 for o in answered)
        row["bleu1"] = mean(o.bleu1 or 0.0 for o in answered)
        row["judge"] = mean(float(bool(o.judge)) for o in answered)
    return row


def locomo_summary(outcomes: Sequence[LocomoOutcome], ks: Sequence[int]) -> dict[str, Any]:
    """Per system overall (micro-averaged over questions) and per category; ingestion time is
    the sum over conversations, once per conversation."""
    overall: list[Row] = []
    by_category: list[Row] = []
    for system, rows in group_by(outcomes, lambda o: o.system).items():
        row = _locomo_row({"system": system}, rows, ks)
        row["ingest_s"] = sum({o.sample_id: o.ingest_s for o in rows}.values())
        overall.append(row)
        categories = group_by(rows, lambda o: (o.category, o.category_name))
        by_category += [
            _locomo_row({"system": system, "category": c, "category_name": name}, cat_rows, ks)
            for (c, name), cat_rows in sorted(categories.items())
        ]
    return {"ks": list(ks), "overall": overall, "by_category": by_category}


def locomo_markdown(summary: Mapping[str, Any], title: str = "LoCoMo evidence retrieval") -> str:
    """Overall table, one table per metric with categories as columns, then answer scores."""
    ks: list[int] = summary["ks"]
    metric_cols = [f"recall@{k}" for k in ks] + ["mrr"]
    overall: list[Row] = summary["overall"]
    by_category: list[Row] = summary["by_category"]
    lines = [f"# {title}", "", "## All categories", ""]
    lines += _table(
        ["system", "n", *metric_cols, "ingest s", "retrieve s"],
        [
            [r["system"], str(r["n"]), *(_fmt(r[c]) for c in metric_cols),
             f"{r['ingest_s']:.1f}", f"{r['retrieve_s']:.4f}"]
            for r in overall
        ],
    )
    categories = sorted({(r["category"], r["category_name"]) for r in by_category})
    cells = {(r["system"], r["category"]): r for r in by_category}
    headers = [f"{c} {name} (n={_category_n(by_category, c)})" for c, name in categories]
    for metric in metric_cols:
        lines += ["", f"## {metric} by category", ""]
        lines += _table(
            ["system", *headers],
            [
                [r["system"], *(_fmt(cells[(r["system"], c)][metric])
                                if (r["system"], c) in cells else "" for c, _ in categories)]
                for r in overall
            ],
        )
    lines += ["", "## Generated answers", ""]
    answered = [r for r in overall if "answered" in r]
    if answered:
        lines += _table(
            ["system", "answered", "F1", "BLEU-1", "LLM judge"],
            [[r["system"], str(r["answered"]), *(_fmt(r[m]) for m in LOCOMO_ANSWER_METRICS)]
             for r in answered],
        )
    else:
        lines.append(str(summary.get("llm_note") or "Skipped: no LLM endpoint was used."))
    lines += [
        "",
        "recall@k: share of a question's evidence turns among the first k distinct source "
        "turns of the hits retrieved from both speakers' memories and merged by score; MRR: "
        "reciprocal rank of the first evidence turn in that list, cut at the deepest k. "
        "Averaged over questions.",
        "",
    ]
    return "\n".join(lines)


def _category_n(rows: Sequence[Row], category: int) -> int:
    return max((int(r["n"]) for r in rows if r["category"] == category), default=0)


def plot_locomo_recall(summary: Mapping[str, Any], path: Path, k: int | None = None) -> Path:
    """recall@k per category and overall, one bar per system."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = k or max(summary["ks"])
    metric = f"recall@{k}"
    groups: list[tuple[str, list[Row]]] = [("all", summary["overall"])]
    for (c, name), rows in sorted(
        group_by(summary["by_category"], lambda r: (r["category"], r["category_name"])).items()
    ):
        groups.append((f"{c} {name}", rows))
    systems = [str(r["system"]) for r in summary["overall"]]
    width = 0.8 / max(len(systems), 1)
    fig = Figure(figsize=(1.6 * len(groups) + 2.0, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for n, system in enumerate(systems):
        values = [next((r[metric] for r in rows if r["system"] == system), 0.0)
                  for _, rows in groups]
        ax.bar([g + n * width for g in range(len(groups))], values, width, label=system)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], [g for g, _ in groups])
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel(metric)
    ax.set_title(f"LoCoMo evidence {metric} by category")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def write_locomo_report(
    outcomes: Sequence[LocomoOutcome],
    out_dir: Path,
    ks: Sequence[int],
    meta: Mapping[str, Any] | None = None,
    llm_note: str | None = None,
) -> dict[str, Path]:
    """summary.json, outcomes.jsonl, report.md and recall<k>_by_category.png under ``out_dir``;
    ``llm_note`` says in the report why answers were not generated."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {**locomo_summary(outcomes, ks), "llm_note": llm_note}
    paths = {
        "summary": out_dir / "summary.json",
        "outcomes": out_dir / "outcomes.jsonl",
        "markdown": out_dir / "report.md",
        "plot": out_dir / f"recall{max(ks)}_by_category.png",
    }
    paths["summary"].write_text(json.dumps({"meta": dict(meta or {}), **summary}, indent=2))
    _write_jsonl(paths["outcomes"], outcomes, lambda o: {})
    paths["markdown"].write_text(locomo_markdown(summary))
    plot_locomo_recall(summary, paths["plot"])
    return paths
