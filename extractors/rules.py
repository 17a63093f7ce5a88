"""Generic English cue patterns that mark a stated preference, and how to cut out its topic.

The rules are language patterns ("I can't stand X", "X is not for me", "I'm allergic to X"),
never topic words, so they carry over to domains no one looked at while writing them. Each
rule only says where a cue is and what it means; checking that the speaker is the one who
holds the preference needs the parse and lives in offline.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import Polarity, PreferenceCategory
from .lexicon import DIETS, word_set

_ADV_WORDS = (
    "really|truly|strongly|absolutely|totally|completely|generally|usually|personally|"
    "definitely|honestly|just|also|still|actually|very|quite|particularly|especially|"
    "genuinely|deeply|seriously|simply|certainly|kind of|sort of|pretty|so|much|always|"
    "strictly|firmly|passionately|somewhat|a bit|a little|slightly|mildly|fairly|"
    "increasingly|mostly|typically|normally|often|even|now|currently|already|rarely|"
    "ever|extremely|utterly|super|incredibly|particularly|hugely|intensely"
)
ADV = rf"(?:(?:{_ADV_WORDS})\s+)*"
_NEG_AUX = (
    r"(?:do\s+not|don't|dont|does\s+not|doesn't|did\s+not|didn't|never|no\s+longer|"
    r"would\s+not|wouldn't|'d\s+not|can't\s+say\s+I)"
)
_BE = r"(?:am|'m|are|'re|be)"
_BAD_ADJ = (
    r"boring|tedious|annoying|ineffective|distressing|disorienting|overwhelming|stressful|"
    r"frustrating|unpleasant|uncomfortable|exhausting|dull|useless|pointless|overrated|"
    r"disgusting|gross|unbearable|slow|dated|cheesy|repetitive|cruel|unappealing|off-putting|"
    r"unbearable|draining|tiresome|irritating|nauseating|scary|terrifying|uninteresting|"
    r"unethical|wasteful|intimidating|confusing|demotivating|childish|predictable|stressful"
)
_GOOD_ADJ = (
    r"relaxing|fun|enjoyable|engaging|helpful|effective|fascinating|inspiring|rewarding|"
    r"soothing|calming|therapeutic|exciting|satisfying|refreshing|motivating|energizing|"
    r"invigorating|delightful|comforting|fulfilling|thrilling|stimulating|peaceful"
)
# "I find <up to 8 words> boring": the words in between are the topic ("it" is not).
_FOUND = r"(?P<topic>(?!it\b)[\w'-]+(?:[\s,]+(?!it\b)[\w'-]+){0,7}?)"
_DIET_WORDS = "|".join(re.escape(d) for d in sorted(DIETS, key=len, reverse=True))
_MONEY = (
    r"(?:[$€£]\s?\d[\d,.]*\s?(?:k|m|bn|million|thousand)?\b|"
    r"\b\d[\d,.]*\s?(?:k|thousand|million)?\s?(?:dollars|euros|pounds|bucks|usd|eur|gbp)\b)"
)


@dataclass(frozen=True)
class CueRule:
    """One cue pattern and what a match means.

    topic_before: the topic precedes the cue ("crowds are not for me").
    self_anchored: the match itself names the user ("my favourite", "I'm vegan"), so no
        subject check is needed.
    verb_only: the cue word must be parsed as a verb ("like" is also a preposition).
    needs_verb: the word after the cue must be a base-form verb ("never eat", not
        "never been").
    """

    name: str
    pattern: re.Pattern[str]
    polarity: Polarity
    category: PreferenceCategory
    strength: float
    topic_before: bool = False
    self_anchored: bool = False
    verb_only: bool = False
    needs_verb: bool = False
    confidence: float = 0.6
    suppress: bool = False


def _rule(name: str, pattern: str, polarity: Polarity, category: PreferenceCategory,
          strength: float, *, topic_before: bool = False, self_anchored: bool = False,
          verb_only: bool = False, needs_verb: bool = False, confidence: float = 0.6,
          suppress: bool = False) -> CueRule:
    return CueRule(name, re.compile(pattern, re.IGNORECASE), polarity, category, strength,
                   topic_before=topic_before, self_anchored=self_anchored, verb_only=verb_only,
                   needs_verb=needs_verb, confidence=confidence, suppress=suppress)


_CONSTRAINT_VERBS = (
    r"eat|drink|have|use|wear|swim|drive|fly|ride|walk|run|lift|travel|digest|consume|"
    r"be\s+around|handle|tolerate|take|touch|go|afford|own|keep|stay|sit|sleep|do"
)
_CONSUME_VERBS = (
    r"eat|drink|consume|touch|use|wear|buy|own|watch|play|drive|fly|smoke|read|listen\s+to|"
    r"go\s+to|do|ride|travel|take|support|visit|attend|keep"
)

RULES: tuple[CueRule, ...] = (
    # --- aversion ------------------------------------------------------------------------
    _rule("neg_like", rf"\b{_NEG_AUX}\s+{ADV}(?:like|enjoy|love|care\s+(?:for|about)|"
          r"appreciate|fancy|prefer|want|trust|believe\s+in|do\s+well\s+with|"
          r"feel\s+comfortable\s+with|get\s+along\s+with)\b",
          "negative", "dislike", 0.6),
    _rule("neg_consume", rf"\b{_NEG_AUX}\s+{ADV}(?=(?:{_CONSUME_VERBS})\b)",
          "negative", "constraint", 0.7, needs_verb=True),
    _rule("not_fan", rf"\bnot\s+{ADV}(?:(?:a|an|much\s+of\s+a|the\s+biggest)\s+)?"
          r"(?:(?:big|huge|great|real)\s+)?fan\s+of\b", "negative", "dislike", 0.6),
    _rule("not_into", rf"\bnot\s+{ADV}(?:into|interested\s+in|keen\s+on|fond\s+of|"
          r"comfortable\s+with|big\s+on|crazy\s+about|thrilled\s+(?:by|with|about)|"
          r"excited\s+about|drawn\s+to|attracted\s+to|a\s+fan\s+of)\b",
          "negative", "dislike", 0.6),
    _rule("hate", r"\b(?:hate|loathe|despise|detest|abhor)(?:s|d|ed)?\b|"
          r"\b(?:can't|cannot|can\s+not|could\s+never)\s+(?:stand|bear|stomach|abide)\b",
          "negative", "dislike", 0.8),
    _rule("dislike", r"\b(?:dislike|resent)(?:s|d)?\b|\b(?:can't|cannot|can\s+not)\s+"
          r"(?:tolerate|handle|deal\s+with)\b", "negative", "dislike", 0.6),
    _rule("aversion_noun", r"\b(?:aversion|dislike|distaste|hatred|disdain|objection|"
          r"antipathy|contempt|repulsion|disgust)s?\s+(?:to|for|of|towards?|against|about)\b|"
          r"\b(?:stance|position|bias|prejudice|stand)\s+against\b",
          "negative", "dislike", 0.7),
    _rule("no_interest", r"\b(?:no|little|zero)\s+(?:real\s+)?(?:interest|desire)\s+in\b|"
          r"\b(?:uninterested|disinterested)\s+in\b", "negative", "dislike", 0.6),
    _rule("find_bad", rf"\bfind(?:s)?\s+{_FOUND}\s+(?:{_ADV_WORDS}|too|rather)?\s*(?:{_BAD_ADJ})\b",
          "negative", "dislike", 0.6),
    _rule("find_good", rf"\bfind(?:s)?\s+{_FOUND}\s+(?:{_ADV_WORDS})?\s*(?:{_GOOD_ADJ})\b",
          "positive", "like", 0.6),
    _rule("find_it_bad", rf"\bfind(?:s)?\s+it\s+(?:{_ADV_WORDS}|too|rather)?\s*(?:{_BAD_ADJ}|hard|"
          r"difficult)\s+to\b", "negative", "dislike", 0.6),
    _rule("find_it_good", rf"\bfind(?:s)?\s+it\s+(?:{_ADV_WORDS})?\s*(?:{_GOOD_ADJ}|easy)\s+to\b",
          "positive", "like", 0.6),
    _rule("fear_noun", r"\b(?:fear|phobia|terror|dread)s?\s+(?:of|about)\b",
          "negative", "dislike", 0.8),
    _rule("allergy_noun", r"\ballerg(?:y|ies)\s+(?:to|of)\b|\bintolerance\s+(?:to|of|for)\b",
          "negative", "allergy", 1.0, confidence=0.7),
    _rule("allergic", r"\ballergic\s+to\b|\bintolerant\s+(?:to|of)\b",
          "negative", "allergy", 1.0, confidence=0.7),
    _rule("allergen_before", r"\b(?:have|got|with|has)\s+(?:an?\s+)?(?:(?:severe|mild|serious|"
          r"bad|slight|strong|life-threatening)\s+)?(?!(?:an?|the|my|some|any)\b)"
          r"(?P<topic>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)"
          r"\s+allerg(?:y|ies)\b", "negative", "allergy", 1.0, confidence=0.7),
    _rule("averse_adj", r"\b(?:averse|sensitive|scared|afraid|terrified|frightened|fearful|"
          r"wary|tired|sick|bored|fed\s+up|turned\s+off|put\s+off|repulsed|disgusted|"
          r"uncomfortable|weary|skeptical|sceptical)\s+(?:to|of|with|by|about|towards?)\b",
          "negative", "dislike", 0.6),
    _rule("against", rf"\b{_BE}\s+{ADV}(?:strictly\s+|firmly\s+|totally\s+)?"
          r"(?:against|opposed\s+to)\b", "negative", "dislike", 0.7),
    _rule("avoid", r"\b(?:avoid(?:s|ed|ing)?|steer(?:s|ed|ing)?\s+clear\s+of|"
          r"stay(?:s|ed|ing)?\s+away\s+from|shy(?:ing)?\s+away\s+from|"
          r"keep(?:s|ing)?\s+away\s+from|abstain(?:s|ed|ing)?\s+from|"
          r"refrain(?:s|ed|ing)?\s+from|pass\s+on)\b", "negative", "constraint", 0.7),
    _rule("prefer_not", r"\b(?:prefer(?:s|red)?\s+(?:not\s+to|not|to\s+avoid|to\s+stay\s+away"
          r"\s+from)|would\s+(?:rather|prefer)\s+not(?:\s+to)?|'d\s+(?:rather|prefer)\s+not"
          r"(?:\s+to)?|rather\s+not|tr(?:y|ies|ied)\s+(?:not\s+to|to\s+avoid)|"
          r"cho(?:o)?se\s+not\s+to|opt\s+not\s+to)\b", "negative", "dislike", 0.6),
    _rule("refuse", r"\brefus(?:e|es|ed)\s+to\b", "negative", "constraint", 0.9),
    _rule("never", r"\b(?:won't|will\s+not|will\s+never|would\s+never|'d\s+never|never)\b",
          "negative", "constraint", 0.8, needs_verb=True),
    _rule("cant", rf"\b(?:can't|cannot|can\s+not|couldn't|could\s+not|unable\s+to|"
          rf"not\s+able\s+to)\s+{ADV}(?=(?:{_CONSTRAINT_VERBS})\b)",
          "negative", "constraint", 0.8, needs_verb=True),
    _rule("quit", r"\b(?:gave\s+up|give\s+up|given\s+up|giving\s+up|quit|stopped|"
          r"cut\s+out|cutting\s+out|cut\s+back\s+on|cutting\s+back\s+on|eliminated)\b",
          "negative", "constraint", 0.7),
    _rule("no_longer", r"\bno\s+longer\b(?!\s+(?:like|enjoy|love|care|want|prefer))",
          "negative", "constraint", 0.7, needs_verb=True),
    _rule("no_more", r"\bno\s+more\b(?!\s+than)", "negative", "constraint", 0.8),
    _rule("no_for_me", r"\bno\s+(?!more\b|longer\b)(?=[\w\s-]{1,40}\bfor\s+me\b)",
          "negative", "constraint", 0.7, self_anchored=True),
    _rule("not_for_me", r"\b(?:(?:is|are|'s|'re)\s+(?:just\s+|really\s+|definitely\s+|"
          r"simply\s+)?not\s+(?:really\s+)?|(?:isn't|aren't)\s+(?:really\s+)?)"
          r"(?:for\s+me|my\s+(?:thing|cup\s+of\s+tea|style|jam|scene))\b",
          "negative", "dislike", 0.6, topic_before=True, self_anchored=True),
    _rule("doesnt_interest", r"\b(?:don't|doesn't|do\s+not|does\s+not|never)\s+(?:really\s+)?"
          r"(?:interest|appeal\s+to|suit|agree\s+with|work\s+for|excite)\s+me\b",
          "negative", "dislike", 0.6, topic_before=True, self_anchored=True),
    _rule("bores_me", r"\b(?:bore|scare|annoy|disgust|terrify|terrifies|frighten|irritate|"
          r"stress|gross|freak|put)(?:s|es)?\s+me(?:\s+out|\s+off)?\b",
          "negative", "dislike", 0.7, topic_before=True, self_anchored=True),
    _rule("makes_me", r"\bmakes?\s+me\s+(?:feel\s+)?(?:sick|nauseous|ill|uncomfortable|anxious|"
          r"nervous|queasy|itchy|bored|uneasy)\b",
          "negative", "dislike", 0.7, topic_before=True, self_anchored=True),
    _rule("no_go", r"\b(?:is|are|'s|'re)\s+(?:a\s+)?(?:total\s+|complete\s+|absolute\s+)?"
          r"(?:no-go|no\s+go|dealbreaker|deal-breaker|deal\s+breaker|off-limits|off\s+limits|"
          r"out\s+of\s+the\s+question)\b", "negative", "constraint", 0.8, topic_before=True,
          self_anchored=True),
    # --- liking --------------------------------------------------------------------------
    _rule("dont_mind", r"\b(?:don't|do\s+not|wouldn't|would\s+not)\s+mind\b",
          "positive", "like", 0.3),
    _rule("love", r"\b(?:love|adore|cherish|treasure|relish)(?:s|d)?\b",
          "positive", "like", 0.8, verb_only=True),
    _rule("like", r"\b(?:like|enjoy|fancy|dig|appreciate|value)(?:s|d|ed)?\b",
          "positive", "like", 0.6, verb_only=True),
    _rule("prefer", r"\b(?:prefer(?:s|red)?|favou?r(?:s|ed)?|prioriti[sz]e(?:s|d)?|"
          r"gravitate(?:s|d)?\s+towards?|lean(?:s|ed)?\s+towards?|opt(?:s|ed)?\s+for|"
          r"go(?:es)?\s+for|would\s+rather|'d\s+rather)\b",
          "positive", "like", 0.7, verb_only=False),
    _rule("like_noun", r"\b(?:preference|fondness|love|passion|soft\s+spot|weakness|penchant|"
          r"affinity|liking|appreciation|craving|enthusiasm|admiration|taste)s?\s+"
          r"(?:for|of|towards?)\b", "positive", "like", 0.7),
    _rule("fan_of", r"\b(?:an?\s+)?(?:(?:big|huge|great|real|massive|avid|die-hard|lifelong)\s+)?"
          r"(?:fan|lover|enthusiast|devotee|admirer|aficionado|connoisseur|supporter|advocate|"
          r"proponent|champion)\s+(?:of|for)\b", "positive", "like", 0.7),
    _rule("into", rf"\b{_BE}\s+{ADV}(?:into|big\s+on|all\s+about)\b",
          "positive", "like", 0.6),
    _rule("keen_on", r"\b(?:keen\s+on|fond\s+of|passionate\s+about|crazy\s+about|mad\s+about|"
          r"nuts\s+about|obsessed\s+with|fascinated\s+(?:by|with)|drawn\s+to|partial\s+to|"
          r"interested\s+in|excited\s+about|enthusiastic\s+about|a\s+sucker\s+for|"
          r"in\s+love\s+with|devoted\s+to|hooked\s+on|attracted\s+to|intrigued\s+by)\b",
          "positive", "like", 0.6),
    _rule("favourite_after", r"\bmy\s+(?:absolute\s+|all[-\s]time\s+)?favou?rites?"
          r"(?:\s+[\w-]+){0,3}?\s+(?:is|are|was|has\s+to\s+be|would\s+be)\b",
          "positive", "like", 0.8, self_anchored=True),
    _rule("favourite_before", r"\b(?:is|are|'s|'re)\s+(?:definitely\s+|always\s+)?my\s+"
          r"(?:absolute\s+|all[-\s]time\s+)?(?:favou?rite|go-to|passion|weakness|jam)\b",
          "positive", "like", 0.8, topic_before=True, self_anchored=True),
    _rule("must_have", r"\b(?:is|are|'s|'re)\s+(?:a\s+)?(?:must|must-have|necessity|"
          r"non-negotiable|essential|priority|top\s+priority|requirement)\s+(?:for|to)\s+me\b",
          "positive", "constraint", 0.8, topic_before=True, self_anchored=True),
    _rule("only", r"\b(?:only|exclusively|solely)\b", "positive", "constraint", 0.8,
          needs_verb=True),
    _rule("insist", r"\b(?:insist(?:s|ed)?\s+on|stick(?:s)?\s+(?:to|with)|"
          r"can't\s+live\s+without|cannot\s+live\s+without|can't\s+do\s+without)\b",
          "positive", "constraint", 0.7),
    _rule("best_through", r"\b(?:learn|work|study|focus|sleep|perform|function|think|do|"
          r"concentrate|thrive)\s+(?:best|better|well)\s+(?:through|with|in|when|by|on|at|under|"
          r"using)\b", "positive", "like", 0.7),
    _rule("require", r"\b(?:require(?:s)?|need(?:s)?)\b(?!\s+(?:to|some|any|help|advice|tips|"
          r"ideas|suggestions|recommendations|more|a\s+(?:break|hand|minute|moment|second|"
          r"bit|little|few)|you|your)\b)", "positive", "constraint", 0.6, verb_only=True,
          confidence=0.5),
    _rule("swear_by", r"\b(?:swear(?:s)?\s+by|believe(?:s)?\s+in|can't\s+get\s+enough\s+of|"
          r"cannot\s+get\s+enough\s+of)\b", "positive", "like", 0.7),
    # --- diets ---------------------------------------------------------------------------
    _rule("diet_identity", rf"\b(?:I|we)\s*(?:'m|am|'re|are|'ve\s+been|have\s+been)\s+"
          r"(?:(?:a|an|strictly|strict|committed|ethical|lifelong|practicing|practising|"
          r"full-time|mostly|now|currently|also|completely|fully|100%)\s+)*"
          rf"(?P<diet>{_DIET_WORDS})\b", "positive", "diet", 0.8, self_anchored=True,
          confidence=0.7),
    _rule("diet_not", rf"\b(?:I|we)\s*(?:'m|am|'re|are)\s+(?:not|no\s+longer)\s+(?:an?\s+)?"
          rf"(?P<diet>{_DIET_WORDS})\b", "negative", "diet", 0.7, self_anchored=True,
          confidence=0.7),
    _rule("diet_became", rf"\b(?:went|gone|going|became|become|turned|switched\s+to\s+being)\s+"
          rf"(?:fully\s+|completely\s+)?(?P<diet>{_DIET_WORDS})\b", "positive", "diet", 0.8,
          confidence=0.7),
    _rule("diet_follow", r"\b(?:follow(?:s|ing)?|on|eat(?:s|ing)?|keep(?:s|ing)?|maintain(?:s)?|"
          r"adopted|started|switched\s+to)\s+(?:an?\s+)?(?:strict(?:ly)?\s+)?"
          r"(?P<diet>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)\s+diet\b", "positive", "diet", 0.7,
          confidence=0.7),
    # --- goals and habits ----------------------------------------------------------------
    _rule("goal", r"\b(?:want(?:s|ed)?\s+to|wanna|would\s+(?:like|love)\s+to|"
          r"'d\s+(?:like|love)\s+to|hop(?:e|es|ing)\s+to|plan(?:s|ning)?\s+(?:to|on)|"
          r"aim(?:s|ing)?\s+to|intend(?:s)?\s+to|trying\s+to|working\s+towards|"
          r"my\s+goal\s+is(?:\s+to)?|my\s+dream\s+is(?:\s+to)?|dream(?:s|ing)?\s+of|"
          r"aspir(?:e|es|ing)\s+to|saving\s+(?:up\s+)?(?:for|to)|decided\s+to|"
          r"determined\s+to|resolved\s+to|can't\s+wait\s+to|looking\s+forward\s+to)\b",
          "positive", "goal", 0.6, confidence=0.5),
    _rule("learning", rf"\b{_BE}\s+(?:currently\s+|now\s+)?(?=learning\b)",
          "positive", "goal", 0.6, confidence=0.5),
    _rule("habit", r"\b(?:always|usually|normally|typically|often|regularly|generally|"
          r"habitually|frequently|routinely|tend(?:s)?\s+to)\b",
          "positive", "habit", 0.6, needs_verb=True, confidence=0.5),
    _rule("frequency", r"\b(?:(?:every|each)\s+(?:single\s+)?(?:day|morning|evening|night|"
          r"week|weekend|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|daily|"
          r"on\s+weekends|(?:once|twice|\w+\s+times)\s+a\s+(?:day|week|month))\b",
          "positive", "habit", 0.6, topic_before=True, confidence=0.5),
    # --- consumed without meaning: requests and comparisons, not preferences -------------
    _rule("request", r"\b(?:would|'d)\s+(?:like|love|prefer|appreciate)\b(?!\s+to\b)",
          "positive", "other", 0.0, suppress=True),
    _rule("similes", r"\b(?:feel(?:s)?|look(?:s)?|sound(?:s)?|seem(?:s)?)\s+like\b",
          "positive", "other", 0.0, suppress=True),
)

# Everything before here is matched in the sentence; the rest works on a cue's topic text.

_BOUNDARY = re.compile(
    r"[;:!?.]|,|\s[-–—]\s|\b(?:and|but|so|as|because|since|while|whereas|although|though|"
    r"yet|plus|however|which\s+is\s+why|especially)\b",
    re.IGNORECASE,
)
_ADJACENT = re.compile(rf"^\s*(?:(?:{_ADV_WORDS}|to)(?:\s+|$))*$", re.IGNORECASE)
_TOPIC_CUT = re.compile(
    r"\s*,?\s*\b(?:due\s+to|because|since|as\s+(?:I|they|it|we|this|that|these|those|my|he|"
    r"she|a|an|the|they're|it's|I'm)\b|so\s+(?:I|that|it|we)\b|which|given\s+(?:that|my)|"
    r"for\s+(?:\w+\s+){0,2}reasons|in\s+order\s+to|whether|unless|if|when\s+I|"
    r"especially|particularly|even|including|such\s+as|like|except|apart\s+from|"
    r"regardless\s+of|whenever|but|though|although|and\s+(?:I|we|they|it)\b|"
    r"and\s+(?:much\s+|strongly\s+|really\s+)?(?:prefer|would|enjoy|love|like|tend))\b"
    r"|\s*[;:()—–]|\s+-\s|\s*,\s*(?:and\s+)?(?:so|as|but|which|who|since|because|I|we|my|"
    r"it|it's|they|this|that)\b"
    r"|[.!?](?:\s|$)",
    re.IGNORECASE,
)
CONTRAST = re.compile(
    r"\s*,?\s*\b(?:rather\s+than|instead\s+of|as\s+opposed\s+to|(?:in\s+order\s+)?to\s+avoid)\s+",
    re.IGNORECASE,
)
# "prefer X over Y": only after a preference cue is "over" a comparison rather than a place.
CONTRAST_OVER = re.compile(
    r"\s*,?\s*\b(?:rather\s+than|instead\s+of|as\s+opposed\s+to|(?:in\s+order\s+)?to\s+avoid|"
    r"over)\s+",
    re.IGNORECASE,
)
_LEAD = re.compile(
    r"^(?:a|an|the|any|all|some|every|most|many|much|my|our|these|those|this|that|such|"
    r"certain|(?:any|every|all)\s+(?:kind|kinds|form|forms|type|types|sort|sorts)\s+of|"
    r"(?:kind|kinds|form|forms|type|types|sort|sorts)\s+of|anything\s+(?:involving|with|"
    r"that\s+involves|related\s+to|to\s+do\s+with|like)|things\s+like|stuff\s+like|"
    r"(?:the\s+)?(?:idea|concept|thought|taste|smell|sound|feel|look|texture)\s+of|it\s+when|"
    r"when|how|the\s+fact\s+that|being|to|having|having\s+to|of|with|for|about|in|on|from|"
    r"using|going\s+to|engaging\s+in|participating\s+in|dealing\s+with|things|stuff)\s+",
    re.IGNORECASE,
)
_TRAIL = re.compile(
    r"(?:[\s,]+(?:at\s+all|anymore|any\s+more|for\s+me|either|too|as\s+well|though|really|"
    r"very\s+much|so\s+much|a\s+lot|whatsoever|of\s+any\s+kind|of\s+any\s+sort|in\s+general|"
    r"in\s+particular|these\s+days|nowadays|lately|now|personally|honestly|myself|"
    r"and|or|but|so|I|much|more|maybe|perhaps|just|whenever\s+possible|if\s+possible|"
    r"when\s+possible|where\s+possible|if\s+I\s+can|"
    r"(?:on|in|with|about|of|to)\s+(?:it|them|those|these)))+$"
    r"|[\s,.;:!?\"'-]+$",
    re.IGNORECASE,
)
_PRONOUNS = word_set(
    "it them this that these those one ones him her they something anything everything stuff "
    "things what which there here"
)
_VAGUE = word_set(
    "something anything everything nothing someone anyone somewhere anywhere there here "
    "more less do go be get it topic subject area field matter question"
)
_REPLY_NOUNS = word_set(
    "idea ideas suggestion suggestions tip tips advice recommendation recommendations"
)
ACK_NOUNS = word_set(
    "idea ideas suggestion suggestions tip tips advice recommendation recommendations plan "
    "approach point points thought thoughts perspective help info information answer "
    "insight insights input"
)
REQUEST_VERBS = word_set(
    "know find ask hear check see get look understand confirm make talk share tell thank say "
    "discuss clarify explore research figure hear read"
)
MONEY = re.compile(_MONEY, re.IGNORECASE)
BUDGET_WORDS = re.compile(
    r"\b(?:budget|spend|afford|pay|cost|price|under|less\s+than|max(?:imum)?|no\s+more\s+than|"
    r"up\s+to|cheaper\s+than|at\s+most|cap)\b",
    re.IGNORECASE,
)
BUDGET_TARGET = re.compile(
    r"\b(?:for|on)\s+(?:(?:a|an|the|my|our|new|this|that)\s+)*"
    r"(?!me\b|us\b|it\b|them\b|this\b|that\b)([a-z][\w-]*(?:\s+(?!is\b|are\b|was\b)[a-z][\w-]*)?)",
    re.IGNORECASE,
)
INTENSIFIERS = re.compile(
    r"\b(?:strongly|really|absolutely|totally|completely|strictly|extremely|deeply|truly|"
    r"definitely|seriously|severe|strong|acute|intense|passionately|firmly|utterly|"
    r"always|never|only|exclusively|deep-seated|huge|big|so\s+much|very\s+much|much)\b",
    re.IGNORECASE,
)
HEDGES = re.compile(
    r"\b(?:kind\s+of|sort\s+of|a\s+bit|a\s+little|somewhat|slightly|mildly|not\s+really|"
    r"not\s+particularly|not\s+much|sometimes|occasionally|a\s+tad|fairly|maybe|perhaps)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CueMatch:
    rule: CueRule
    start: int
    end: int
    topic_hint: str | None = None


def find_cues(text: str) -> list[CueMatch]:
    """All rule matches in a sentence, leftmost-longest first; overlaps are left to the caller,
    which drops those that fail the parse checks before resolving them."""
    found: list[CueMatch] = []
    for rule in RULES:
        for m in rule.pattern.finditer(text):
            hint = m.groupdict().get("topic") or m.groupdict().get("diet")
            found.append(CueMatch(rule, m.start(), m.end(), hint))
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    return found


def drop_overlaps(cues: list[CueMatch]) -> list[CueMatch]:
    """Keep the leftmost, then longest, of overlapping matches."""
    kept: list[CueMatch] = []
    for cue in cues:
        if kept and cue.start < kept[-1].end:
            continue
        kept.append(cue)
    return kept


def last_boundary(gap: str) -> re.Match[str] | None:
    """The connector ("and", ",", "because") that separates two clauses, if the gap has one."""
    last = None
    for m in _BOUNDARY.finditer(gap):
        last = m
    return last


def is_adjacent(gap: str) -> bool:
    """Two cues with only adverbs between them ("I usually prefer") form one cue."""
    return bool(_ADJACENT.match(gap))


def cut_topic(text: str, *, comparative: bool = False) -> tuple[str, str | None]:
    """Cut a topic at its reason or example clause; also return what a contrast marker
    ("rather than Y", and after a preference verb "over Y") sets against it, which is a
    topic of the opposite polarity."""
    contrast: str | None = None
    m = (CONTRAST_OVER if comparative else CONTRAST).search(text)
    if m:
        contrast = cut_topic(text[m.end():])[0]
        text = text[: m.start()]
    m = _TOPIC_CUT.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    return text, contrast


def strip_topic(text: str, *, keep_verb: bool) -> str:
    """Drop determiners, quantifiers and filler around a topic; with keep_verb False also
    a leading consumption verb ("using textbooks" → "textbooks"), because what the user
    avoids is the thing, not the act of using it."""
    from .lexicon import CONSUME_VERBS

    previous = None
    text = text.strip()
    while previous != text:
        previous = text
        text = _LEAD.sub("", text).strip()
        text = _TRAIL.sub("", text).strip()
        head, _, rest = text.partition(" ")
        if not keep_verb and rest and head.lower() in CONSUME_VERBS:
            text = rest
    return text


def usable_topic(topic: str) -> bool:
    """A topic that names something: not a bare pronoun, not the assistant's advice, not
    about the assistant itself."""
    words = topic.lower().split()
    if not words:
        return False
    if len(words) == 1 and (words[0] in _PRONOUNS or words[0] in ACK_NOUNS):
        return False
    if len(words) <= 2 and words[0] in _VAGUE:
        return False
    praise = {"great", "good", "nice", "interesting", "helpful", "useful", "excellent",
              "wonderful", "fantastic", "awesome", "amazing", "brilliant", "fun", "cool"}
    if words[-1] in ACK_NOUNS and len(words) == 2 and words[0] in praise:
        return False
    if words[-1] in _REPLY_NOUNS and len(words) <= 3:
        return False  # "I like the mosaic idea": a reply to a suggestion, not a preference
    return not any(w in ("you", "your", "yours", "you're", "you've") for w in words)


def shorten_topic(topic: str, limit: int = 10) -> str:
    """Long topics keep their head: cut at the first relative clause or preposition, then
    at the word limit, so that two mentions of one thing still share a topic."""
    words = topic.split()
    if len(words) <= limit:
        return topic
    for i, w in enumerate(words[2:], start=2):
        if w.lower() in ("that", "which", "who", "where", "when", "with", "for", "in", "on",
                         "at", "from", "to", "by", "involving"):
            return " ".join(words[:i])
    return " ".join(words[:limit])


def strength_of(rule_strength: float, context: str) -> float:
    """Intensifiers in the cue's clause raise the rule's strength, hedges lower it."""
    boost = 0.15 * min(2, len(INTENSIFIERS.findall(context)))
    cut = 0.2 * min(2, len(HEDGES.findall(context)))
    return round(min(1.0, max(0.1, rule_strength + boost - cut)), 2)
