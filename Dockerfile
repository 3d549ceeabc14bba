# SIDS ML Backend: one image for the main API, every split-out model service and the queue workers.
#   docker build -t sids-ml-backend:$(git rev-parse --short HEAD) .
#   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp sids-ml-backend:<tag>
#   queue worker: docker run ... sids-ml-backend:<tag> python -m api_app.worker
# Config is by environment variables only (see README); the image's defaults serve the bundled
# dataset with nothing else (one process, jobs in process); production settings come from the
# manifests. PYTHON_IMAGE: any Debian-based Python 3.11 with venv (CI builds on a local base).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
#checkov:skip=CKV_DOCKER_7:The base is the build argument PYTHON_IMAGE, whose default python:3.11-slim-bookworm carries a version tag; CI passes a locally built base.

# ---- build stage: dependencies first, so code changes reuse the install layer ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
# binutils only for `strip` (this stage is thrown away).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
# An optional build secret "ca" is the CA bundle pip trusts (builds behind a TLS-inspecting egress:
# docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt ...). Then what the runtime
# never reads goes: pip and setuptools, the packages' test suites, type stubs, C/C++/Cython sources,
# headers, build templates and static libraries, byte-code (made below for what the service imports)
# and debug symbols (the *.libs folders are left as auditwheel patched them). Unused parts of large
# wheels go too: onnxruntime's C API library libonnxruntime.so (for native programs; the Python
# binding onnxruntime_pybind11_state.so is self-contained and never loads it) and its
# transformers/quantization/tools (offline model-conversion scripts), onnx's backend test cases,
# and scikit-learn's sample datasets (numpy's f2py and distutils stay: scipy's array API layer lists
# every numpy attribute). psycopg-binary goes too
# (10 MB: its own libpq, OpenSSL, Kerberos, LDAP): psycopg runs on Debian's libpq5 (runtime stage).
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip uninstall --yes --quiet psycopg-binary pip setuptools \
    && cd /opt/venv/lib/python3.11/site-packages \
    && find /opt/venv -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
    && find /opt/venv -type f \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' -o -name '*.pxi' \
       -o -name '*.tp' -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \
       -o -name '*.proto' -o -name '*.a' \) -delete \
    && rm -rf onnxruntime/capi/libonnxruntime.so.* onnxruntime/transformers onnxruntime/quantization \
       onnxruntime/tools onnx/backend/test \
       sklearn/datasets/data sklearn/datasets/descr sklearn/datasets/images \
    && find /opt/venv -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {} +
# Byte-code for every library module that starting the API (all models) and the queue worker
# imports, and the libraries the models compute with (so a removal above that breaks one fails the
# build), shipped in place of those modules' sources (the root filesystem is read-only at run
# time, so nothing would be cached there; sources and byte-code of both would not fit the image
# budget). The app's own code keeps its sources (runtime stage).
COPY . /app
WORKDIR /app
# The derived forms of the bundled model store's skops artifacts (read-only at run time). The
# dataset's binary form (32 MB) is left to DATA_CACHE_DIR at the first start: in the image it would
# break the 450 MB budget (shared_dataloader/data_cache.py).
RUN python -m shared_dataloader.data_cache --artifacts-only
RUN env -u PYTHONDONTWRITEBYTECODE python -c \
       "import api_app.worker, api_app.healthcheck; from api_app.factory import create_app; create_app()" \
    && env -u PYTHONDONTWRITEBYTECODE python -c "import kmodes.kmodes, kmodes.kprototypes, onnx.checker, \
       onnxruntime, scipy.interpolate, scipy.stats, skops.io, sklearn.cluster, sklearn.compose, \
       sklearn.decomposition, sklearn.ensemble, sklearn.experimental.enable_iterative_imputer, \
       sklearn.feature_extraction.text, sklearn.impute, sklearn.linear_model, sklearn.metrics, \
       sklearn.model_selection, sklearn.pipeline, sklearn.preprocessing" \
    && python -c "import pathlib; [(p.replace(p.parent.parent / (p.name.split('.')[0] + '.pyc')), (p.parent.parent / (p.name.split('.')[0] + '.py')).unlink(missing_ok=True)) for p in list(pathlib.Path('/opt/venv').rglob('__pycache__/*.cpython-311.pyc'))]"

# ---- runtime stage ---------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=1 \
    GRACEFUL_SHUTDOWN_SECONDS=330
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
# Debian's libpq for psycopg (its pure-Python implementation; the system OpenSSL and Kerberos are shared).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libpq5 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code after dependencies; files stay owned by root, so the app user cannot modify them.
# .dockerignore keeps tests, deployment files, git, caches and training data out.
COPY . /app
COPY --from=build /app/.data-cache /app/.data-cache
RUN python -m compileall -q -j 0 /app
USER 10001:10001
# A writable /tmp even under --read-only when nothing is mounted there (Kubernetes mounts an emptyDir).
VOLUME ["/tmp"]
EXPOSE 8000
# One check for both roles: a queue worker by its heartbeat file, the server by GET /health/live.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "api_app.healthcheck"]
# exec: uvicorn is PID 1 and receives SIGTERM: it stops accepting, then lets requests in flight finish
# for up to GRACEFUL_SHUTDOWN_SECONDS (longer than COMPUTE_TIMEOUT_SECONDS; the settings check it).
CMD ["sh", "-c", "exec uvicorn api_app:app --host \"${HOST}\" --port \"${PORT}\" --workers \"${WEB_CONCURRENCY}\" --loop uvloop --http api_app.server:GuardedHttpToolsProtocol --proxy-headers --forwarded-allow-ips \"${TRUSTED_PROXIES:-127.0.0.1}\" --timeout-graceful-shutdown \"${GRACEFUL_SHUTDOWN_SECONDS}\" --no-server-header"]
