"""Purchase history as the recommenders see it: a customer × product implicit-feedback matrix with counts and times.

Two steps. `PurchaseLog` is every order line of the catalog, summed per (invoice, product), cancellations included as
negative quantities; it can be cut by time (`between`). `Interactions.from_log` then nets cancellations out (each
cancellation takes its quantity back from the customer's latest earlier purchases of that product, never below zero)
and indexes what is left:

- known customers' purchases make the personal matrix (`counts`: orders per customer and product; `last_days`);
- guest checkouts have no customer: they count for popularity and for co-purchase statistics per order
  (`baskets`), never for personal training. Guest cancellations cannot be matched to a purchase and are dropped.

`temporal_split` cuts the log at a date for evaluation: train strictly before the cut-off, test = the next weeks'
net purchases of customers known in train. Cutting the raw log before netting keeps future cancellations out of
train too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ClauseElement

from catalog.models import OrderLineRow, OrderRow, ProductRow
from recsys.errors import RecsysUnavailable

SECONDS_PER_DAY = 86_400
GUEST = -1
"""Customer index of a guest checkout."""

Csr = Any
"""A `scipy.sparse.csr_matrix` (scipy ships no type information)."""


def to_seconds(moment: datetime) -> int:
    """Seconds since the epoch of a naive timestamp (the catalog stores the store's local time, naive)."""
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def to_datetime(seconds: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=int(seconds))


@dataclass(frozen=True)
class PurchaseLog:
    """Order lines summed per (invoice, product), in time order; parallel arrays, one row each."""

    invoice: NDArray[np.int64]
    """Index into `invoice_nos`."""
    customer: NDArray[np.int64]
    """Index into `customer_ids`, or `GUEST`."""
    product: NDArray[np.int64]
    """Catalog product id."""
    quantity: NDArray[np.int64]
    """Positive for a purchase, negative on a cancellation invoice."""
    time: NDArray[np.int64]
    """Seconds since the epoch."""
    customer_ids: NDArray[np.str_]
    invoice_nos: NDArray[np.str_]
    titles: Mapping[int, str] = field(default_factory=dict)
    """Product id → title, for reasons ("because you bought ...")."""

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[str, str | None, int, int, datetime]],
        titles: Mapping[int, str] | None = None,
    ) -> PurchaseLog:
        """From (invoice_no, customer_id or None for a guest, product_id, quantity, invoiced_at) rows."""
        rows = list(records)
        orders = pd.DataFrame(
            {"invoice_no": [r[0] for r in rows], "customer_id": [r[1] for r in rows], "at": [r[4] for r in rows]}
        ).drop_duplicates("invoice_no")
        lines = pd.DataFrame({"invoice_no": [r[0] for r in rows], "product_id": [r[2] for r in rows]})
        lines["quantity"] = np.array([r[3] for r in rows], dtype=np.int64)
        return cls.from_frames(orders, lines, titles or {})

    @classmethod
    def from_frames(cls, orders: pd.DataFrame, lines: pd.DataFrame, titles: Mapping[int, str]) -> PurchaseLog:
        """From orders (invoice_no, customer_id: None for guests, at) and their lines (invoice_no, product_id,
        quantity). Lines of unknown invoices are dropped."""
        invoice_nos = orders["invoice_no"].astype(str).to_numpy()
        known = orders["customer_id"].notna().to_numpy()
        customer_ids = np.unique(orders["customer_id"][known].astype(str).to_numpy())
        invoice_customer = np.full(len(orders), GUEST, dtype=np.int64)
        invoice_customer[known] = np.searchsorted(customer_ids, orders["customer_id"][known].astype(str).to_numpy())
        times = pd.to_datetime(orders["at"]).to_numpy().astype("datetime64[s]").astype(np.int64)
        invoice = pd.Index(invoice_nos).get_indexer(pd.Index(lines["invoice_no"].astype(str)))
        product = lines["product_id"].to_numpy(dtype=np.int64)
        valid = invoice >= 0
        invoice, product, quantity = invoice[valid], product[valid], lines["quantity"].to_numpy(dtype=np.int64)[valid]
        key = invoice * (int(product.max(initial=0)) + 1) + product
        keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        summed = np.zeros(len(keys), dtype=np.int64)
        np.add.at(summed, inverse, quantity)
        invoice, product = invoice[first], product[first]
        order = np.lexsort((product, invoice, times[invoice]))
        order = order[summed[order] != 0]
        return cls(
            invoice=invoice[order],
            customer=invoice_customer[invoice[order]],
            product=product[order],
            quantity=summed[order],
            time=times[invoice[order]],
            customer_ids=customer_ids.astype(str),
            invoice_nos=invoice_nos.astype(str),
            titles=titles,
        )

    def __len__(self) -> int:
        return len(self.time)

    @property
    def last_time(self) -> int:
        """Seconds since the epoch of the latest line (0 for an empty log)."""
        return int(self.time.max()) if len(self.time) else 0

    def between(self, start: datetime | None = None, end: datetime | None = None) -> PurchaseLog:
        """The lines with start <= time < end (open ends when None); same id tables."""
        keep = np.ones(len(self.time), dtype=bool)
        if start is not None:
            keep &= self.time >= to_seconds(start)
        if end is not None:
            keep &= self.time < to_seconds(end)
        return PurchaseLog(
            invoice=self.invoice[keep],
            customer=self.customer[keep],
            product=self.product[keep],
            quantity=self.quantity[keep],
            time=self.time[keep],
            customer_ids=self.customer_ids,
            invoice_nos=self.invoice_nos,
            titles=self.titles,
        )


