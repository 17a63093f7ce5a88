"""``graphmem eval``: run the personalization benchmarks from the command line.

The lead mounts :data:`app` on the main CLI (``app.add_typer(eval_app, name="eval")``). Heavy
imports (torch, the embedding model, GraphMem) happen inside the commands so ``--help`` stays
fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown

from graphmem.eval.prefeval import SETTINGS, Form

if TYPE_CHECKING:
    from graphmem.eval.baselines import CachedEncoder
    from graphmem.eval.llm import BenchmarkChat
    from graphmem.eval.protocol import MemorySystem
    from graphmem.retrieval.config import SearchConfig
    from graphmem.settings import Settings

app = typer.Typer(
    help="Memory benchmarks (PrefEval, PersonaMem, LoCoMo) for GraphMem and baselines.",
    no_args_is_help=True,
)

DEFAULT_SYSTEMS = "graphmem,bm25,dense,none"


def _shared_dataset(name: str) -> Path | None:
    """../shared/datasets/<name> beside the repository, when this is a checkout."""
    candidate = Path(__file__).resolve().parents[2].parent / "shared/datasets" / name
    return candidate if candidate.is_dir() else None


def default_prefeval_dir() -> Path | None:
    return _shared_dataset("prefeval-dev")


def default_locomo_dir() -> Path | None:
    return _shared_dataset("locomo-dev")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value: str, what: str) -> list[int]:
    try:
        return [int(v) for v in _split(value)]
    except ValueError as exc:
        raise typer.BadParameter(f"{what} must be comma-separated integers: {value!r}") from exc


def _out_dir(out: Path | None, bench: str) -> Path:
    return out or Path("eval-results") / f"{bench}-{time.strftime('%Y%m%d-%H%M%S')}"


SystemsOpt = Annotated[
    str,
    typer.Option(
        help="Comma-separated systems: graphmem, graphmem-all, graphmem-verbatim (need Neo4j; "
        "-all adds each retriever alone, -verbatim skips extraction), bm25, dense (raw user "
        "turns), bm25-all-roles, dense-all-roles (raw turns of every role), none."
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(help="Output directory (default: eval-results/<bench>-<time>)."),
]
LlmOpt = Annotated[
    bool,
    typer.Option(
        "--llm/--no-llm",
        help="Also generate and judge with the configured model: the OpenAI-compatible "
        "endpoint of GRAPHMEM_LLM_BASE_URL/GRAPHMEM_LLM_MODEL, else the local model of "
        "GRAPHMEM_LLM_LOCAL_MODEL (e.g. smollm2).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]
ViewsOpt = Annotated[
    Path | None,
    typer.Option(
        help="JSON file {label: SearchConfig fields}: GraphMem also answers with each of these "
        "configs over the same ingestion (reported as graphmem[label]).",
        exists=True, dir_okay=False,
    ),
]


@app.command()
def prefeval(
    data: Annotated[
        Path | None,
        typer.Option(
            help="PrefEval benchmark_dataset directory "
            "(default: ../shared/datasets/prefeval-dev beside the repository).",
        ),
    ] = None,
    systems: SystemsOpt = DEFAULT_SYSTEMS,
    settings: Annotated[
        str, typer.Option(help="Distractor turns between preference and question.")
    ] = ",".join(map(str, SETTINGS)),
    forms: Annotated[
        str, typer.Option(help="Preference forms: explicit, implicit-choice, implicit-persona.")
    ] = ",".join(f.value for f in Form),
    topics: Annotated[
        str | None, typer.Option(help="Comma-separated topics (default: every topic file).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N items per topic and form.")
    ] = None,
    k: Annotated[str, typer.Option(help="Cut-offs for recall@k; the largest is retrieved.")] = (
        "1,3,5"
    ),
    fresh_per_setting: Annotated[
        bool,
        typer.Option(
            "--fresh-per-setting",
            help="Reset and replay for every setting instead of one incremental replay.",
        ),
    ] = False,
    llm: LlmOpt = False,
    views: ViewsOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Retrieval recall@k / MRR on PrefEval for each system, setting and preference form.

    Writes summary.json, outcomes.jsonl, report.md and a recall-vs-distractors PNG.
    """
    from graphmem.eval.prefeval import load_inter_turns, load_items
    from graphmem.eval.report import write_prefeval_report
    from graphmem.eval.runner import run_prefeval

    data_dir = data or default_prefeval_dir()
    if data_dir is None or not data_dir.is_dir():
        raise typer.BadParameter("PrefEval data not found; pass --data DIR", param_hint="--data")
    try:
        chosen_forms = [Form(f) for f in _split(forms)]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--forms") from exc
    ks = sorted(set(_ints(k, "--k")))
    setting_list = sorted(set(_ints(settings, "--settings")))
    items = load_items(data_dir, chosen_forms, _split(topics) if topics else None, limit)
    graph_settings, built, chat, _ = _build(systems, llm, _view_configs(views))
    from graphmem.eval.prefeval_llm import PrefEvalLLM

    try:
        outcomes = run_prefeval(
            items,
            load_inter_turns(data_dir),
            built,
            settings=setting_list,
            k=max(ks),
            llm=PrefEvalLLM(chat) if chat is not None else None,
            incremental=not fresh_per_setting,
            progress=not quiet,
            run_tag=time.strftime("%Y%m%d%H%M%S"),
        )
    finally:
        _close(built, chat)
    meta = {
        "data": str(data_dir),
        "systems": [s.name for s in built],
        "settings": setting_list,
        "forms": [f.value for f in chosen_forms],
        "topics": sorted({i.topic for i in items}),
        "limit": limit,
        "items": len(items),
        "incremental": not fresh_per_setting,
        "views": str(views) if views is not None else None,
        "llm": chat.model if chat is not None else None,
        "embedding_device": graph_settings.embedding_device,
    }
    paths = write_prefeval_report(outcomes, _out_dir(out, "prefeval"), ks, meta)
    console = Console()
    console.print(Markdown(paths["markdown"].read_text()))
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


