"""The catalog's error tree: callers catch these, never SQLAlchemy's or pandas' own errors."""


class CatalogError(Exception):
    """Base class of every error the catalog raises."""


class DataNotFound(CatalogError):
    """The store's source files are not where the configuration says; the message says where to get them."""


class CatalogNotBuilt(CatalogError):
    """The catalog database is missing or not migrated; the message names the command that builds it."""


class CatalogUnavailable(CatalogError):
    """The catalog database cannot be reached or answered with an error."""