def load_purchase_log(engine: Engine) -> PurchaseLog:
    """Every order line of the catalog database, with product titles. Raises `RecsysUnavailable`."""
    orders_query = select(OrderRow.invoice_no, OrderRow.customer_id, OrderRow.invoiced_at.label("at"))
    lines_query = select(OrderLineRow.invoice_no, OrderLineRow.product_id, OrderLineRow.quantity)
    try:
        with engine.connect() as connection:
            orders = pd.read_sql(orders_query, connection)
            titles = {
                int(id_): str(title) for id_, title in connection.execute(select(ProductRow.id, ProductRow.title))
            }
            lines = _fetch_frame(connection, lines_query, ["invoice_no", "product_id", "quantity"])
    except SQLAlchemyError as exc:
        raise RecsysUnavailable(f"reading purchases from the catalog failed: {exc}") from exc
    return PurchaseLog.from_frames(orders, lines, titles)


def _fetch_frame(connection: Connection, query: ClauseElement, columns: list[str]) -> pd.DataFrame:
    """Plain columns through the DBAPI cursor: SQLAlchemy's per-row objects cost seconds on a million lines."""
    cursor = connection.exec_driver_sql(str(query.compile(connection))).cursor
    if cursor is None:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


def net_cancellations(log: PurchaseLog) -> NDArray[np.int64]:
    """Net quantity of each line after cancellations: 0 for cancellation lines and fully cancelled purchases.

    A customer's cancellation of a product takes its quantity back from that customer's latest purchases of the
    product at or before the cancellation, newest first, never below zero (a cancellation of something bought before
    the log starts cancels nothing). Guests' cancellations are dropped: nothing ties them to a purchase.
    """
    net = np.where(log.quantity > 0, log.quantity, 0).astype(np.int64)
    cancelled = np.flatnonzero((log.quantity < 0) & (log.customer != GUEST))
    if not len(cancelled):
        return net
    key = log.customer * (int(log.product.max()) + 1) + log.product
    purchases = np.flatnonzero(log.quantity > 0)
    order = purchases[np.lexsort((log.time[purchases], key[purchases]))]
    sorted_keys = key[order]
    for line in cancelled[np.argsort(log.time[cancelled], kind="stable")]:
        lo, hi = np.searchsorted(sorted_keys, key[line], side="left"), np.searchsorted(sorted_keys, key[line], "right")
        remaining = -int(log.quantity[line])
        for purchase in order[lo:hi][::-1]:
            if remaining == 0:
                break
            if log.time[purchase] > log.time[line] or net[purchase] == 0:
                continue
            taken = min(remaining, int(net[purchase]))
            net[purchase] -= taken
            remaining -= taken
    return net