LOCOMO_SYSTEMS = "graphmem,bm25,dense"
NO_LLM_NOTE = (
    "Answer F1, BLEU-1 and LLM judge skipped: no LLM endpoint configured "
    "(set GRAPHMEM_LLM_BASE_URL and GRAPHMEM_LLM_MODEL, or pass --llm)."
)


@app.command()
def locomo(
    data: Annotated[
        Path | None,
        typer.Option(
            help="locomo10.json-shaped file, or a folder holding one "
            "(default: ../shared/datasets/locomo-dev beside the repository).",
        ),
    ] = None,
    systems: SystemsOpt = LOCOMO_SYSTEMS,
    conversations: Annotated[
        str | None,
        typer.Option(help="Comma-separated conversations: 0-based positions or sample ids."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N (selected) conversations.")
    ] = None,
    k: Annotated[str, typer.Option(help="Cut-offs for recall@k; the largest is retrieved.")] = (
        "1,3,5,10"
    ),
    llm: Annotated[
        bool | None,
        typer.Option(
            "--llm/--no-llm",
            help="Generate answers and judge them with the configured model (endpoint, else "
            "GRAPHMEM_LLM_LOCAL_MODEL; default: when an endpoint is configured).",
        ),
    ] = None,
    views: ViewsOpt = None,
    run_tag: Annotated[
        str | None,
        typer.Option(help="Tag naming the ingested memories (default: the start time)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the ingested memories after the run.")
    ] = False,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse",
            help="Search memories an earlier --keep run left under --run-tag instead of "
            "ingesting again (implies --keep).",
        ),
    ] = False,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Evidence recall@k / MRR on LoCoMo per question category, for each system.

    Each conversation is added as both speakers' memories; both are searched and merged (see
    graphmem.eval.locomo). Writes summary.json, outcomes.jsonl, report.md and a recall PNG.
    """
    from graphmem.eval.locomo import load_conversations, locomo_file
    from graphmem.eval.locomo_llm import LocomoLLM
    from graphmem.eval.report import write_locomo_report
    from graphmem.eval.runner import run_locomo
    from graphmem.settings import Settings

    data_path = data or default_locomo_dir()
    if data_path is None or not data_path.exists():
        raise typer.BadParameter("LoCoMo data not found; pass --data FILE", param_hint="--data")
    ks = sorted(set(_ints(k, "--k")))
    if not ks or ks[0] < 1:
        raise typer.BadParameter("cut-offs must be positive", param_hint="--k")
    try:
        convs = load_conversations(data_path, _split(conversations) if conversations else None,
                                   limit)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--data/--conversations") from exc
    if reuse and run_tag is None:
        raise typer.BadParameter("--reuse needs the --run-tag of a --keep run",
                                 param_hint="--reuse")
    configured = Settings()
    use_llm = llm if llm is not None else bool(configured.llm_base_url and configured.llm_model)
    graph_settings, built, chat, _ = _build(systems, use_llm, _view_configs(views))
    console = Console()
    if chat is None:
        console.print(NO_LLM_NOTE)
    run_tag = run_tag or time.strftime("%Y%m%d%H%M%S")
    try:
        outcomes = run_locomo(
            convs,
            built,
            ks=ks,
            llm=LocomoLLM(chat) if chat is not None else None,
            cleanup=not (keep or reuse),
            progress=not quiet,
            run_tag=run_tag,
            reuse=reuse,
        )
    finally:
        _close(built, chat)
    meta = {
        "data": str(locomo_file(data_path)),
        "systems": [s.name for s in built],
        "conversations": [c.sample_id for c in convs],
        "questions": sum(len(c.questions) for c in convs),
        "skipped_no_evidence": sum(c.skipped_no_evidence for c in convs),
        "dropped_evidence_ids": [i for c in convs for i in c.dropped_evidence_ids],
        "hits_per_memory": max(ks),
        "run_tag": run_tag,
        "reused_ingestion": reuse,
        "views": str(views) if views is not None else None,
        "llm": chat.model if chat is not None else None,
        "embedding_device": graph_settings.embedding_device,
    }
    paths = write_locomo_report(outcomes, _out_dir(out, "locomo"), ks, meta,
                                llm_note=None if chat is not None else NO_LLM_NOTE)
    console.print(Markdown(paths["markdown"].read_text()))
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command()
def personamem(
    questions: Annotated[Path, typer.Option(help="PersonaMem questions CSV.", exists=True)],
    contexts: Annotated[Path, typer.Option(help="PersonaMem shared contexts JSONL.", exists=True)],
    systems: SystemsOpt = DEFAULT_SYSTEMS,
    k: Annotated[int, typer.Option(min=1, help="Memories retrieved per question.")] = 5,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    llm: LlmOpt = False,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Multiple-choice accuracy on PersonaMem, per question type.

    Without --llm the answer is picked by the retrieval chooser (see graphmem.eval.personamem);
    with --llm a chat model answers with the retrieved memories in its prompt.
    """
    from graphmem.eval.personamem import (
        Chooser,
        LLMChooser,
        RetrievalChooser,
        load_contexts,
        load_questions,
    )
    from graphmem.eval.report import write_personamem_report
    from graphmem.eval.runner import run_personamem

    qs = load_questions(questions)[:limit] if limit else load_questions(questions)
    ctx = load_contexts(contexts, {q.shared_context_id for q in qs})
    _, built, chat, encoder = _build(systems, llm)
    chooser: Chooser = LLMChooser(chat) if chat is not None else RetrievalChooser(encoder())
    try:
        outcomes = run_personamem(qs, ctx, built, chooser, k=k, progress=not quiet)
    finally:
        _close(built, chat)
    meta = {
        "questions": str(questions),
        "contexts": str(contexts),
        "systems": [s.name for s in built],
        "k": k,
        "chooser": chooser.name,
        "llm": chat.model if chat is not None else None,
    }
    paths = write_personamem_report(outcomes, _out_dir(out, "personamem"), meta)
    console = Console()
    console.print(Markdown(paths["markdown"].read_text()))
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


