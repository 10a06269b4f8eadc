"""Product attributes from titles: the rules, accuracy on the hand-labelled sample, storage and the migration."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from catalog.attribute_store import derive_product_attributes
from catalog.attributes import Category, derive_attributes, normalise_title, vote_other_categories
from catalog.ingest import import_online_retail
from catalog.migrate import alembic_config, upgrade
from catalog.repository import SqlProductRepository

FIXTURES = Path(__file__).parent / "fixtures"
DEVELOPMENT = FIXTURES / "labelled_attributes.tsv"
HELD_OUT = FIXTURES / "labelled_attributes_heldout.tsv"


def labelled(path: Path = DEVELOPMENT) -> list[tuple[str, str, str, frozenset[str]]]:
    rows = [r for r in csv.reader(path.open(encoding="utf-8"), delimiter="\t") if r and not r[0].startswith("#")]
    return [
        (sku, title, category, frozenset(c for c in colours.split(",") if c)) for sku, title, category, colours in rows
    ]


def test_the_hand_labelled_samples_are_large_distinct_and_use_known_categories() -> None:
    development, held_out = labelled(), labelled(HELD_OUT)
    assert len(development) >= 500 and len(held_out) >= 150
    skus = [sku for sku, *_ in development + held_out]
    assert len(set(skus)) == len(skus), "no product is in both samples"
    assert {category for _, _, category, _ in development + held_out} <= {c.value for c in Category}


def test_category_accuracy_on_the_hand_labelled_sample_is_at_least_90_percent() -> None:
    rows = labelled()
    wrong = [(title, want, derive_attributes(title).category.value) for _, title, want, _ in rows]
    wrong = [w for w in wrong if w[1] != w[2]]
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= 0.90, f"category accuracy {accuracy:.1%}; misses: {wrong}"


def test_category_accuracy_on_the_held_out_sample_is_at_least_90_percent() -> None:
    """150 products whose titles were first read after version 3 of the rules was final (never used to change a
    rule): 94.0% category accuracy (the neighbour vote over the built store's title vectors changes none of them),
    98.0% exact colour sets. Version 2 scored 82% on the sample that is now the development sample's last 150."""
    rows = labelled(HELD_OUT)
    wrong = [(title, want, derive_attributes(title).category.value) for _, title, want, _ in rows]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert 1 - len(wrong) / len(rows) >= 0.90, f"held-out category accuracy below 90%; misses: {wrong}"
    colours = sum(set(derive_attributes(title).colours) == want for _, title, _, want in rows) / len(rows)
    assert colours >= 0.95


def test_colour_accuracy_on_the_hand_labelled_sample_is_at_least_90_percent() -> None:
    rows = labelled()
    right = sum(set(derive_attributes(title).colours) == colours for _, title, _, colours in rows)
    assert right / len(rows) >= 0.90


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", Category.CANDLES),  # "T-LIGHT" is not lighting
        ("SET OF 12 LILY BOTANICAL T-LIGHTS", Category.CANDLES),
        ("CHRISTMAS TREE T-LIGHT HOLDER", Category.CHRISTMAS),  # Christmas first
        ("TEA BAG PLATE RED SPOTTY", Category.KITCHEN),  # not a bag
        ("SMALL SPOTTY CHOCOLATE GIFT BAG", Category.CARDS_WRAP),
        ("KNITTED UNION FLAG HOT WATER BOTTLE", Category.HOME_DECOR),  # not a kitchen bottle
        ("KITCHEN METAL SIGN", Category.HOME_DECOR),
        ("LUNCH BAG RED RETROSPOT", Category.BAGS),
        ("REGENCY CAKESTAND 3 TIER", Category.KITCHEN),
        ("ROSES REGENCY TEACUP AND SAUCER", Category.MUGS_CUPS),
        ("SILVER 2 STRAND NECKLACE-LEAF CHARM", Category.JEWELLERY),
        ("S/6 WOODEN SKITTLES IN COTTON BAG", Category.TOYS),  # what is in the bag, not the bag
        ("SWIRLY CIRCULAR RUBBERS IN BAG", Category.STATIONERY),
        ("STRAWBERRY LUNCH BOX WITH CUTLERY", Category.KITCHEN),
        ("PAINTED METAL HEART WITH HOLLY BELL", Category.CHRISTMAS),  # Christmas words in the tail still win
        ("SET OF 3 CAKE TINS SKETCHBOOK", Category.KITCHEN),  # a design name, not a sketchbook
        ("GREEN FERN SKETCHBOOK", Category.STATIONERY),
        ("BLUE PAINTED KASHMIRI TABLE", Category.HOME_DECOR),
        ("CAMOUFLAGE DOG COLLAR", Category.OTHER),
        ("QWERTY ZXCV", Category.OTHER),
        ("", Category.OTHER),
    ],
)
def test_category_rules(title: str, category: Category) -> None:
    assert derive_attributes(title).category is category


