"""Monitoring: the reference profile made at training, the monitor job's figures, alerts, exit status and
notifications (a webhook served on 127.0.0.1 by the test, SNS and CloudWatch on the tests' moto server)."""

import json
import math
import random
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import matplotlib.image
import pytest
from chispa import assert_column_equality
from conftest import SAMPLE_MODEL_SETTINGS, copy_of_sample_model, job_arguments, load_job
from pyspark.ml.linalg import SparseVector, VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from stacktags import cli
from stacktags.evaluate import reports_dir
from stacktags.model import models_dir
from stacktags.monitoring.dashboard import ALERT_COLOUR, BATCH_COLOUR, dashboard_path
from stacktags.monitoring.drift import Figure, jensen_shannon, psi, sampling_js
from stacktags.monitoring.monitor import BatchError, Rule, batch_condition, monitor
from stacktags.monitoring.profile import PROFILE_FILE, bin_of, forced_top_tag, text_stats

JOBS = {name: load_job(name) for name in ("evaluate", "score", "monitor")}
TRAIN_SETTINGS = SAMPLE_MODEL_SETTINGS
ID_OFFSET = 10**12  # the altered batches' questions: new Ids, so that the model scores them again
WEBHOOK_VARIABLE = "STACKTAGS_MONITOR_WEBHOOK"


# --- the pure parts ------------------------------------------------------------------------------------------------


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift():
    assert psi([0.25] * 4, [0.25] * 4) == 0.0
    assert psi([0.5, 0.5], [0.4, 0.6]) == pytest.approx(0.1 * math.log(0.6 / 0.5) - 0.1 * math.log(0.4 / 0.5))
    assert psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]) > 4  # an empty bin counts as 1e-4, never log 0


def test_jensen_shannon_runs_from_zero_for_equal_to_one_for_disjoint():
    assert jensen_shannon([3, 1], [6, 2]) == pytest.approx(0.0)  # counts and rates alike: normalised first
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert 0 < jensen_shannon([0.5, 0.5], [0.9, 0.1]) < 1
    assert jensen_shannon([0, 0], [0, 0]) == 0.0


