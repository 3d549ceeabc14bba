"""The audit writer: records are queued in memory and written in batches by a background thread, never on
the request path. When the database cannot be written, a batch is appended to a local spool file (JSON
lines, shared by the processes of one host under a file lock) and replayed once the database answers.

The thread also brings the database to the current schema (retrying until it can) and prunes records
older than AUDIT_RETENTION_DAYS.
"""

import fcntl
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO, TypedDict, Unpack, cast

from sqlalchemy import Engine, delete, insert

from api_app.database.tables import audit_events

log = logging.getLogger(__name__)
BATCH_MAX = 500
PRUNE_EVERY_SECONDS = 6 * 3600
COLUMNS = {c.name for c in audit_events.columns} - {"id"}


class AuditFields(TypedDict, total=False):
    """One audit record: the columns of `audit_events` but its id (`at` defaults to now)."""

    at: datetime
    event: str
    caller: str
    caller_kind: str
    scope: str | None
    model: str | None
    version: str | None
    method: str | None
    route: str | None
    request_id: str | None
    client: str | None
    body_hash: str | None
    body: str | None
    status: int | None
    duration_ms: float | None
    job_id: str | None
    result_summary: str | None
    detail: str | None


def _encode(record: AuditFields) -> str:
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()})


def _decode(line: str) -> AuditFields:
    fields = json.loads(line)
    fields["at"] = datetime.fromisoformat(fields["at"])
    record: AuditFields = fields
    return record


class AuditWriter:
    def __init__(
        self,
        engine: Engine,
        spool_path: Path,
        flush_seconds: float,
        retention_days: int,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.spool_path = spool_path
        self.flush_seconds = flush_seconds
        self.retention_days = retention_days
        self.prepare = prepare
        self.prepared = prepare is None
        self._pending: deque[AuditFields] = deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0
        self.written = 0
        self.spooled = 0

    def record(self, **fields: Unpack[AuditFields]) -> None:
        """Queue one record (never raises, never blocks on I/O)."""
        fields.setdefault("at", datetime.now(UTC))
        # Callers reach the writer through `app.state` (untyped): keys that are not columns are dropped.
        self._pending.append(cast(AuditFields, {k: v for k, v in fields.items() if k in COLUMNS}))
        if len(self._pending) >= BATCH_MAX:
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
                self._prune_when_due()
            except Exception:
                log.exception("audit writer cycle failed; it goes on")

    def flush(self) -> None:
        """Write everything queued now (to the database, else to the spool); replay the spool when the
        database answers. Safe to call from any thread (the Azure Function calls it per invocation)."""
        with self._write_lock:
            batch: list[AuditFields] = []
            while self._pending:
                batch.append(self._pending.popleft())
            if not self._ready():
                self._spool(batch)
                return
            try:
                self._replay()
                while batch:
                    chunk = batch[:BATCH_MAX]
                    self._insert(chunk)
                    del batch[:BATCH_MAX]
                    self.written += len(chunk)
            except Exception as exc:
                log.warning(
                    "audit database unavailable (%s); %d records spooled to %s",
                    type(exc).__name__,
                    len(batch),
                    self.spool_path,
                )
                self._spool(batch)

    def _ready(self) -> bool:
        if self.prepared or self.prepare is None:
            return True
        try:
            self.prepare()
            self.prepared = True
        except Exception as exc:
            log.warning("audit database not ready (%s: %s)", type(exc).__name__, exc)
        return self.prepared

    def _insert(self, rows: list[AuditFields]) -> None:
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(audit_events), rows)

    @contextmanager
    def _locked_spool(self) -> Iterator[TextIO]:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spool_path, "a+", encoding="utf-8") as spool:
            fcntl.flock(spool, fcntl.LOCK_EX)
            try:
                yield spool
            finally:
                fcntl.flock(spool, fcntl.LOCK_UN)

    def _spool(self, batch: list[AuditFields]) -> None:
        if not batch:
            return
        try:
            with self._locked_spool() as spool:
                spool.write("".join(_encode(r) + "\n" for r in batch))
                spool.flush()
            self.spooled += len(batch)
        except OSError as exc:
            log.error(
                "audit spool %s unwritable (%s); %d records kept in memory", self.spool_path, exc, len(batch)
            )
            self._pending.extendleft(reversed(batch))

    def _replay(self) -> None:
        if not self.spool_path.exists() or self.spool_path.stat().st_size == 0:
            return
        with self._locked_spool() as spool:
            spool.seek(0)
            rows = [_decode(line) for line in spool if line.strip()]
            with self.engine.begin() as connection:
                for start in range(0, len(rows), BATCH_MAX):
                    connection.execute(insert(audit_events), rows[start : start + BATCH_MAX])
            spool.truncate(0)
        self.written += len(rows)
        log.info("replayed %d spooled audit records", len(rows))

    def prune(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        with self.engine.begin() as connection:
            return connection.execute(delete(audit_events).where(audit_events.c.at < cutoff)).rowcount

    def _prune_when_due(self) -> None:
        if self.prepared and time.monotonic() - self._pruned_at > PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            try:
                removed = self.prune()
                if removed:
                    log.info("pruned %d audit records older than %d days", removed, self.retention_days)
            except Exception as exc:
                log.warning("audit pruning failed: %s", exc)
