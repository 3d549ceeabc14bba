"""`python -m api_app.worker`: run model jobs from the Redis queue (JOB_BACKEND=redis).

Loads the data the selected models need (MODEL_SERVICE) once and runs their WARMUP and COMPUTE_WARMUP
(library imports, catalogues), then runs WORKER_CONCURRENCY rq workers that fork a work horse per job, so every job
shares the loaded data and imported libraries; what a job builds
that others can reuse (twolvlImp's imputed matrices) goes to Redis (common.shared_store). SIGTERM is a warm
shutdown: running jobs finish, then the process exits (give pods a termination grace period longer
than a job; a job cut short by SIGKILL is re-queued after WORKER_RECOVERY_SECONDS). Every worker
process keeps a heartbeat file for the liveness probe (`python -m common.heartbeat`).
Logs follow LOG_FORMAT; with OTEL_EXPORTER_OTLP_ENDPOINT each job continues the trace of the request
that queued it.
"""

import argparse
import logging
import sys

from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from api_app.discovery import Discovery, discover
from common.jobs.redis_queue import RecoveringWorker, connect
from common.jobs.task import data_for, preload
from common.settings import Settings, get_settings
from common.shared_store import RedisBlobStore
from common.shared_store import configure as configure_shared_store
from common.telemetry import build_tracer_provider, configure_logging, install, uninstall
from shared_dataloader import DatasetError

log = logging.getLogger("api_app.worker")


def worker_class(settings: Settings) -> type[RecoveringWorker]:
    return type(
        "SidsWorker",
        (RecoveringWorker,),
        {
            "recovery_seconds": settings.worker_recovery_seconds,
            "heartbeat_dir": settings.worker_heartbeat_dir,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api_app.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    tracing = build_tracer_provider(settings, "sids-worker")
    install(tracing)
    try:
        return _serve(settings, args.burst)
    finally:
        if tracing is not None:
            uninstall(tracing)


def _warm_up(discovery: Discovery) -> None:
    """Run each model's WARMUP and COMPUTE_WARMUP (its library imports, catalogues) once, before any
    work horse is forked, so every job starts with them in place instead of paying for them again."""
    for package in discovery.mounted:
        resources = {name: data_for(name) for name in package.required_resources}
        package.warm_up("warm-up", resources, otherwise="its jobs run without it")
        package.warm_up("compute warm-up", resources, otherwise="its jobs run without it")


def _serve(settings: Settings, burst: bool) -> int:
    discovery = discover(settings.model_service)
    for package in discovery.packages:
        if package.error:
            log.error("model %s is left out: %s", package.name, package.error)
    needed = sorted({name for p in discovery.mounted for name in p.required_resources})
    try:
        preload(needed, settings)
    except DatasetError as exc:
        log.error("cannot start: the data failed to load: %s", exc)
        return 1
    _warm_up(discovery)

    connection = connect(settings.effective_redis_url)
    configure_shared_store(RedisBlobStore(connection, settings.cache_ttl_seconds))
    cls = worker_class(settings)
    log.info(
        "worker on queue %s (concurrency %d, models: %s)",
        settings.job_queue,
        settings.worker_concurrency,
        ", ".join(p.name for p in discovery.mounted),
    )
    if settings.worker_concurrency == 1:
        cls([settings.job_queue], connection=connection).work(burst=burst, logging_level=settings.log_level)
    else:
        WorkerPool(
            [settings.job_queue],
            connection=connection,
            num_workers=settings.worker_concurrency,
            worker_class=cls,
            serializer=JSONSerializer,
        ).start(burst=burst, logging_level=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
