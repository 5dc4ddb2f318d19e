"""The pipeline with its warehouse on S3 (s3a://, conf/local-s3.toml) beside the same pipeline on the local disk.

    scripts/bench-s3.sh [--corpus data/sample] [--record]

Starts a moto server on 127.0.0.1 (a free port) as the S3 endpoint, with credentials for it alone, and runs
`scripts/submit.sh pipeline --source CORPUS` once per target (local, then local-s3), each from a fresh warehouse,
timed from launch to exit like benchmarks.bench's stages. moto keeps its objects in memory on this machine: the
figures measure the connector's and the committers' overhead, not a network's. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from benchmarks.bench import RUNS_LOG, invocation, machine_probe_seconds, publish, run_measured

REGION = "us-east-1"
WAREHOUSES = {"local": "local disk", "local-s3": "s3a:// on moto, 127.0.0.1"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench-s3.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="the project folder")
    parser.add_argument("--corpus", type=Path, default=Path("data/sample"), help="a StackSample-format folder")
    parser.add_argument("--work", type=Path, help="scratch folder for warehouses and logs (default var/bench-s3)")
    parser.add_argument(
        "--record", type=Path, nargs="?", const=RUNS_LOG, help="append the run to this JSON-lines log (runs.jsonl)"
    )
    parser.add_argument("--note", default="", help="a line to record with the results")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    work = (args.work or root / "var" / "bench-s3").resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus = args.corpus.resolve()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        secret = uuid.uuid4().hex  # this server's alone
        os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": REGION})
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            os.environ.pop(name, None)
        boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(Bucket="bench")
        targets = {
            "local": ["--warehouse", str(work / "warehouse")],
            "local-s3": [
                "--warehouse",
                "s3a://bench/warehouse",
                f"--set=catalog.metastore_dir={work / 'metastore-s3'}",
                f"--set=spark.spark.hadoop.fs.s3a.endpoint={endpoint}",
                "--set=spark.spark.hadoop.fs.s3a.path.style.access=true",
            ],
        }
        rows = []
        for target, options in targets.items():
            command = [str(root / "scripts" / "submit.sh"), "pipeline", "--target", target, "--source", str(corpus)]
            probe = machine_probe_seconds()
            print(f"[bench-s3] {target} (probe {probe:.2f} s)", file=sys.stderr, flush=True)
            wall, peak_jvm, _, _ = run_measured([*command, *options], work / f"{target}.log")
            rows.append(
                {
                    "target": target,
                    "warehouse": options[1],
                    "wall_seconds": wall,
                    "peak_jvm_mb": peak_jvm,
                    "probe_seconds": probe,
                }
            )
    finally:
        server.stop()
    local = rows[0]["wall_seconds"]
    body = "\n".join(
        [
            "| target | warehouse | pipeline wall s | vs local | peak driver JVM MB | probe s |",
            "|---|---|---:|---:|---:|---:|",
            *[
                f"| {r['target']} | {WAREHOUSES[r['target']]} | {r['wall_seconds']:.1f} "
                f"| {r['wall_seconds'] / local:.2f}x | {r['peak_jvm_mb']:,.0f} | {r['probe_seconds']:.2f} |"
                for r in rows
            ],
        ]
    )
    command = invocation("scripts/bench-s3.sh", argv, root)
    heading = f"pipeline on {corpus.name}: local and s3a:// (moto)"
    publish(heading, command, [], args.note, body, args.record, rows, root)


if __name__ == "__main__":
    main()
