"""Nothing is lost when the database goes away: with a private PostgreSQL server (initdb/pg_ctl on a free
port) stopped mid-run, requests keep being answered, records go to the spool file, and once the server is
back every record is in the database exactly once."""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from api_app.database import audit_events
from helpers.app import running_app
from helpers.servers import free_port

SAMPLE = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (run as the `postgres` user when the tests run as root)."""

    def __init__(self, folder: Path) -> None:
        self.bin = postgres_bin()
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120
        )

    def init(self) -> None:
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def private_postgres():
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    folder = Path(
        tempfile.mkdtemp(prefix="sids-pg-")
    )  # outside pytest's root-only folder: the server user enters
    server = PrivatePostgres(folder)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def request_ids(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [
                r[0]
                for r in connection.execute(
                    select(audit_events.c.request_id).where(audit_events.c.request_id.like("outage-%"))
                )
            ]
    finally:
        engine.dispose()


def test_records_survive_a_database_outage(private_postgres, tmp_path):
    with running_app(
        model_service=("sampleapi",),
        auth_mode="on",
        database_url=private_postgres.url,
        state_dir=tmp_path,
        audit_flush_seconds=0.2,
    ) as client:
        writer = client.app.state.audit

        def call(n: int) -> None:
            answer = client.post(
                "/sampleapi/predict",
                json={**SAMPLE, "year": str(2000 + n)},
                headers={"X-Request-ID": f"outage-{n}"},
            )
            assert answer.status_code == 200, answer.text

        for n in range(4):
            call(n)
        writer.flush()
        assert sorted(request_ids(private_postgres.url)) == [f"outage-{n}" for n in range(4)]

        private_postgres.stop()
        for n in range(4, 10):
            call(n)
        assert client.get("/health/ready").status_code == 200
        deadline = time.monotonic() + 30
        while writer.spooled < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        spool = tmp_path / "audit-spool.jsonl"
        assert writer.spooled >= 6 and len(spool.read_text().splitlines()) >= 6

        private_postgres.start()
        deadline = time.monotonic() + 60
        while len(request_ids(private_postgres.url)) < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(request_ids(private_postgres.url)) == sorted(f"outage-{n}" for n in range(10))
        assert spool.read_text() == ""
