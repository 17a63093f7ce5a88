"""Turn the date phrases people use in chat into datetimes, anchored on the turn's time.

A small stdlib parser instead of dateutil: dateutil's fuzzy mode happily invents dates from
stray numbers ("2 kids" → the 2nd of this month), and a fact's `valid_from` is worse wrong than
missing. Only forms that pin a day, a month or a year are accepted; anything else gives None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MONTHS: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"

_ABSOLUTE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"^(?P<year>(?:19|20)\d\d)-(?P<mnum>[01]?\d)-(?P<day>[0-3]?\d)$",
        r"^(?P<mnum>[01]?\d)/(?P<day>[0-3]?\d)/" + _YEAR + "$",
        r"^" + _MONTH + r"\s+" + _DAY + r"(?:,?\s+" + _YEAR + ")?$",
        r"^" + _DAY + r"(?:\s+of)?\s+" + _MONTH + r"(?:,?\s+" + _YEAR + ")?$",
        r"^" + _MONTH + r"(?:,?\s+(?:of\s+)?" + _YEAR + ")?$",
        r"^" + _YEAR + "$",
    )
)
_UNITS: dict[str, timedelta] = {
    "day": timedelta(days=1), "week": timedelta(weeks=1),
    "month": timedelta(days=30), "year": timedelta(days=365),
}
_NUMBERS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3, "several": 3,
}
_AGO = re.compile(
    r"^(?P<n>\d+|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r")\s+"
    r"(?P<unit>day|week|month|year)s?\s+ago$"
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(
    r"^(?:(?P<which>last|this past|past|next|this|coming|this coming)\s+)?"
    r"(?P<day>" + "|".join(WEEKDAYS) + r"|weekend)(?:\s+(?:morning|afternoon|evening|night))?$")
_FILLER = re.compile(r"^(?:on|in|at|since|from|by|around|about|the|of|early|late|mid|back)\s+")


def parse_date(phrase: str, reference: datetime | None = None) -> datetime | None:
    """Parse a date phrase (a spaCy DATE entity's text); None when it does not pin a date.

    A missing year or a relative phrase ("last year", "two weeks ago") is resolved against
    `reference` (the turn's timestamp; now in UTC when the turn has none). The result carries
    the reference's tzinfo so it compares with the other timestamps of the same turn.
    """
    ref = reference or datetime.now(UTC)
    text = _normalise(phrase)
    if not text:
        return None
    return _absolute(text, ref) or _relative(text, ref)


def _normalise(phrase: str) -> str:
    text = re.sub(r"\s+", " ", phrase.lower().replace(",", ", ")).strip(" .,;")
    text = re.sub(r"\s+,", ",", text)
    previous = None
    while previous != text:
        previous = text
        text = _FILLER.sub("", text)
    return text


def _absolute(text: str, ref: datetime) -> datetime | None:
    for pattern in _ABSOLUTE:
        m = pattern.match(text)
        if not m:
            continue
        groups = m.groupdict()
        month = MONTHS[groups["month"]] if groups.get("month") else int(groups.get("mnum") or 1)
        day = int(groups["day"]) if groups.get("day") else 1
        year = int(groups["year"]) if groups.get("year") else ref.year
        return _build(year, month, day, ref)
    return None


def _relative(text: str, ref: datetime) -> datetime | None:
    start = ref.replace(hour=0, minute=0, second=0, microsecond=0)
    fixed = {
        "today": start, "tonight": start, "this morning": start, "yesterday":
        start - timedelta(days=1), "tomorrow": start + timedelta(days=1),
    }
    if text in fixed:
        return fixed[text]
    m = re.match(r"^(last|next|this) (week|month|year)$", text)
    if m:
        sign = {"last": -1, "next": 1, "this": 0}[m.group(1)]
        return _shift(start, m.group(2), sign)
    m = _WEEKDAY.match(text)
    if m and (m.group("which") or m.group("day") != "weekend"):  # "the weekend": which one?
        return _weekday(start, m.group("which"), m.group("day"))
    m = _AGO.match(text)
    if m:
        n = int(m.group("n")) if m.group("n").isdigit() else _NUMBERS[m.group("n")]
        return start - n * _UNITS[m.group("unit")]
    return None


def _weekday(start: datetime, which: str | None, day: str) -> datetime:
    """"last Saturday" (or a bare "Saturday", told of in the past tense, as chat mostly does)
    is the latest such day before the turn; "next"/"this coming" the first one after it;
    "this" the one of the turn's week. A weekend is its Saturday."""
    target = WEEKDAYS.index("saturday" if day == "weekend" else day)
    back = (start.weekday() - target) % 7 or 7
    if which in ("next", "coming", "this coming"):
        return start + timedelta(days=(target - start.weekday()) % 7 or 7)
    if which == "this":
        return start + timedelta(days=target - start.weekday())
    return start - timedelta(days=back)


def _shift(start: datetime, unit: str, sign: int) -> datetime:
    if unit == "year":
        return start.replace(year=start.year + sign, month=1, day=1)
    if unit == "month":
        month_index = start.year * 12 + start.month - 1 + sign
        return start.replace(year=month_index // 12, month=month_index % 12 + 1, day=1)
    return start + sign * _UNITS["week"]


def _build(year: int, month: int, day: int, ref: datetime) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=ref.tzinfo)
    except ValueError:
        return None


def spelled(phrase: str, when: datetime) -> str:
    """The absolute date a relative phrase meant, at the precision the phrase had: "yesterday"
    → "7 May 2023", "last month" → "April 2023", "last year" → "2022", "last week" → "the week
    of 1 May 2023". Stored in a fact's text, so the answer to "when?" survives the turn's
    own date being out of sight."""
    text = _normalise(phrase)
    if re.search(r"\byears?\b", text):
        return f"{when.year}"
    if re.search(r"\bmonths?\b", text):
        return f"{when:%B} {when.year}"
    if re.search(r"\bweeks?\b", text):
        return f"the week of {when.day} {when:%B} {when.year}"
    return f"{when.day} {when:%B} {when.year}"
