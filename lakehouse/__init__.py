"""The data plane: Delta tables read and written by Spark (see lakehouse.tables)."""
