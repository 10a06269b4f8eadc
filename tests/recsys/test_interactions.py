"""Purchases → interactions: cancellation netting, guests, counts and times, and the temporal split."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from recsys.interactions import (
    GUEST,
    Interactions,
    PurchaseLog,
    evaluation_splits,
    net_cancellations,
    temporal_split,
    to_datetime,
    to_seconds,
)

DAY = datetime(2011, 3, 1, 9, 0)


def day(n: int) -> datetime:
    return DAY + timedelta(days=n)


def log_of(*records: tuple[str, str | None, int, int, datetime]) -> PurchaseLog:
    return PurchaseLog.from_records(records, {1: "MUG", 2: "TEAPOT", 3: "SPOON"})


def net_of(log: PurchaseLog) -> dict[tuple[str, int], int]:
    """Invoice and product → net quantity, for the lines with a purchase."""
    net = net_cancellations(log)
    return {
        (str(log.invoice_nos[log.invoice[i]]), int(log.product[i])): int(net[i])
        for i in range(len(log))
        if log.quantity[i] > 0
    }


def test_a_cancellation_takes_back_from_the_latest_earlier_purchases_first() -> None:
    log = log_of(
        ("1", "A", 1, 6, day(0)),
        ("2", "A", 1, 4, day(5)),
        ("C3", "A", 1, -5, day(6)),
    )
    assert net_of(log) == {("1", 1): 5, ("2", 1): 0}


def test_netting_never_goes_below_zero_and_ignores_cancellations_of_unseen_purchases() -> None:
    log = log_of(
        ("C0", "A", 1, -3, day(0)),  # cancels something bought before the log starts
        ("1", "A", 1, 2, day(1)),  # bought after that cancellation: untouched
        ("2", "B", 1, 1, day(1)),
        ("C3", "B", 1, -10, day(2)),  # more than was bought: clipped at zero
    )
    assert net_of(log) == {("1", 1): 2, ("2", 1): 0}


def test_netting_is_per_customer_and_product() -> None:
    log = log_of(
        ("1", "A", 1, 2, day(0)),
        ("1", "A", 2, 2, day(0)),
        ("2", "B", 1, 2, day(0)),
        ("C3", "A", 1, -2, day(1)),
    )
    assert net_of(log) == {("1", 1): 0, ("1", 2): 2, ("2", 1): 2}


def test_guest_cancellations_are_dropped_and_guest_purchases_kept() -> None:
    log = log_of(("1", None, 1, 2, day(0)), ("C2", None, 1, -2, day(1)))
    assert net_of(log) == {("1", 1): 2}


def test_lines_of_one_product_in_one_order_are_summed() -> None:
    log = log_of(("1", "A", 1, 2, day(0)), ("1", "A", 1, 3, day(0)), ("1", "A", 2, 1, day(0)))
    assert len(log) == 2
    assert sorted(zip(log.product.tolist(), log.quantity.tolist(), strict=True)) == [(1, 5), (2, 1)]


def test_fully_cancelled_pairs_leave_the_matrix_and_guests_never_enter_it() -> None:
    data = Interactions.from_log(
        log_of(
            ("1", "A", 1, 1, day(0)),
            ("1", "A", 2, 1, day(0)),
            ("C2", "A", 2, -1, day(1)),
            ("3", None, 3, 1, day(2)),
        )
    )
    assert list(data.customer_ids) == ["A"]
    assert data.item_ids.tolist() == [1, 3]  # 2 was cancelled; 3 was bought by a guest
    assert data.counts.toarray().tolist() == [[1.0, 0.0]]
    assert data.history("A") == frozenset({1})
    assert data.baskets.shape == (2, 2)  # the guest's order counts for co-purchase statistics
    assert data.guest_baskets.toarray().tolist() == [[0.0, 1.0]]
    assert data.item_popularity().tolist() == [1.0, 1.0]


def test_counts_are_orders_and_times_are_days_before_now() -> None:
    data = Interactions.from_log(
        log_of(("1", "A", 1, 5, day(0)), ("2", "A", 1, 1, day(10)), ("2", "A", 2, 1, day(10))), now=day(20)
    )
    assert data.counts.toarray().tolist() == [[2.0, 1.0]]
    assert data.last_days.toarray().tolist() == [[10.0, 10.0]]
    assert data.first_days.toarray().tolist() == [[20.0, 10.0]]
    rows, items = np.array([0, 0, 0]), np.array([1, 0, 1])
    assert data.pair_values(data.counts, rows, items).tolist() == [1.0, 2.0, 1.0]


def test_pair_values_match_the_dense_matrix(synthetic: Interactions) -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, synthetic.n_customers, 200)
    items = rng.integers(0, synthetic.n_items, 200)
    dense = synthetic.counts.toarray()[rows, items]
    looked_up = synthetic.pair_values(synthetic.counts, rows, items)
    assert np.array_equal(np.nan_to_num(looked_up, nan=0.0), dense)
    assert np.isnan(looked_up[dense == 0]).all()


def test_decay_halves_the_weight_every_half_life() -> None:
    data = Interactions.from_log(log_of(("1", "A", 1, 1, day(0)), ("2", "B", 2, 1, day(30))), now=day(30))
    assert data.item_popularity(30.0).tolist() == pytest.approx([0.5, 1.0])
    assert data.item_popularity().tolist() == [1.0, 1.0]


def test_seconds_round_trip() -> None:
    assert to_datetime(to_seconds(day(3))) == day(3)


def test_the_split_keeps_the_test_weeks_out_of_train(synthetic_log: PurchaseLog) -> None:
    cutoff = datetime(2011, 8, 1)
    split = temporal_split(synthetic_log, cutoff, weeks=4)
    assert split.end == cutoff + timedelta(weeks=4)
    assert split.train.event_time.max() < to_seconds(cutoff)
    assert split.train.now == to_seconds(cutoff)
    assert split.test, "the synthetic store has purchases after the cut-off"
    window = synthetic_log.between(cutoff, split.end)
    bought = {
        (str(synthetic_log.customer_ids[c]), int(p))
        for c, p, q in zip(window.customer, window.product, window.quantity, strict=True)
        if c != GUEST and q > 0
    }
    for customer, products in split.test.items():
        assert customer in split.train.customer_index, "test customers are known in train"
        assert {(customer, p) for p in products} <= bought


def test_only_customers_known_before_the_cut_off_are_tested() -> None:
    log = log_of(("1", "A", 1, 1, day(0)), ("2", "A", 2, 1, day(10)), ("3", "NEW", 1, 1, day(10)))
    split = temporal_split(log, day(5), weeks=2)
    assert dict(split.test) == {"A": frozenset({2})}


def test_cancellations_after_the_cut_off_do_not_reach_back_into_train() -> None:
    log = log_of(("1", "A", 1, 1, day(0)), ("C2", "A", 1, -1, day(10)))
    assert Interactions.from_log(log).n_customers == 0  # netted when the whole log is used
    split = temporal_split(log, day(5), weeks=2)
    assert split.train.history("A") == frozenset({1})  # the future cancellation is not known at the cut-off


def test_evaluation_splits_are_consecutive_windows_ending_after_the_last_purchase(synthetic_log: PurchaseLog) -> None:
    validation, test = evaluation_splits(synthetic_log, weeks=3)
    last = to_datetime(synthetic_log.last_time)
    assert test.end == datetime(last.year, last.month, last.day) + timedelta(days=1)
    assert test.cutoff == test.end - timedelta(weeks=3)
    assert validation.end == test.cutoff
    assert validation.cutoff == test.cutoff - timedelta(weeks=3)
    assert validation.train.event_time.max() < to_seconds(validation.cutoff)


def test_the_interactions_split_themselves_for_models_that_learn_from_the_next_weeks(synthetic: Interactions) -> None:
    split = synthetic.split_at(4)
    assert split.end == to_datetime(synthetic.now)
    assert split.train.event_time.max() < to_seconds(split.cutoff)
    assert split.test


def test_a_pickled_interactions_keeps_what_serving_needs_only(synthetic: Interactions) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(synthetic))
    assert not hasattr(copy, "log") and not hasattr(copy, "event_time")
    assert (copy.counts != synthetic.counts).nnz == 0
    customer = str(synthetic.customer_ids[0])
    assert copy.history(customer) == synthetic.history(customer)
