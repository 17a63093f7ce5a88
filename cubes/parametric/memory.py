"""Parametric memory in the graph: stable hot memories distilled into a LoRA adapter of the
local chat model, stored as a Parametric MemCube and applied to its owner's chats.

The adapter lives in its sources' scope and points at their exact versions; a new version,
archive or merge of a source marks it stale in the same transaction (the Artifact label, as
for KV caches), and the scheduler's lora requests re-distil what is still hot. Only the
principal that owns an adapter ever gets it applied (cypher/parametric/for_actor.cypher and
the owner check of the AdapterCache). Retrieval still runs with an adapter: the adapter makes
the model know the facts, the retrieved memories in the prompt say which ones matter now.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from graphmem.cubes.artifacts import read_sources
from graphmem.cubes.parametric.distil import distil
from graphmem.cubes.parametric.examples import MemoryText, build_examples
from graphmem.cubes.parametric.manifest import adapter_bytes, weight_fingerprint
from graphmem.cubes.parametric.serving import AdapterCache
from graphmem.cubes.parametric.settings import LoraSettings
from graphmem.errors import Conflict, InvalidInput
from graphmem.schedulers.promotion import PromotionQueue
from graphmem.store.protocol import AuditSpec, CubeStore, QueryStore

log = logging.getLogger(__name__)


class ParametricStore(CubeStore, QueryStore, Protocol):
    """The store pieces parametric memory uses."""


class LocalModel(Protocol):
    model: str

    def load(self) -> tuple[Any, Any]: ...


class ParametricMemory:
    def __init__(self, store: ParametricStore, backend: LocalModel, root: Path, *,
                 settings: LoraSettings | None = None, budget: int = 4,
                 promotions: PromotionQueue | None = None,
                 lease: timedelta = timedelta(minutes=30)) -> None:
        self._store = store
        self._backend = backend
        self._root = root
        self._settings = settings or LoraSettings()
        self._budget = budget
        self._promotions = promotions
        self._lease = lease
        self._cache: AdapterCache | None = None
        self._fingerprint: str | None = None
        # One adapter is active on the shared model at a time: generation holds this lock.
        self.lock = threading.RLock()

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weight_fingerprint(self._backend.load()[1])
        return self._fingerprint

    # --- distil ----------------------------------------------------------------------------

    def distil(self, actor: str, cube_ids: Sequence[str]) -> str:
        """Train the actor's adapter on these memories and store it; returns its id."""
        ordered = read_sources(self._store, actor, cube_ids)
        tokenizer, model = self._backend.load()
        fingerprint = self.fingerprint  # of the plain base, before any adapter wraps it
        examples = build_examples([MemoryText(str(c.props["id"]), int(c.props["version"]),
                                              str(c.props["text"])) for c in ordered])
        adapter_id = "lora_" + uuid.uuid4().hex[:24]
        with self.lock:
            # Trained beside the resident adapters when there are any (distil() adds and then
            # removes its own), else on the plain model.
            target = self._cache.peft if self._cache is not None and \
                self._cache.peft is not None else model
            result = distil(target, tokenizer, examples, owner=actor, adapter_id=adapter_id,
                            out_dir=self._root / adapter_id, base_model_id=self._backend.model,
                            settings=self._settings, base_fingerprint=fingerprint,
                            prompt_format=lambda q: _chat_prompt(tokenizer, q))
        rows = self._store.write_query(
            "parametric/create", actor=actor, id=adapter_id,
            source_vids=[str(c.props["vid"]) for c in ordered],
            description=f"LoRA adapter of {len(ordered)} memories for {self._backend.model}",
            base_model_id=self._backend.model, base_fingerprint=fingerprint,
            examples_sha256=examples.sha256, path=str(result.path),
            bytes=adapter_bytes(result.path),
            metrics_json=result.manifest.metrics.model_dump_json(),
            audit=AuditSpec(actor=actor, action="distil_lora", targets=[adapter_id]))
        if not rows:
            shutil.rmtree(result.path, ignore_errors=True)
            raise Conflict("the memories are not one scope's current, live memories any more; "
                           "no adapter was stored")
        log.info("parametric: distilled %s from %d cubes: %s", adapter_id, len(ordered),
                 json.dumps(result.manifest.metrics.model_dump(), default=str))
        return adapter_id

    def distil_queued(self, actor: str | None = None, *, limit: int = 5) -> list[str]:
        """Distil the queued lora promotion requests (PromotionQueue.work: claimed under a
        lease, marked done or failed); returns the adapter ids made."""
        if self._promotions is None:
            raise InvalidInput("distilling from the queue needs the scheduler's PromotionQueue")
        return self._promotions.work("lora", self.distil, actor=actor,
                                     builder="parametric-distiller", lease=self._lease,
                                     limit=limit)

    # --- use ---------------------------------------------------------------------------------

    def activate_for(self, actor: str) -> str | None:
        """Load (LRU, within the budget) and activate the actor's own fresh adapter for this
        base model; None, with every adapter off, when it has none. Call under `lock`."""
        rows = self._store.read_query("parametric/for_actor", actor=actor,
                                      base_fingerprint=self.fingerprint)
        cache = self._adapters()
        if not rows:
            cache.activate(actor, None)
            return None
        adapter_id, path = str(rows[0]["id"]), Path(str(rows[0]["path"]))
        cache.load(actor, adapter_id, path)
        cache.activate(actor, adapter_id)
        return adapter_id

    def deactivate(self) -> None:
        if self._cache is not None:
            self._cache.activate("", None)

    def unload_all(self) -> None:
        if self._cache is not None:
            self._cache.clear()

    def list(self, actor: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self._store.read_query("artifacts/list", actor=actor, limit=limit,
                                      kinds=["lora_adapter"])

    def _adapters(self) -> AdapterCache:
        if self._cache is None:
            self._cache = AdapterCache(self._backend.load()[1], budget=self._budget,
                                       base_fingerprint=self.fingerprint)
        return self._cache


def _chat_prompt(tokenizer: Any, question: str) -> str:
    """Questions formatted the way chat asks them (the chat template), so what the adapter
    learns is what a chat turn reaches."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                                 tokenize=False, add_generation_prompt=True))
    return f"Question: {question}\nAnswer:"
