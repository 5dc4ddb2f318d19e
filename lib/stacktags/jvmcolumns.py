"""A PySpark column as the JVM's Column, for the project's Java code (stacktags.jar), on either Spark line: Spark 4
keeps the conversion in pyspark.sql.classic.column, Spark 3.5 in pyspark.sql.column. The way back is the public
`pyspark.sql.Column(java_column)` on both."""

from __future__ import annotations

from pyspark.sql import functions as F

try:
    from pyspark.sql.classic.column import _to_java_column
except ImportError:  # Spark 3.5
    from pyspark.sql.column import _to_java_column


def java_column(name: str):
    """The JVM Column of the DataFrame column `name` (a py4j JavaObject)."""
    return _to_java_column(F.col(name))