class Interactions:
    """Net purchases indexed for training: customers and items are dense indexes, events are parallel arrays.

    `now` is the end of the period (recency is measured from it): the cut-off for a training split, else the time of
    the last purchase.
    """

    def __init__(self, log: PurchaseLog, now: int | None = None) -> None:
        self.log = log
        """The raw lines this was built from (see `before`); not pickled."""
        net = net_cancellations(log)
        keep = net > 0
        customer = log.customer[keep]
        product = log.product[keep]
        self.now: int = int(now) if now is not None else (int(log.time[keep].max()) if keep.any() else 0)
        self.titles: Mapping[int, str] = log.titles
        self.item_ids: NDArray[np.int64] = np.unique(product)
        """Item index → catalog product id (sorted)."""
        self.item_index: dict[int, int] = {int(p): i for i, p in enumerate(self.item_ids)}
        used = np.unique(customer[customer != GUEST])
        self.customer_ids: NDArray[np.str_] = log.customer_ids[used]
        """Customer index → customer id (sorted); only customers with at least one net purchase."""
        self.customer_index: dict[str, int] = {str(c): i for i, c in enumerate(self.customer_ids)}
        remap = np.full(len(log.customer_ids) + 1, GUEST, dtype=np.int64)
        remap[used] = np.arange(len(used))
        self.event_customer: NDArray[np.int64] = remap[customer]
        """Per net purchase line: customer index or `GUEST`."""
        self.event_item: NDArray[np.int64] = np.searchsorted(self.item_ids, product).astype(np.int64)
        _, self.event_invoice = np.unique(log.invoice[keep], return_inverse=True)
        self.event_time: NDArray[np.int64] = log.time[keep]
        self.event_quantity: NDArray[np.int64] = net[keep]

    @classmethod
    def from_log(cls, log: PurchaseLog, now: datetime | None = None) -> Interactions:
        return cls(log, to_seconds(now) if now is not None else None)

    def split_at(self, weeks: int) -> TemporalSplit:
        """This period's own temporal split: train before `now - weeks`, test = the last `weeks` (for models that
        learn from what followed a cut-off, e.g. a re-ranker)."""
        cutoff = to_datetime(self.now) - timedelta(weeks=weeks)
        return temporal_split(self.log.between(end=to_datetime(self.now)), cutoff, weeks)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle what serving needs (ids, titles, `counts`, `last_days`), not the raw lines or the events."""
        _ = self.counts, self.last_days, self.first_days
        dropped = {"log", "event_customer", "event_item", "event_invoice", "event_time", "event_quantity", "_pairs"}
        dropped |= {"baskets", "guest_baskets"}
        return {key: value for key, value in self.__dict__.items() if key not in dropped}

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_invoices(self) -> int:
        return int(self.event_invoice.max()) + 1 if len(self.event_invoice) else 0

    def title(self, product_id: int) -> str:
        return self.titles.get(product_id) or f"product {product_id}"

    def items_of(self, product_ids: Iterable[int]) -> NDArray[np.int64]:
        """Item indexes of the given product ids that have history (others are skipped)."""
        return np.array([self.item_index[p] for p in product_ids if p in self.item_index], dtype=np.int64)

    @cached_property
    def _pairs(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(row, col) of each distinct known (customer, item) pair in CSR order, and each event's pair (-1: guest)."""
        known = self.event_customer != GUEST
        key = self.event_customer * max(self.n_items, 1) + self.event_item
        pair_keys, inverse = np.unique(key[known], return_inverse=True)
        event_pair = np.full(len(key), -1, dtype=np.int64)
        event_pair[known] = inverse
        return pair_keys // max(self.n_items, 1), pair_keys % max(self.n_items, 1), event_pair

    def pair_matrix(self, event_weights: NDArray[np.floating[Any]] | None = None) -> Csr:
        """Customer × item CSR of the summed per-event weights (default 1: orders that included the item)."""
        rows, cols, event_pair = self._pairs
        known = event_pair >= 0
        weights = np.ones(int(known.sum())) if event_weights is None else event_weights[known]
        data = np.bincount(event_pair[known], weights=weights, minlength=len(rows)).astype(np.float32)
        return self._csr(rows, cols, data)

    def _csr(self, rows: NDArray[np.int64], cols: NDArray[np.int64], data: NDArray[np.float32]) -> Csr:
        indptr = np.zeros(self.n_customers + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n_customers), out=indptr[1:])
        return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=(self.n_customers, self.n_items))

    @cached_property
    def counts(self) -> Csr:
        """Customer × item CSR: in how many orders the customer bought the item (float32)."""
        return self.pair_matrix()

    @cached_property
    def last_days(self) -> Csr:
        """Customer × item CSR aligned with `counts`: days from the customer's last purchase of the item to `now`."""
        return self._pair_age(np.maximum, 0)

    @cached_property
    def first_days(self) -> Csr:
        """Customer × item CSR aligned with `counts`: days from the customer's first purchase of the item to `now`."""
        return self._pair_age(np.minimum, np.iinfo(np.int64).max)

    def _pair_age(self, pick: np.ufunc, start: int) -> Csr:
        rows, cols, event_pair = self._pairs
        known = event_pair >= 0
        moment = np.full(len(rows), start, dtype=np.int64)
        pick.at(moment, event_pair[known], self.event_time[known])
        return self._csr(rows, cols, ((self.now - moment) / SECONDS_PER_DAY).astype(np.float32))

    @cached_property
    def pair_keys(self) -> NDArray[np.int64]:
        """row * n_items + item of each stored pair, in CSR order (sorted), for `pair_values`."""
        counts = self.counts
        rows = np.repeat(np.arange(self.n_customers, dtype=np.int64), np.diff(counts.indptr))
        keys: NDArray[np.int64] = rows * self.n_items + np.asarray(counts.indices, dtype=np.int64)
        return keys

    def pair_values(self, matrix: Csr, rows: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.float64]:
        """Values of a customer × item CSR shaped like `counts` at (rows[i], items[i]); NaN where there is none."""
        keys = self.pair_keys
        wanted = rows.astype(np.int64) * self.n_items + items
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        values = np.full(len(wanted), np.nan)
        if len(keys):
            found = keys[at] == wanted
            values[found] = matrix.data[at[found]]
        return values

    def item_orders(self, from_days_ago: float, to_days_ago: float = 0.0) -> NDArray[np.float64]:
        """Per item: orders (guests' included) placed between `from_days_ago` and `to_days_ago` before `now`."""
        age = self.event_age_days()
        inside = (age < from_days_ago) & (age >= to_days_ago)
        return np.bincount(self.event_item[inside], minlength=self.n_items).astype(np.float64)

    @cached_property
    def item_first_days(self) -> NDArray[np.float64]:
        """Per item: days from its first sale to `now`."""
        first = np.full(self.n_items, np.iinfo(np.int64).max)
        np.minimum.at(first, self.event_item, self.event_time)
        return (self.now - first) / SECONDS_PER_DAY

    def event_age_days(self) -> NDArray[np.float64]:
        return (self.now - self.event_time) / SECONDS_PER_DAY

    def decay_weights(self, half_life_days: float) -> NDArray[np.float64]:
        """Per event: 2^(-age / half-life); 1 for every event when the half-life is infinite."""
        if not np.isfinite(half_life_days):
            return np.ones(len(self.event_time))
        return np.exp2(-np.maximum(self.event_age_days(), 0.0) / half_life_days)

    def item_popularity(self, half_life_days: float = float("inf")) -> NDArray[np.float64]:
        """Per item: recency-weighted number of orders (guests' included) that contained it."""
        weights = self.decay_weights(half_life_days)
        return np.bincount(self.event_item, weights=weights, minlength=self.n_items).astype(np.float64)

    @cached_property
    def baskets(self) -> Csr:
        """Order × item binary CSR over every order, guest checkouts included (co-purchase statistics)."""
        keys = np.unique(self.event_invoice * max(self.n_items, 1) + self.event_item)
        rows, cols = keys // max(self.n_items, 1), keys % max(self.n_items, 1)
        return sp.csr_matrix(
            (np.ones(len(keys), dtype=np.float32), (rows, cols)), shape=(self.n_invoices, self.n_items)
        )

    @cached_property
    def guest_baskets(self) -> Csr:
        """The rows of `baskets` that are guest checkouts."""
        guest_invoices = np.unique(self.event_invoice[self.event_customer == GUEST])
        return self.baskets[guest_invoices]

    def history(self, customer_id: str) -> frozenset[int]:
        """Product ids the customer has a net purchase of (empty for an unknown customer)."""
        row = self.customer_index.get(customer_id)
        if row is None:
            return frozenset()
        counts = self.counts
        return frozenset(int(p) for p in self.item_ids[counts.indices[counts.indptr[row] : counts.indptr[row + 1]]])


