# syntax=docker/dockerfile:1
# carewatch: one image for the stream worker, the connectors and the one-shot commands.
#
#   docker build -t carewatch:0.1.0 .                  (the tag is pyproject's version)
#   docker run --rm carewatch:0.1.0 carewatch --help
#
# Stage 1 installs the pinned closure (constraints.txt) into a virtual environment;
# stage 2 copies only that environment onto a clean python:3.11-slim and runs as an
# unprivileged user. No compiler reaches the runtime image: every dependency here ships
# a manylinux wheel for CPython 3.11, and the pure-Python ones build without one.
# Pin the base by digest in production (python:3.11-slim@sha256:...), see docs/production.md.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/carewatch
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY streams/ streams/
COPY connectors/ connectors/
COPY dashboards/ dashboards/
COPY deploy/ deploy/
# The pip cache lives in a BuildKit cache mount: rebuilds after a code change reuse the
# downloaded wheels, and none of them ends up in a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/carewatch/bin/pip install --constraint constraints.txt '.[rocksdb]' \
    && /opt/carewatch/bin/pip check \
    && /opt/carewatch/bin/carewatch --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} carewatch \
    && useradd --system --uid ${UID} --gid carewatch --no-create-home \
       --home-dir /var/lib/carewatch --shell /usr/sbin/nologin carewatch \
    && mkdir -p /var/lib/carewatch \
    && chown ${UID}:${UID} /var/lib/carewatch
COPY --from=builder /opt/carewatch /opt/carewatch
# The example policy and topic rules, where the settings' relative defaults find them
# (deploy/policies.example.yaml from /app); compose and Kubernetes mount the real policy.
COPY deploy/*.example.yaml /app/deploy/
ENV PATH=/opt/carewatch/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAREWATCH_WEB_HOST=0.0.0.0 \
    CAREWATCH_WEB_PORT=6066 \
    CAREWATCH_DATA_DIR=/var/lib/carewatch/worker
WORKDIR /app
USER ${UID}:${UID}
EXPOSE 6066
# /health on the worker's web port; the connectors serve /health on their own port
# and override this check (deploy/compose/compose.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CAREWATCH_WEB_PORT', '6066') + '/health', timeout=4)"]
CMD ["carewatch", "worker"]
