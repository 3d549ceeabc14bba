# syntax=docker/dockerfile:1
# SIDS ML Backend: one image for the main API and every split-out model service.
#   docker build -t sids-ml-backend:$(git rev-parse --short HEAD) .
#   docker run -p 8000:8000 -e WEB_CONCURRENCY=2 sids-ml-backend:<tag>
# Config is by environment variables only (see README); the embedded default dataset
# is used unless DATASET_PATH points at a mounted one.

# ---- build stage: dependencies only, so code changes reuse this layer ----------
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# ---- runtime stage ---------------------------------------------------------------
FROM python:3.11.13-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    ENVIRONMENT=production
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code after dependencies; files stay owned by root, so the app user cannot modify them.
# .dockerignore keeps tests, deployment files, git and caches out.
COPY . /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), timeout=4)"]
# exec: uvicorn is PID 1 and receives SIGTERM for a graceful shutdown.
CMD ["sh", "-c", "exec uvicorn api_app:app --host 0.0.0.0 --port \"${PORT}\" --workers \"${WEB_CONCURRENCY}\" --loop uvloop --http httptools --proxy-headers --forwarded-allow-ips \"${TRUSTED_PROXIES:-127.0.0.1}\" --timeout-graceful-shutdown 30 --no-server-header"]