@dataclass(frozen=True)
class TemporalSplit:
    """Train on everything before `cutoff`; test on net purchases in [cutoff, end) of customers known in train."""

    train: Interactions
    test: Mapping[str, frozenset[int]]
    """Customer id → product ids bought in the test weeks (only customers with a net purchase before the cut-off)."""
    cutoff: datetime
    end: datetime


def temporal_split(log: PurchaseLog, cutoff: datetime, weeks: int = 4) -> TemporalSplit:
    """Cut `log` at `cutoff`. Cancellations are netted within each side, so train never sees the test weeks."""
    end = cutoff + timedelta(weeks=weeks)
    train = Interactions.from_log(log.between(end=cutoff), now=cutoff)
    window = Interactions.from_log(log.between(start=cutoff, end=end), now=end)
    test: dict[str, set[int]] = {}
    for customer, item in zip(window.event_customer, window.event_item, strict=True):
        if customer == GUEST:
            continue
        customer_id = str(window.customer_ids[customer])
        if customer_id in train.customer_index:
            test.setdefault(customer_id, set()).add(int(window.item_ids[item]))
    return TemporalSplit(train, {c: frozenset(items) for c, items in sorted(test.items())}, cutoff, end)


def evaluation_splits(log: PurchaseLog, weeks: int = 4) -> tuple[TemporalSplit, TemporalSplit]:
    """(validation, test): the test weeks are the last `weeks` of the log; validation is the same one window earlier.

    The test period ends at the midnight after the last purchase. Tune on validation, report on test.
    """
    last = to_datetime(log.last_time)
    end = datetime(last.year, last.month, last.day) + timedelta(days=1)
    test_cutoff = end - timedelta(weeks=weeks)
    validation_cutoff = test_cutoff - timedelta(weeks=weeks)
    return temporal_split(log.between(end=test_cutoff), validation_cutoff, weeks), temporal_split(
        log, test_cutoff, weeks
    )
