"""A PostgreSQL server of this machine for the Hive metastore, so that several Spark processes share one warehouse (a
spark-sql shell while a job writes, two jobs on different tables): the embedded Derby metastore admits one.

    python -m stacktags.metastore start|stop|status --conf-file conf/local-postgres.toml   (scripts/metastore.sh)

It runs Debian's PostgreSQL (`apt-get install postgresql`; its binaries under /usr/lib/postgresql/<major>/bin) on a
data folder of the project ([metastore] data_dir), listening on [metastore] host and port only, with the metastore's
database and user ([metastore] database, user) made on the first start. Over TCP, the metastore's user (not a
superuser: it owns its database and nothing else) connects from this machine without a password, as every local
Spark process must; so any account of this machine may read and change the catalog (not the tables' files). Run it on
a machine of your own; a shared metastore belongs on a server with passwords. PostgreSQL refuses to run as root: run
as root, the server runs as the system's `postgres` user, which then owns the data folder.
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
SUPERUSER = "stacktags_admin"  # the server's superuser: through the Unix socket only


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
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise MetastoreError(f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
    return done.stdout


def settings(cfg: config.Config) -> dict:
    if cfg.get("catalog", "metastore") != "postgresql":
        raise MetastoreError(f'{cfg.path}: [catalog] metastore is not "postgresql": no server to run for it')
    config.metastore_names(cfg)  # names that may stand in SQL and a JDBC URL as they are
    keys = ("host", "port", "database", "user", "data_dir")
    return {key: cfg.require("metastore", key) for key in keys}


def start(cfg: config.Config) -> str:
    """Start the server (made on first use: over TCP only the metastore's user reaches its database; the superuser
    only connects through the server's Unix socket, in its data folder, which only the server's user may enter); make
    sure the metastore's user and database exist."""
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
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-E", "UTF8", "--no-instructions"]
        run(as_server_user([*initdb, "--auth-local=trust", "--auth-host=reject"]), "initdb")
        # TCP from this machine: the metastore's user to its database, no other
        rules = data / "pg_hba.conf"  # rewritten in place: its owner stays the server's user
        rules.write_text(f'host "{s["database"]}" "{s["user"]}" samehost trust\n' + rules.read_text())
    if not status(cfg).startswith("running"):
        options = f"-h {s['host']} -p {s['port']} -k {data.resolve()}"  # its Unix socket in its own folder
        log = data / "server.log"
        start_server = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
        done = subprocess.run(as_server_user(start_server), capture_output=True, text=True)
        if done.returncode != 0:
            lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
            reason = lines[-1] if lines else done.stderr.strip()
            raise MetastoreError(f"PostgreSQL did not start on {s['host']}:{s['port']}: {reason}")
    psql = [str(bin_dir / "psql"), "-h", str(data.resolve()), "-p", str(s["port"]), "-U", SUPERUSER, "-d", "postgres"]
    role, database = s["user"], s["database"]  # checked names (config.metastore_names)
    roles = run(as_server_user([*psql, "-tAc", f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"]), "psql")
    if not roles.strip():
        run(as_server_user([*psql, "-qc", f'CREATE ROLE "{role}" LOGIN']), "CREATE ROLE")
    databases = run(as_server_user([*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"]), "psql")
    if not databases.strip():
        run(as_server_user([*psql, "-qc", f'CREATE DATABASE "{database}" OWNER "{role}"']), "CREATE DATABASE")
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
    config.add_common_arguments(parser, default_conf=config.default_conf_file("local-postgres"))
    args = parser.parse_args(argv)
    cfg = config.from_arguments(args)
    print({"start": start, "stop": stop, "status": status}[args.action](cfg))


if __name__ == "__main__":
    cli.run(main)
