"""The store's data: products, customers, orders and daily sales in a SQL database (SQLAlchemy 2).

Imports run one way: `actions → retrieval, recsys → catalog`; nothing here imports those packages.
"""
