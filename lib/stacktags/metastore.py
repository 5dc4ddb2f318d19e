"""A PostgreSQL server of this machine for the Hive metastore, so that several Spark processes share one warehouse (a
spark-sql shell while a job writes, two jobs on different tables): the embedded Derby metastore admits one.

    python -m stacktags.metastore start|stop|status --conf-file conf/local-postgres.toml   (scripts/metastore.sh)

It runs Debian's PostgreSQL (`apt-get install postgresql`; its binaries under /usr/lib/postgresql/<major>/bin) on a
data folder of the project ([metastore] data_dir), listening on [metastore] host and port only, with the metastore's
database and user ([metastore] database, user) made on the first start. Connections from this machine are trusted
(no password), as the embedded Derby metastore is open to whoever reads its folder. PostgreSQL refuses to run as
root: run as root, the server runs as the system's `postgres` user, which then owns the data folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from stacktags import cli, config
from stacktags.errors import UserError

POSTGRES_HOMES = "/usr/lib/postgresql"
SERVER_USER = "postgres"  # the system user a server started by root runs as


class MetastoreError(UserError):
    """The server cannot be started or reached: no PostgreSQL installed, a port taken, a data folder of another."""


def server_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian's layout)."""
    homes = sorted(Path(POSTGRES_HOMES).glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name), reverse=True)
    if not homes:
        raise MetastoreError(f"no PostgreSQL server in {POSTGRES_HOMES}: apt-get install postgresql")
    return homes[0].parent


def as_server_user(command: list[str]) -> list[str]:
    """The command as the user the server runs as: this one, or `postgres` for root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise MetastoreError("running as root needs runuser (util-linux) to start PostgreSQL as its own user")
    return ["runuser", "-u", SERVER_USER, "--", *command]


def run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise MetastoreError(f"{what} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return done.stdout


def settings(cfg: config.Config) -> dict:
    if cfg.get("catalog", "metastore") != "postgresql":
        raise MetastoreError(f'{cfg.path}: [catalog] metastore is not "postgresql": no server to run for it')
    return {key: cfg.require("metastore", key) for key in ("host", "port", "database", "user", "data_dir")}


def start(cfg: config.Config) -> str:
    s = settings(cfg)
    bin_dir, data = server_bin(), Path(s["data_dir"])
    if not (data / "PG_VERSION").is_file():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, SERVER_USER, SERVER_USER)
            if subprocess.run(as_server_user(["test", "-w", str(data)])).returncode != 0:
                raise MetastoreError(
                    f"PostgreSQL runs as the {SERVER_USER} user here (root may not run it), and that user cannot "
                    f"reach {data}: set [metastore] data_dir to a folder it can reach (/var/tmp/stacktags-metastore)"
                )
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", s["user"], "--auth=trust", "-E", "UTF8"]
        run(as_server_user([*initdb, "--no-instructions"]), "initdb")
    if status(cfg).startswith("running"):
        return status(cfg)
    options = f"-h {s['host']} -p {s['port']} -k {data.resolve()}"  # its Unix socket in its own folder
    start_server = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-o", options, "-w"]
    done = subprocess.run(as_server_user([*start_server, "start"]), capture_output=True, text=True)
    if done.returncode != 0:
        log = (data / "server.log").read_text(errors="replace").strip().splitlines()
        raise MetastoreError(f"PostgreSQL did not start on {s['host']}:{s['port']}: {log[-1] if log else done.stderr}")
    psql = [str(bin_dir / "psql"), "-h", s["host"], "-p", str(s["port"]), "-U", s["user"], "-d", "postgres", "-tAc"]
    exists = run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{s['database']}'"], "psql")
    if not exists.strip():
        run([*psql, f'CREATE DATABASE "{s["database"]}"'], "CREATE DATABASE")
    return status(cfg)


def stop(cfg: config.Config) -> str:
    s = settings(cfg)
    data = Path(s["data_dir"])
    if status(cfg).startswith("running"):
        run(as_server_user([str(server_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]), "pg_ctl stop")
    return status(cfg)


def status(cfg: config.Config) -> str:
    s = settings(cfg)
    data = Path(s["data_dir"])
    if not (data / "PG_VERSION").is_file():
        return f"not made: no server in {data} yet (scripts/metastore.sh start)"
    done = subprocess.run(
        as_server_user([str(server_bin() / "pg_ctl"), "-D", str(data), "status"]), capture_output=True, text=True
    )
    where = f"{s['host']}:{s['port']}, database {s['database']}, user {s['user']}, data {data}"
    return f"running on {where}" if done.returncode == 0 else f"stopped ({where})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop", "status"))
    config.add_common_arguments(parser, default_conf="conf/local-postgres.toml")
    args = parser.parse_args(argv)
    cfg = config.from_arguments(args)
    print({"start": start, "stop": stop, "status": status}[args.action](cfg))


if __name__ == "__main__":
    cli.run(main)
