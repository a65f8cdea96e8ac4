"""The data plane: Delta tables read and written by Spark (see featurelake.lakehouse.tables)."""

from featurelake.lakehouse.tables import DataFile, Lakehouse, TableInfo, WriteInfo

__all__ = ["DataFile", "Lakehouse", "TableInfo", "WriteInfo"]