def test_the_sampling_allowance_is_what_two_samples_of_one_distribution_exceed_once_in_a_hundred():
    # the demo's sizes: a reference of 300 predicted tags (the sample's validation split), a batch of 2,600, 100 tags
    rng = random.Random(7)
    rates = [1 / (rank + 1) for rank in range(100)]  # Zipf-like, as tag frequencies are
    tags = range(len(rates))

    def sample(n):
        counts = [0] * len(rates)
        for tag in rng.choices(tags, weights=rates, k=n):
            counts[tag] += 1
        return counts

    divergences = sorted(jensen_shannon(sample(300), sample(2600)) for _ in range(400))
    allowance = sampling_js(300, 2600, rates)
    exceeded = sum(js > allowance for js in divergences) / len(divergences)
    assert 0.0 < exceeded <= 0.03  # about 1 in 100
    assert divergences[len(divergences) // 2] > 0.05  # sampling alone reaches half the default threshold here
    assert sampling_js(170_000, 1_700_000, rates) < 0.001  # at full scale the allowance vanishes
    assert sampling_js(0, 2600, rates) == sampling_js(300, 2600, [0.0] * 100) == 0.0


def test_rules_say_what_broke_and_by_how_much():
    assert Rule("body_length_psi", "length_psi", "above").breach(Figure("body_length_psi", 0.3), 0.25) == (
        "body_length_psi 0.3000 > 0.25"
    )
    assert Rule("body_length_psi", "length_psi", "above").breach(Figure("body_length_psi", 0.2), 0.25) is None
    js = Rule("predicted_tags_js", "predicted_tags_js", "above", allowance="predicted_tags_js_sampling")
    assert js.breach(Figure("predicted_tags_js", 0.101), 0.1, Figure("predicted_tags_js_sampling", 0.09)) is None
    assert js.breach(Figure("predicted_tags_js", 0.3), 0.1, Figure("predicted_tags_js_sampling", 0.09)) == (
        "predicted_tags_js 0.3000 > 0.1 + 0.0900 (what sampling alone reaches at these sizes)"
    )
    rise = Rule("unweighted_share", "unweighted_share_rise", "rise").breach(Figure("unweighted_share", 0.3, 0.1), 0.05)
    assert rise == "unweighted_share 0.3000 (up 0.2000 from its reference 0.1000; allowed 0.05)"
    drop = Rule("live_micro_f1", "live_micro_f1_drop", "drop")
    assert drop.breach(Figure("live_micro_f1", 0.6, 0.7), 0.05).startswith("live_micro_f1 0.6000 (down 0.1000")
    assert drop.breach(Figure("live_micro_f1", 0.8, 0.7), 0.05) is None  # better is no alert
    assert drop.breach(Figure("live_micro_f1", 0.1), 0.05) is None  # no reference (a model never evaluated)


def test_bins_are_closed_above(spark):
    frame = spark.createDataFrame([(0, 0), (1, 0), (2, 1), (5, 1), (6, 2), (100, 2)], "value int, expected int")
    assert_column_equality(frame.withColumn("bin", bin_of(F.col("value"), [1.0, 5.0])), "bin", "expected")


def test_text_stats_count_tokens_and_the_terms_the_model_gives_no_weight(spark):
    schema = StructType(
        [
            StructField("title_tokens", ArrayType(StringType())),
            StructField("body_tokens", ArrayType(StringType())),
            StructField("code_tokens", ArrayType(StringType())),
            StructField("tfidf", VectorUDT()),
        ]
    )
    rows = spark.createDataFrame(
        [
            (["a", "b"], ["c"], [], SparseVector(8, [1, 3, 5, 7], [0.0, 1.5, 0.0, 2.0])),
            ([], [], [], SparseVector(8, [], [])),  # no term at all
            (["x"], [], ["y", "z"], None),
        ],
        schema,
    )
    stats = [r[0].asDict() for r in rows.select(text_stats(rows, "tfidf")).collect()]
    assert stats == [
        {"title_length": 2, "body_length": 1, "code_length": 0, "unweighted_share": 0.5},
        {"title_length": 0, "body_length": 0, "code_length": 0, "unweighted_share": None},
        {"title_length": 1, "body_length": 0, "code_length": 2, "unweighted_share": None},
    ]


def test_a_forced_top_tag_is_a_lone_tag_below_its_threshold(spark):
    scores = "array<struct<tag:string,probability:float>>"
    rows = spark.createDataFrame(
        [
            (["java"], [("java", 0.3), ("c#", 0.1)], True),  # below java's 0.5: forced
            (["java"], [("java", 0.7), ("c#", 0.1)], False),
            (["c#", "java"], [("c#", 0.3), ("java", 0.25)], False),  # two tags: both reached their thresholds
        ],
        f"tags array<string>, scores {scores}, expected boolean",
    )
    forced = forced_top_tag("tags", "scores", ["java", "c#"], [0.5, 0.2])
    assert_column_equality(rows.withColumn("forced", forced), "forced", "expected")


def test_a_batch_is_a_score_run_or_a_window_and_a_bad_window_is_a_clear_error(spark):  # F.col needs a session
    assert "score_run" in str(batch_condition("3bceeb61"))
    assert "scored_at" in str(batch_condition("2026-12-01T00:00/2026-12-02"))
    with pytest.raises(BatchError, match="a window is FROM/TO in ISO form"):
        batch_condition("yesterday/today")


# --- end to end on the bundled sample ------------------------------------------------------------------------------


class Webhook:
    """An HTTP server on 127.0.0.1 (a free port) that keeps the JSON bodies POSTed to it; answers `status`."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 200
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.received.append(json.loads(body))
                self.send_response(webhook.status)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv(WEBHOOK_VARIABLE, hook.url)
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def monitored(spark, sample_model, tmp_path_factory):
    """A model trained on the sample, and its test split's questions as three sources to score: as they are
    (held-back), with their bodies emptied, and with title and body emptied (both under new Ids)."""
    cfg = copy_of_sample_model(spark, sample_model, "monitor_e2e", *TRAIN_SETTINGS)
    run("evaluate", cfg)
    folder = tmp_path_factory.mktemp("batches")
    test_ids = spark.table(cfg.table("questions_clean")).where("split = 'test'").select("Id")
    held_back = spark.table(cfg.table("questions_raw")).join(test_ids, "Id", "left_semi").select("Id", "Title", "Body")
    held_back.write.format("delta").save(str(folder / "held-back"))
    blank = held_back.select((F.col("Id") + ID_OFFSET).alias("Id"), "Title", F.lit("").alias("Body"))
    blank.write.format("delta").save(str(folder / "blank-bodies"))
    empty = held_back.select(
        (F.col("Id") + 2 * ID_OFFSET).alias("Id"), F.lit("").alias("Title"), F.lit(None).cast("string").alias("Body")
    )
    empty.write.format("delta").save(str(folder / "empty-text"))
    return cfg, folder


def run(job, cfg, *args, settings=()):
    JOBS[job].main([*job_arguments(cfg, *TRAIN_SETTINGS, *settings), *args])


def score_and_monitor(spark, cfg, source, *monitor_args, settings=()) -> tuple[int, str]:
    """Score `source`, then monitor the new batch: (exit status, the batch's score run id)."""
    run("score", cfg, "--source", str(source))
    try:
        run("monitor", cfg, *monitor_args, settings=settings)
        status = 0
    except SystemExit as stop:
        status = stop.code
    return status, spark.table(cfg.table("job_runs")).where("job = 'score'").orderBy(F.desc("started_at")).first()[1]


def held_back_batch(spark, cfg, folder) -> str:
    """The score run of the held-back questions (scored now unless they were already)."""
    run("score", cfg, "--source", str(folder / "held-back"))
    return spark.table(cfg.table("predictions")).where(F.col("Id") < ID_OFFSET).first()["score_run"]


def figures(spark, cfg, batch) -> dict:
    rows = spark.table(cfg.table("drift_metrics")).where((F.col("batch") == batch) & F.col("tag").isNull()).collect()
    return {r["metric"]: r for r in rows}


def test_train_saves_a_reference_profile_in_the_model_folder_and_its_table(spark, monitored):
    cfg, _ = monitored
    profile = json.loads(Path(models_dir(cfg), "v1", PROFILE_FILE).read_text())
    validation = spark.table(cfg.table("questions_clean")).where("split = 'validation'").count()
    assert profile["rows"] == validation and profile["model_version"] == 1
    assert len(profile["tags"]) == len(profile["predicted_rates"]) == len(profile["tag_rates"]) == 20
    for name in ("title_length", "body_length", "code_length", "top_score"):
        assert sum(profile["shares"][name]) == pytest.approx(1.0)
        assert len(profile["shares"][name]) == len(profile["edges"][name]) + 1
    assert 0 < profile["means"]["unweighted_share"] < 0.5
    table = spark.table(cfg.table("model_profiles")).where("model_version = 1")
    assert table.where("statistic = 'rows'").first()["value"] == validation
    assert table.where("statistic = 'predicted_rate'").count() == 20


def test_held_back_questions_raise_no_alert_and_their_live_quality_is_the_evaluations(
    spark, monitored, webhook, capsys
):
    cfg, folder = monitored
    status, batch = score_and_monitor(spark, cfg, folder / "held-back")
    assert status == 0 and webhook.received == []
    found = figures(spark, cfg, batch)
    test_rows = spark.table(cfg.table("questions_clean")).where("split = 'test'").count()
    assert found["rows"]["value"] == test_rows
    for name in ("title_length_psi", "body_length_psi", "code_length_psi"):
        assert found[name]["value"] < 0.25
    evaluated = spark.table(cfg.table("models")).first()["metrics"]
    for name in ("micro_f1", "macro_f1", "p_at_1"):  # the same questions, the same model: the same figures
        assert found[f"live_{name}"]["value"] == pytest.approx(evaluated[name])
        assert found[f"live_{name}"]["reference"] == pytest.approx(evaluated[name])
    per_tag = spark.table(cfg.table("drift_metrics")).where((F.col("batch") == batch) & F.col("tag").isNotNull())
    assert per_tag.count() == 20
    assert not spark.catalog.tableExists(cfg.table("alerts")) or (
        spark.table(cfg.table("alerts")).where(F.col("batch") == batch).count() == 0
    )
    # a rerun replaces the batch's rows
    before = spark.table(cfg.table("drift_metrics")).where(F.col("batch") == batch).count()
    run("monitor", cfg, "--batch", batch)
    assert spark.table(cfg.table("drift_metrics")).where(F.col("batch") == batch).count() == before
    # without --batch, the newest batch once only (an orchestrator's score may have found nothing new to score)
    run("monitor", cfg)
    assert f"the newest batch, {batch}, was monitored already: nothing computed" in capsys.readouterr().out


def test_blank_bodies_raise_alerts_with_exit_status_rows_and_every_notification(
    spark, monitored, webhook, moto_endpoint, aws_credentials
):
    cfg, folder = monitored
    aws = {"region_name": "us-east-1", "endpoint_url": moto_endpoint}
    sns, sqs, cloudwatch = (boto3.client(name, **aws) for name in ("sns", "sqs", "cloudwatch"))
    topic = sns.create_topic(Name="stacktags-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="stacktags-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    settings = [
        f"aws.endpoint_url={moto_endpoint}",
        "aws.region=us-east-1",
        f"monitor.sns_topic_arn={topic}",
        "monitor.cloudwatch_namespace=stacktags-test",
    ]
    status, batch = score_and_monitor(spark, cfg, folder / "blank-bodies", settings=settings)

    assert status == cli.ALERT_STATUS
    alerts = {r["metric"]: r for r in spark.table(cfg.table("alerts")).where(F.col("batch") == batch).collect()}
    assert {"body_length_psi", "code_length_psi"} <= set(alerts)
    assert alerts["body_length_psi"]["value"] > 1 and alerts["body_length_psi"]["threshold"] == 0.25
    assert alerts["body_length_psi"]["model_version"] == 1
    assert alerts["body_length_psi"]["notified"] == "webhook: sent; sns: sent"
    [posted] = webhook.received
    assert posted["batch"] == batch and posted["database"] == cfg.database
    assert {a["metric"] for a in posted["alerts"]} == set(alerts)
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert {a["metric"] for a in json.loads(message["Body"])["alerts"]} == set(alerts)
    metrics = cloudwatch.list_metrics(Namespace="stacktags-test")["Metrics"]
    assert {"body_length_psi", "rows", "mean_top_score"} <= {m["MetricName"] for m in metrics}
    runs = spark.table(cfg.table("job_runs")).where("job = 'monitor'").orderBy(F.desc("started_at")).first()
    assert runs["status"] == "succeeded" and runs["details"]["cloudwatch"] == "cloudwatch: sent"
    assert webhook.url not in json.dumps(runs.asDict(), default=str)  # the secret is never recorded


def test_a_failing_webhook_is_retried_and_recorded_and_a_failing_put_never_fails_a_healthy_run(
    spark, monitored, webhook, caplog
):
    cfg, folder = monitored
    webhook.status = 500
    retry = ["monitor.notify_attempts=2", "monitor.notify_retry_seconds=0"]
    status, batch = score_and_monitor(spark, cfg, folder / "empty-text", settings=retry)
    assert status == cli.ALERT_STATUS and len(webhook.received) == 2  # tried twice
    alerts = spark.table(cfg.table("alerts")).where(F.col("batch") == batch).collect()
    assert {r["metric"] for r in alerts} >= {"empty_text_share", "body_length_psi"}
    assert all(r["notified"].startswith("webhook: failed after 2 attempts (HTTPError: HTTP Error 500") for r in alerts)
    assert "webhook: failed after 2 attempts" in caplog.text and webhook.url not in caplog.text
    found = figures(spark, cfg, batch)
    assert found["empty_text_share"]["value"] == 1.0 and "unweighted_share" not in found  # no term: no share

    # a healthy batch whose CloudWatch put fails (nothing listens there): exit 0, the failure recorded
    nowhere = ["monitor.cloudwatch_namespace=x", "aws.endpoint_url=http://127.0.0.1:9", "aws.region=us-east-1"]
    run("monitor", cfg, "--batch", held_back_batch(spark, cfg, folder), settings=[*retry, *nowhere])
    last = spark.table(cfg.table("job_runs")).where("job = 'monitor'").orderBy(F.desc("started_at")).first()
    assert last["status"] == "succeeded" and last["details"]["cloudwatch"].startswith("cloudwatch: failed after 2")


def test_nothing_to_compare_is_said_and_computes_nothing(spark, monitored, capsys):
    cfg, folder = monitored
    batch = held_back_batch(spark, cfg, folder)  # the predictions table exists also when this test runs alone
    capsys.readouterr()
    run("monitor", cfg, "--batch", "2001-01-01T00:00/2001-01-02T00:00")
    assert "no predictions in this batch: nothing to monitor" in capsys.readouterr().out
    run("monitor", cfg, "--batch", batch, "--model-version", "7")
    assert "was scored by model 1, not 7: nothing computed" in capsys.readouterr().out
    profile = Path(models_dir(cfg), "v1", PROFILE_FILE)
    kept = profile.read_text()
    profile.unlink()
    try:
        run("monitor", cfg, "--batch", batch)
        assert "model 1 has no reference profile (trained by an older stacktags)" in capsys.readouterr().out
    finally:
        profile.write_text(kept)


def test_the_dashboard_draws_every_batch_and_reads_in_a_real_browser(spark, monitored, tmp_path):
    """After the batches above: monitor.html beside the model reports (which link to it), drawn in headless
    Chromium; the screenshot is kept beside the page for a person to look at."""
    cfg, _ = monitored
    page = Path(dashboard_path(cfg))
    text = page.read_text()
    batches = spark.table(cfg.table("drift_metrics")).select("batch").distinct().count()
    assert f"{batches} scoring batches monitored" in text
    assert text.count("data:image/png;base64,") == 3  # drift, live quality, the tags that moved most
    assert "body_length_psi" in text.split("<h2>Newest alerts</h2>")[1].split("<h2>")[0]
    assert 'href="../monitor.html"' in Path(reports_dir(cfg), "v1", "report.html").read_text()

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian package chromium; .ci/run installs it)")
    shot = page.with_suffix(".png")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1400,2600", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (2600, 1400)

    def pixels_of(colour: str) -> int:
        rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        return int((abs(pixels - rgb) < 0.03).all(axis=2).sum())

    assert pixels_of(BATCH_COLOUR) > 2000 and pixels_of(ALERT_COLOUR) > 500  # the plots drawn, alerts marked


def test_a_predictions_table_of_an_older_stacktags_gains_the_new_columns_and_is_monitored_by_window(spark, monitored):
    """Last in the module: it replaces the database's predictions with a table of the older schema (no score_run,
    no text_stats), as a database scored before monitoring existed has."""
    cfg, folder = monitored
    table = cfg.table("predictions")
    old = spark.table(table).where(F.col("Id") < ID_OFFSET).drop("score_run", "text_stats").localCheckpoint()
    spark.sql(f"DROP TABLE {table}")
    old.write.format("delta").saveAsTable(table)
    with pytest.raises(BatchError, match="records no score runs"):
        monitor(spark, cfg)

    run("score", cfg, "--source", str(folder / "blank-bodies"))  # appends with the two new columns
    rows = spark.table(table)
    assert {"score_run", "text_stats"} <= set(rows.columns)
    assert rows.where(F.col("score_run").isNull()).count() == old.count()  # the older rows: null there
    window = "2000-01-01T00:00/2100-01-01T00:00"
    with pytest.raises(SystemExit):  # blank bodies: alerts (the figures are what this test checks)
        run("monitor", cfg, "--batch", window)
    found = figures(spark, cfg, window)
    assert found["rows"]["value"] == rows.count()
    assert "body_length_psi" in found  # from the rows that have text_stats
    assert found["empty_text_share"]["value"] == 0.0  # over those rows only: titles are there
