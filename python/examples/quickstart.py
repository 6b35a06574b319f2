# %% [markdown]
# # shoal from Python: a quick start
#
# A Paimon primary-key table on local disk: create it, write pandas rows, upsert and delete,
# read it back (merged) as pyarrow, pandas, polars or through DuckDB, travel in time, follow its
# changes, and keep it tidy. Run it as a script (`python examples/quickstart.py`) or cell by cell
# in a notebook (the `# %%` markers). Java Paimon, Flink, Spark or pypaimon read the same table.

# %%
import tempfile
from decimal import Decimal

import pandas as pd

import shoal

warehouse = tempfile.mkdtemp(prefix="shoal-quickstart-")
orders = shoal.Table.create(
    f"{warehouse}/shop.db/orders",
    "order_id BIGINT NOT NULL, customer STRING, fee DECIMAL(10, 2), day DATE",
    primary_key=["order_id"],
    options={"bucket": 2},
)
orders

# %% Write: one call, one commit (a snapshot).
first = pd.DataFrame(
    {
        "order_id": [1, 2, 3],
        "customer": ["ada", "bob", "cy"],
        "fee": [Decimal("12.50"), Decimal("3.10"), Decimal("99.00")],
        "day": pd.to_datetime(["2024-05-01", "2024-05-01", "2024-05-02"]).date,
    }
)
print("snapshot", orders.write(first))

# %% Upsert and delete by primary key: each row's kind is +I, -U, +U or -D.
changes = first.iloc[[0, 1]].copy()
changes.loc[0, "fee"] = Decimal("15.00")
print("snapshot", orders.write(changes, row_kinds=["+U", "-D"]))

# %% Read the merged rows: pyarrow (no copy of the column buffers), pandas, a filter, a projection.
print(orders.to_arrow())
print(orders.to_pandas(filter="fee > 10", columns=["order_id", "fee"]))

# %% Time travel: by snapshot, tag or time.
orders.create_tag("before-cleanup", snapshot=1)
print(orders.to_pandas(tag="before-cleanup"))
print(orders.snapshots())

# %% Other engines read the table directly through the Arrow PyCapsule interface.
try:
    import duckdb

    print(duckdb.sql("SELECT customer, fee FROM orders ORDER BY fee DESC").fetchall())
except ImportError:
    pass
try:
    print(orders.to_polars())
except ImportError:
    pass

# %% Larger than memory: a stream of record batches.
rows = sum(batch.num_rows for batch in orders.to_arrow_batch_reader())
print(rows, "rows streamed")

# %% Follow the changes (here: until caught up), with a consumer that remembers its place.
for batch in orders.tail(from_="earliest", consumer_id="quickstart", follow=False):
    print(batch.to_pydict())

# %% SQL over the warehouse (DataFusion), and maintenance.
print(shoal.sql(warehouse, "SELECT count(*) AS orders, sum(fee) AS total FROM shop.orders").to_pylist())
print(orders.compact(full=True))
print(orders.expire_snapshots(retain_max=2))
