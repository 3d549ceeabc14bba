"""The progress callback a model function may take (`fn(body, resource, progress=None)`)."""

from collections.abc import Callable

Progress = Callable[..., None]
"""`progress(stage, fraction, done=None, total=None)`: `stage` says what the computation is doing now
(e.g. `"training"`), `fraction` the share of the work done (0..1); `done`/`total` count units of work
(e.g. rows scored) when known. Inside a job that was cancelled the call raises `common.jobs.Cancelled`,
which stops the computation."""
