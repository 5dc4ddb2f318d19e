"""Resolve the project's Maven jars once (into Spark's Ivy cache) and bundle them for clusters without internet.

    python -m stacktags.jars resolve --conf-file conf/local.toml   # fast when already resolved
    python -m stacktags.jars bundle DIR --conf-file conf/local.toml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from stacktags import config


def _resolve_with_spark(packages: list[str], exclude: list[str]) -> list[str]:
    """Spark's own resolver, the one spark.jars.packages uses: a throwaway session reports the local jar paths."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("stacktags-resolve-jars")
             .config("spark.jars.packages", ",".join(packages)).config("spark.jars.excludes", ",".join(exclude))
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        jars = spark.sparkContext.getConf().get("spark.jars", "")
    finally:
        spark.stop()
    return [jar.removeprefix("file://").removeprefix("file:") for jar in jars.split(",") if jar]


def resolve(packages: list[str], exclude: list[str], record: Path) -> list[str]:
    """Local paths of the packages' jars and their dependencies, less `exclude` (group:artifact). `record` remembers
    the last resolution, so a rerun with the same settings and the jars still in the cache starts no JVM and needs no
    network."""
    if record.is_file():
        known = json.loads(record.read_text())
        if (known.get("packages") == packages and known.get("exclude", []) == exclude
                and all(Path(jar).is_file() for jar in known["jars"])):
            return known["jars"]
    jars = _resolve_with_spark(packages, exclude)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"packages": packages, "exclude": exclude, "jars": jars}, indent=1))
    return jars


def bundle(jars: list[str], dest: Path) -> Path:
    """Copy the jars into `dest` with a SHA256SUMS list (check it with `sha256sum -c SHA256SUMS` in that folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    sums = []
    for jar in jars:
        target = dest / Path(jar).name
        shutil.copy2(jar, target)
        sums.append(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {target.name}\n")
    (dest / "SHA256SUMS").write_text("".join(sums))
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stacktags.jars", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["resolve", "bundle"])
    parser.add_argument("dest", nargs="?", type=Path, help="with bundle: the folder to fill")
    parser.add_argument("--record", type=Path, default=Path("var/jars-resolved.json"),
                        help="where the last resolution is remembered (default: var/jars-resolved.json)")
    config.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.action == "bundle" and args.dest is None:
        parser.error("bundle needs a destination folder")
    cfg = config.from_arguments(args)
    jars = resolve(cfg.get("jars", "packages", []), cfg.get("jars", "exclude", []), args.record)
    if args.action == "resolve":
        print(f"{len(jars)} jars resolved for {', '.join(cfg.get('jars', 'packages', []))}")
        return
    dest = bundle(jars, args.dest)
    print(f"{len(jars)} jars copied to {dest}; on the cluster set [jars] dir = \"{dest}\" in the conf file")


if __name__ == "__main__":
    main()