def unit(*rows: list[float]) -> npt.NDArray[np.float32]:
    x = np.array(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_vote_gives_a_plain_other_product_its_neighbours_category() -> None:
    ruled = [
        (Category.KITCHEN, "kitchen & dining"),
        (Category.KITCHEN, "tableware"),
        (Category.TOYS, "toys & games"),
        (Category.OTHER, "other"),  # near the two kitchen products
        (Category.OTHER, "other"),  # like nothing
        (Category.OTHER, "electronics"),  # an explicit rule: kept
    ]
    vectors = unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.95, 0.05, 0], [0, 0, 1], [1, 0, 0])
    voted = vote_other_categories(ruled, vectors, neighbours=2, min_share=0.5, min_cosine=0.5)
    assert voted[3] == (Category.KITCHEN, "kitchen & dining")
    assert voted[4] == (Category.OTHER, "other") and voted[5] == (Category.OTHER, "electronics")
    assert voted[:3] == ruled[:3]
    split = vote_other_categories(ruled, vectors, neighbours=3, min_share=0.99, min_cosine=0.0)
    assert split[3] == (Category.OTHER, "other"), "kitchen holds ~97% of the weight, not 99%"
    with pytest.raises(ValueError, match="one vector per product"):
        vote_other_categories(ruled, vectors[:2])


def test_colours_patterns_and_materials_fold_synonyms() -> None:
    a = derive_attributes("TURQ ZINC M/COLOUR POLKA DOT GLASS MUG, MINT")
    assert set(a.colours) == {"turquoise", "multicolour", "green"}
    assert "polkadot" in a.patterns
    assert set(a.materials) >= {"zinc", "glass"}
    assert derive_attributes("LUNCH BAG RED RETROSPOT").patterns == ("retrospot",)
    assert derive_attributes("HEART T-LIGHT HOLDER").colours == ()


def test_normalise_title_reads_every_tea_light_spelling_the_same() -> None:
    assert {normalise_title(t) for t in ("T-LIGHT", "t light", "TLIGHT", "tea light")} == {"TLIGHT"}
    assert normalise_title("T-LIGHTS & candles") == "TLIGHTS CANDLES"


@pytest.fixture
def imported(sqlite_engine: Engine, tiny_store: Path) -> Iterator[Engine]:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    yield sqlite_engine


def test_derive_stores_attributes_and_the_repository_returns_them(imported: Engine) -> None:
    report = derive_product_attributes(imported)
    assert not report.skipped and report.products == SqlProductRepository(imported).count()
    bag = SqlProductRepository(imported).get_by_sku("20725")
    assert bag is not None
    assert (bag.category, bag.colours, bag.patterns) == ("bags", ("red",), ("retrospot",))
    every = list(SqlProductRepository(imported).iter_all())
    assert all(p.category is not None for p in every)
    assert SqlProductRepository(imported).get_many([bag.id])[bag.id] == bag


def test_derive_is_idempotent_and_force_derives_again(imported: Engine) -> None:
    first = derive_product_attributes(imported)
    second = derive_product_attributes(imported)
    assert (second.skipped, second.products, second.per_category) == (True, first.products, first.per_category)
    assert derive_product_attributes(imported, force=True).skipped is False


def test_the_vote_runs_with_an_encoder_and_a_later_run_without_one_keeps_it(imported: Engine) -> None:
    repository = SqlProductRepository(imported)
    titles = {p.sku: p.title for p in repository.iter_all()}
    others = [sku for sku, title in titles.items() if derive_attributes(title).category is Category.OTHER]
    bag = "20725"

    def embed(batch: Sequence[str]) -> npt.NDArray[np.float32]:
        """Every product looks like the lunch bag: plain "other" titles vote "bags"."""
        return np.ones((len(batch), 4), dtype=np.float32) / 2.0

    assert derive_product_attributes(imported).voted == 0  # rules only
    with_vote = derive_product_attributes(imported, embed=embed)  # same titles and rules, but not voted yet: runs
    assert not with_vote.skipped
    plain = [s for s in others if derive_attributes(titles[s]).subcategory == "other"]
    assert with_vote.voted == len(plain)
    for sku in plain:
        product = repository.get_by_sku(sku)
        assert product is not None and product.category != "other"
    later = derive_product_attributes(imported)  # `python -m catalog build` afterwards keeps the voted rows
    assert later.skipped and later.voted == with_vote.voted
    assert derive_product_attributes(imported, embed=embed).skipped
    assert repository.get_by_sku(bag) is not None


def test_products_without_attributes_still_load(imported: Engine) -> None:
    bag = SqlProductRepository(imported).get_by_sku("20725")
    assert bag is not None and bag.category is None and bag.colours == ()


def test_migration_0003_upgrades_and_downgrades_on_sqlite(sqlite_engine: Engine) -> None:
    assert "product_attributes" in inspect(sqlite_engine).get_table_names()
    config = alembic_config()
    with sqlite_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    tables = set(inspect(sqlite_engine).get_table_names())
    assert "product_attributes" not in tables and "stock_levels" in tables
    upgrade(sqlite_engine)
    columns = {c["name"] for c in inspect(sqlite_engine).get_columns("product_attributes")}
    assert columns == {"sku", "category", "subcategory", "colours", "patterns", "materials"}


@pytest.mark.slow
def test_every_reference_product_gets_a_category_and_few_are_other(full_sqlite: object) -> None:
    engine: Engine = full_sqlite.engine  # type: ignore[attr-defined]
    titles = [p.title for p in SqlProductRepository(engine).iter_all()]  # read only: the fixture is shared
    categories = Counter(derive_attributes(t).category for t in titles)
    assert len(titles) > 4000
    assert categories[Category.OTHER] / len(titles) < 0.10
    assert set(categories) == set(Category)