def _close(systems: list[MemorySystem], chat: BenchmarkChat | None) -> None:
    from graphmem.eval.runner import close_systems

    close_systems(systems)
    if chat is not None:
        chat.close()


def _lazy_encoder(device: str) -> Callable[[], CachedEncoder]:
    """Loads the embedding model on first use, once per command (dense and chooser share it)."""
    loaded: list[CachedEncoder] = []

    def get() -> CachedEncoder:
        if not loaded:
            from graphmem.eval.baselines import load_minilm

            loaded.append(load_minilm(device))
        return loaded[0]

    return get


def _view_configs(path: Path | None) -> dict[str, SearchConfig]:
    """{label: SearchConfig} from a JSON file of {label: SearchConfig fields}."""
    if path is None:
        return {}
    import json

    from pydantic import ValidationError

    from graphmem.retrieval.config import SearchConfig

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object {label: config}")
        return {str(label): SearchConfig.model_validate(fields) for label, fields in raw.items()}
    except (ValueError, ValidationError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--views") from exc


def _build(
    systems: str, llm: bool, view_configs: dict[str, SearchConfig] | None = None
) -> tuple[
    Settings, list[MemorySystem], BenchmarkChat | None, Callable[[], CachedEncoder]
]:
    from graphmem.eval.llm import chat_from_settings
    from graphmem.eval.runner import make_systems
    from graphmem.settings import Settings

    settings = Settings()
    encoder = _lazy_encoder(settings.embedding_device)
    try:
        built = make_systems(_split(systems), encoder, settings, view_configs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--systems") from exc
    if not built:
        raise typer.BadParameter("no systems given", param_hint="--systems")
    chat = chat_from_settings(settings) if llm else None
    if llm and chat is None:
        raise typer.BadParameter(
            "--llm needs GRAPHMEM_LLM_BASE_URL and GRAPHMEM_LLM_MODEL, or "
            "GRAPHMEM_LLM_LOCAL_MODEL", param_hint="--llm"
        )
    return settings, built, chat, encoder
