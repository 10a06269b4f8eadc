"""The query parser: prices, colours, categories, stock, negation, spelling, typos, bad input, contradictions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.attributes import derive_attributes
from retrieval.errors import InvalidQuery
from retrieval.query import MAX_QUERY_CHARS, ContradictoryFilters, Filters, QueryParser, Vocabulary
from tests.retrieval.fakes import SAMPLE_PRODUCTS

TITLES = [p.title for p in SAMPLE_PRODUCTS] + ["JAM JAR WITH PINK LID", "DOORMAT UNION FLAG", "JEWELLERY BOX"]


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(Vocabulary(t.lower() for t in TITLES))


D = Decimal


@pytest.mark.parametrize(
    ("query", "low", "high", "text"),
    [
        ("lunch bag under £5", None, D(5), "lunch bag"),
        ("lunch bag less than 5 pounds", None, D(5), "lunch bag"),
        ("lunch bag for 5 quid", None, D(5), "lunch bag for"),
        ("candles between 2 and 10", D(2), D(10), "candles"),
        ("candles £2-£10", D(2), D(10), "candles"),
        ("candles £10 - £2", D(2), D(10), "candles"),
        ("candles 2 to 10 pounds", D(2), D(10), "candles"),
        ("mugs over £3", D(3), None, "mugs"),
        ("mugs at least 3.50", D("3.50"), None, "mugs"),
        ("napkins under 90p", None, D("0.90"), "napkins"),
        ("napkins cheaper than £1.5", None, D("1.5"), "napkins"),
        ("set of 3 cake tins", None, None, "set of 3 cake tins"),
        ("60cm bunting", None, None, "60cm bunting"),
    ],
)
def test_prices(parser: QueryParser, query: str, low: Decimal | None, high: Decimal | None, text: str) -> None:
    parsed = parser.parse(query)
    assert (parsed.filters.price_min, parsed.filters.price_max) == (low, high)
    assert parsed.text == text


def test_contradictory_prices_are_explained(parser: QueryParser) -> None:
    with pytest.raises(ContradictoryFilters, match=r"over £10\.00 and under £2\.00"):
        parser.parse("lunch bag under £2 and over £10")


def test_contradiction_with_the_earlier_turns_filters(parser: QueryParser) -> None:
    with pytest.raises(ContradictoryFilters, match="colour"):
        parser.parse("red", base=Filters(exclude_colours=frozenset({"red"})))
    with pytest.raises(ContradictoryFilters):
        parser.parse("bags over £20", base=Filters(price_max=D(5), price_min=D(1))).filters.check()


def test_earlier_filters_are_kept_and_a_new_price_wins(parser: QueryParser) -> None:
    base = Filters(price_max=D(10), colours=frozenset({"red"}), in_stock=True)
    parsed = parser.parse("cheaper, under £3", base=base)
    assert (parsed.filters.price_max, parsed.filters.colours, parsed.filters.in_stock) == (D(3), {"red"}, True)


def test_colours_in_stock_and_negation(parser: QueryParser) -> None:
    parsed = parser.parse("navy lunch bags in stock, not jumbo, no pink, without bags")
    f = parsed.filters
    assert f.colours == {"blue"} and f.in_stock
    assert f.exclude_terms == {"jumbo"} and f.exclude_colours == {"pink"} and f.exclude_categories == {"bags"}
    assert parsed.text == "lunch bags"
    assert f.describe() == ["colour: blue", "in stock", "not bags & purses", "not pink", "without jumbo"]


def test_only_a_category(parser: QueryParser) -> None:
    assert parser.parse("only mugs").filters.categories == {"mugs_cups"}
    assert parser.parse("something in the kitchen category").filters.categories == {"kitchen"}
    assert parser.parse("mugs").filters.categories == frozenset(), "a plain noun is searched, not a hard filter"


def test_british_spellings_typos_and_compounds(parser: QueryParser) -> None:
    parsed = parser.parse("gray jewelry box")
    assert parsed.text == "jewellery box" and parsed.filters.colours == {"grey"}, "the colour is a filter"
    parsed = parser.parse("red retrosopt lunchbag")
    assert parsed.text.startswith("retrospot lunch bag")
    assert ("retrosopt", "retrospot") in parsed.corrections and ("lunchbag", "lunch bag") in parsed.corrections
    assert "doormat" in parser.parse("door mat").text.split()
    assert parser.parse("lunch bags").corrections == (), "a plural of a known word is known (stems)"
    assert parser.parse("cakestnad").text == "cakestand"


@pytest.mark.parametrize("query", ["", "   ", "😀😀😀", "(.*)+[", "?!", "\u200b\u200b"])
def test_queries_without_words_are_invalid_with_a_reason(parser: QueryParser, query: str) -> None:
    with pytest.raises(InvalidQuery):
        parser.parse(query)


@pytest.mark.parametrize(
    "query", ["'; DROP TABLE products; --", "lunch bag' OR '1'='1", "[a-z]+ (lunch|bag)* $^ \\d{2}", "bag 😀"]
)
def test_sql_and_regex_looking_queries_are_plain_words(parser: QueryParser, query: str) -> None:
    parsed = parser.parse(query)
    assert parsed.text and all(ch.isalnum() or ch in " '" for ch in parsed.text)


def test_a_huge_query_is_cut_and_says_so(parser: QueryParser) -> None:
    parsed = parser.parse("lunch bag " * 1000)
    assert len(parsed.original) == MAX_QUERY_CHARS and any("cut" in n for n in parsed.notes)


def test_a_query_of_only_constraints_is_valid(parser: QueryParser) -> None:
    parsed = parser.parse("under £5 in stock")
    assert parsed.text == "" and parsed.filters.price_max == D(5) and parsed.filters.in_stock


def test_category_synonyms_match_the_derived_categories(parser: QueryParser) -> None:
    assert parser.category_of("bags") == derive_attributes("LUNCH BAG").category.value
    assert parser.category_of("lamps") is None
    assert parser.category_of("jewellery") == "jewellery"


def test_filters_round_trip_through_slot_values_and_relax() -> None:
    f = Filters(
        price_min=D("1.5"),
        price_max=D(10),
        colours=frozenset({"red", "blue"}),
        exclude_categories=frozenset({"bags"}),
        in_stock=True,
    )
    data = f.as_dict()
    assert data == {
        "price_min": "1.5",
        "price_max": "10",
        "colours": ["blue", "red"],
        "exclude_categories": ["bags"],
        "in_stock": True,
    }
    assert Filters.from_dict(data) == f and Filters.from_dict(None) == Filters()
    assert f.relaxed("price").price_max is None and f.relaxed("colours").colours == frozenset()
    assert f.relaxed("in_stock").in_stock is False
    with pytest.raises(ValueError):
        f.relaxed("title")
    with pytest.raises(InvalidQuery, match="unknown filter keys"):
        Filters.from_dict({"colour": ["red"]})
    with pytest.raises(InvalidQuery, match="price_max"):
        Filters.from_dict({"price_max": "cheap"})
    with pytest.raises(ContradictoryFilters):
        Filters.from_dict({"price_min": "10", "price_max": "2"})


def test_a_two_edit_correction_keeps_the_first_letter() -> None:
    vocabulary = Vocabulary(["set/4 badges beetles", "retrospot lunch bag", "kitchen sign"])
    assert vocabulary.correct("retrosopt") == "retrospot"  # a transposition: one edit
    assert vocabulary.correct("retrospoot") == "retrospot"  # two edits, same first letter
    assert vocabulary.correct("gadgets") is None  # two edits from "badges", but another first letter
    assert vocabulary.correct("kitchan") == "kitchen"


def test_common_english_words_and_fillers_are_never_corrected_into_catalogue_words() -> None:
    titles = ["mould for cakes", "shell ornament", "soft toy", "tv tray table", "save the planet bag", "lunch bag"]
    vocabulary = Vocabulary(titles)  # the real English word list, from the embedding model's wheel
    assert {"would", "sell", "sofa", "cable"} <= vocabulary.english
    for word in ("would", "sell", "sofa", "cable"):  # one edit from mould, shell, soft, table: meant as written
        assert vocabulary.correct(word) is None, word
    assert vocabulary.correct("lunchbag") == "lunch bag" and vocabulary.correct("tabel") == "table"  # real typos
    parsed = QueryParser(vocabulary).parse("do you have a lunch bag I would like")
    assert parsed.corrections == () and "save" not in parsed.text and "mould" not in parsed.text
    assert Vocabulary(titles, english=frozenset()).correct("would") == "mould"  # what the list prevents
