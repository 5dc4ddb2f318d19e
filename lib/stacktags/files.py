"""Files on any file system Hadoop knows (local, s3://, hdfs://), handled by the driver through Hadoop's FileSystem."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pyspark.sql import SparkSession


def hadoop_file(spark: SparkSession, path: str):
    """(file system, path) of Hadoop's FileSystem API, for any scheme the cluster knows (local, s3://, hdfs://)."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def path_exists(spark: SparkSession, path: str) -> bool:
    file_system, hadoop_path = hadoop_file(spark, path)
    return file_system.exists(hadoop_path)


def upload(spark: SparkSession, local_file: str, path: str) -> None:
    """Copies a file of the driver's disk to path (replacing a file there).

    A streamed copy (FileUtil.copy) rather than FileSystem.copyFromLocalFile: S3A's copyFromLocalFile goes through the
    AWS SDK's transfer manager, which needs an asynchronous HTTP client (Netty or CRT) that a slim S3 connector lacks.
    """
    jvm = spark.sparkContext._jvm
    file_system, hadoop_path = hadoop_file(spark, path)
    local_system, local_path = hadoop_file(spark, Path(local_file).resolve().as_uri())
    jvm.org.apache.hadoop.fs.FileUtil.copy(
        local_system, local_path, file_system, hadoop_path, False, True, spark.sparkContext._jsc.hadoopConfiguration()
    )


def write_text(spark: SparkSession, text: str, path: str) -> None:
    """Writes text (UTF-8) to a file at path, on any file system (replacing a file there)."""
    with tempfile.TemporaryDirectory(prefix="stacktags-text-") as local:
        name = str(Path(local, Path(path).name or "file"))
        Path(name).write_text(text, encoding="utf-8")
        upload(spark, name, path)


def read_text(spark: SparkSession, path: str) -> str:
    """The text (UTF-8) of the file at path, on any file system."""
    with tempfile.TemporaryDirectory(prefix="stacktags-text-") as local:
        name = str(Path(local, "file"))
        download(spark, path, name)
        return Path(name).read_text(encoding="utf-8")


def download(spark: SparkSession, path: str, local_file: str) -> None:
    """Copies the file at path to the driver's disk (checked against its checksum file, when it has one)."""
    file_system, hadoop_path = hadoop_file(spark, path)
    file_system.copyToLocalFile(
        False, hadoop_path, spark.sparkContext._jvm.org.apache.hadoop.fs.Path(local_file), True
    )  # raw local file system: no checksum file beside the copy


def data_files(spark: SparkSession, folder: str, suffix: str) -> list[str]:
    """The files of folder whose names end with suffix, in name order; hidden ones (_SUCCESS, .crc) left out."""
    file_system, hadoop_path = hadoop_file(spark, folder)
    names = [status.getPath().toString() for status in file_system.listStatus(hadoop_path) if status.isFile()]
    return sorted(
        name for name in names if name.endswith(suffix) and not name.rsplit("/", 1)[-1].startswith(("_", "."))
    )
