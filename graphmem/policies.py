"""SchedulerPolicy: every threshold the MemScheduler acts on, in one validated object.

The numbers live here, not in the Cypher files, so a deployment can tune them (from Settings,
a JSON file for the CLI, or a test) without touching queries, and so that the relations
between thresholds (promotion needs more heat than activation...) are checked in one place.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphmem.models import CubeKind


def _default_ttl() -> dict[str, float | None]:
    return {CubeKind.EPISODE.value: 90.0}


class SchedulerPolicy(BaseModel):
    """Thresholds for heat, lifecycle, merging and promotion. Heat is a decayed hit count:
    every retrieval adds a rank-weighted amount, and it halves every `half_life_hours`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # --- heat -----------------------------------------------------------------------------
    half_life_hours: float = Field(default=24.0, gt=0)
    """Heat halves after this long without hits. A day keeps yesterday's topics warm while
    letting last week's fade; shorter suits agents whose tasks change hourly."""

    rank_discount: float = Field(default=0.5, ge=0)
    """A hit at 0-based rank r adds 1 / (1 + rank_discount * r): the top result is the one most
    likely used in the prompt, lower ranks count less. 0 weighs all ranks alike."""

    hit_batch_size: int = Field(default=64, ge=1)
    """Buffered hits are written in one query once this many are pending, so retrieval does not
    pay a write round trip per search."""

    heat_floor: float = Field(default=0.001, ge=0)
    """Decayed heat below this is stored as 0, so long-cold cubes stop being rewritten by every
    tick's decay step."""

    # --- activation and archival -----------------------------------------------------------
    activate_heat: float = Field(default=2.0, gt=0)
    """A generated cube with at least this much heat becomes activated: about two top-ranked
    hits within one half-life, i.e. memory that is demonstrably in use."""

    archive_heat: float = Field(default=0.05, ge=0)
    """A cube is cold when its heat is below this (and see `archive_after_days`)."""

    archive_after_days: float | None = Field(default=30.0, gt=0)
    """A cold cube whose last hit (or creation, if never hit) is older than this is archived.
    None disables cold archival; explicit expiry and TTLs still apply."""

    archive_exempt_priorities: frozenset[str] = frozenset({"high"})
    """Cubes of these priorities are never archived for being cold or past their kind's TTL
    (an explicit `expires` still applies): users mark what must survive disuse."""

    ttl_days: dict[str, float | None] = Field(default_factory=lambda: _default_ttl())
    """Time to live per cube kind, counted from creation; a kind not listed (or None) never
    expires this way. Verbatim episode cubes are a safety net for what extraction missed and
    lose value with age, facts and preferences do not."""

    ttl_keep_heat: float = Field(default=1.0, ge=0)
    """A cube past its kind's TTL is kept while its heat is at least this: still in use."""

    # --- near-duplicate merge --------------------------------------------------------------
    merge_cosine: float = Field(default=0.95, gt=0, le=1)
    """Two current cubes of the same kind and scope whose embeddings have at least this cosine
    similarity are near-duplicates; the colder (then the older) one is merged into the other."""

    merge_batch: int = Field(default=200, ge=1)
    """How many not-yet-checked cubes one tick compares against their scope; bounds a tick's
    cost to merge_batch x scope size similarity computations while a backlog drains."""

    # --- promotion ---------------------------------------------------------------------------
    kv_heat: float = Field(default=5.0, gt=0)
    """Heat at which a cube counts as hot for KV-cache promotion; the time it crossed is kept as
    `hot_since` and cleared when it cools below."""

    kv_min_hits: int = Field(default=5, ge=1)
    """Lifetime hits a cube needs before KV-cache promotion, so one burst cannot promote it."""

    kv_sustain_hours: float = Field(default=12.0, ge=0)
    """A cube must have stayed hot (heat >= kv_heat at every tick) this long to be promoted to
    the KV cache: precomputing attention state pays off only for lasting use."""

    kv_group_min_co_hits: int = Field(default=3, ge=1)
    """Two promotable cubes retrieved together at least this often are promoted as one group
    (a single KV cache for memories that are always used together)."""

    kv_group_max_size: int = Field(default=4, ge=2)
    """Largest group promoted as one KV cache; larger clusters are split into singles."""

    co_retrieval_top_n: int = Field(default=3, ge=2)
    """Co-retrieval is counted among the top N results of each search only: the tail of a
    result list is too noisy to say two memories belong together."""

    lora_heat: float = Field(default=15.0, gt=0)
    """Heat a cube needs (besides the LoRA duration and hit thresholds) to be queued for LoRA
    distillation: knowledge used so constantly that it belongs in the weights."""

    lora_min_hits: int = Field(default=30, ge=1)
    """Lifetime hits a cube needs before LoRA distillation."""

    lora_sustain_days: float = Field(default=7.0, ge=0)
    """A cube must have stayed hot (see kv_heat) this long to be queued for LoRA distillation."""

    promotion_retry_hours: float = Field(default=24.0, ge=0)
    """A cube whose promotion failed may be queued again for the same target after this long."""

    # --- working memory ----------------------------------------------------------------------
    preload_enabled: bool = True
    """Predict and preload the next turn's memory after each retrieval (one read query)."""

    preload_turns: int = Field(default=6, ge=1)
    """How many of a session's latest turns name the entities the next turn will likely need."""

    preload_limit: int = Field(default=20, ge=1)
    """How many cube ids a session's working memory holds at most."""

    max_sessions: int = Field(default=1000, ge=1)
    """Working memories kept in process; the least recently used session is dropped first."""

    # --- identity ----------------------------------------------------------------------------
    system_actor: str = "system:scheduler"
    """Who audit events name when the scheduler runs for the whole graph rather than for one
    principal's scopes."""

    @field_validator("ttl_days")
    @classmethod
    def _known_kinds(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        kinds = {k.value for k in CubeKind}
        unknown = sorted(set(value) - kinds)
        if unknown:
            raise ValueError(f"ttl_days names unknown cube kinds {unknown}; known: {sorted(kinds)}")
        for kind, days in value.items():
            if days is not None and days <= 0:
                raise ValueError(f"ttl_days[{kind!r}] must be positive or None")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.archive_heat >= self.activate_heat:
            raise ValueError("archive_heat must be below activate_heat, or a cube could be "
                             "activated and archived for the same heat")
        if self.kv_heat < self.activate_heat:
            raise ValueError("kv_heat must be at least activate_heat: only activated cubes are "
                             "promoted")
        if self.lora_heat < self.kv_heat:
            raise ValueError("lora_heat must be at least kv_heat")
        return self

    @property
    def half_life_s(self) -> float:
        return self.half_life_hours * 3600.0

    @property
    def merge_min_score(self) -> float:
        """The threshold as Neo4j scores it: vector.similarity.cosine returns (1 + cos) / 2."""
        return (1.0 + self.merge_cosine) / 2.0

    def rank_weight(self, rank: int) -> float:
        return 1.0 / (1.0 + self.rank_discount * max(rank, 0))
