"""Run records: every job appends one row to the `job_runs` Delta table, whether it succeeded or failed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType, TimestampType

from stacktags.config import Config
from stacktags.tables import append

log = logging.getLogger(__name__)

JOB_RUNS_TABLE = "job_runs"
JOB_RUNS_SCHEMA = StructType(
    [
        StructField("job", StringType(), False),
        StructField("run_id", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("ended_at", TimestampType(), False),
        StructField("status", StringType(), False),
        StructField("rows_in", LongType(), True),
        StructField("rows_out", LongType(), True),
        StructField("rows_rejected", LongType(), True),
        StructField("error", StringType(), True),
        StructField("details", MapType(StringType(), StringType()), True),
    ]
)
MAX_ERROR_CHARS = 4000


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobRun:
    job: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    status: str = "running"
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None
    error: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    def as_row(self) -> tuple:
        return (
            self.job,
            self.run_id,
            self.started_at,
            self.ended_at,
            self.status,
            self.rows_in,
            self.rows_out,
            self.rows_rejected,
            self.error,
            {key: str(value) for key, value in self.details.items()},
        )


def write_run(spark: SparkSession, cfg: Config, run: JobRun) -> None:
    append(spark.createDataFrame([run.as_row()], JOB_RUNS_SCHEMA), cfg.table(JOB_RUNS_TABLE))


@contextmanager
def recorded_run(spark: SparkSession, cfg: Config, job: str) -> Iterator[JobRun]:
    """Wrap a job's work; the row lands in job_runs with status succeeded or failed (with the error) either way."""
    run = JobRun(job=job)
    try:
        yield run
        run.status = "succeeded"
    except BaseException as err:
        run.status = "failed"
        run.error = f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]
        raise
    finally:
        run.ended_at = _now()
        try:
            write_run(spark, cfg, run)
        except Exception:  # never hide the job's own error behind a failure to record it
            log.exception("could not record run %s of %s in %s", run.run_id, job, cfg.table(JOB_RUNS_TABLE))
            if run.status == "succeeded":
                raise
