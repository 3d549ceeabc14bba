"""Scored files of embedded jobs, kept on disk (JOB_FILES_DIR) instead of in the API's memory,
within a total-bytes budget (JOB_FILES_MAX_BYTES); a file goes when its job expires."""

import logging
import os
import threading
import time
from pathlib import Path

from common.errors import ApiError
from common.jobs.types import FileResult

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60


class FilesFull(ApiError):
    """The disk budget for job files is used up (503; the caller retries later)."""

    status_code = 503
    code = "overloaded"


class FileStore:
    """One file per job, `<directory>/<job id>`; sizes are counted per process."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def _full(self, detail: str) -> FilesFull:
        return FilesFull(
            f"{detail}; retry later, when older job files have expired.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    def check_room(self, needed_bytes: int) -> None:
        """`FilesFull` (503, Retry-After) unless `needed_bytes` more fit in the budget; a new file job
        asks for its upload's size (its scored file is at least as large)."""
        used = self.used_bytes
        if used + needed_bytes > self.max_bytes:
            raise self._full(
                f"The space for job result files is full ({used} of {self.max_bytes} bytes in use)"
            )

    def put(self, job_id: str, file: FileResult) -> FileResult:
        """Write the file's content to disk; the returned result points at it and holds no content."""
        data = file.content.encode("utf-8")
        with self._lock:
            if sum(self._sizes.values()) + len(data) > self.max_bytes:
                raise self._full(
                    f"The scored file ({len(data)} bytes) does not fit in the space left for "
                    f"job result files (JOB_FILES_MAX_BYTES={self.max_bytes})"
                )
            self._sizes[job_id] = len(data)
        path = self.directory / job_id
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError:
            self.delete(job_id)
            raise
        return file.model_copy(update={"content": "", "path": str(path), "size": len(data)})

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._sizes.pop(job_id, None)
        (self.directory / job_id).unlink(missing_ok=True)

    def clear(self) -> None:
        for job_id in list(self._sizes):
            self.delete(job_id)

    def remove_older_than(self, seconds: float) -> None:
        """Delete files left by earlier processes that have outlived any job's result."""
        if not self.directory.is_dir():
            return
        cutoff = time.time() - seconds
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file() and entry.name not in self._sizes and entry.stat().st_mtime < cutoff:
                    Path(entry.path).unlink(missing_ok=True)
                    log.info("removed expired job file %s", entry.name)
