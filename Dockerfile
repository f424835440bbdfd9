# The hub's image: one image for the web process (`hub up`), the Celery worker (`hub worker`) and the
# scheduler (`hub beat`); docker-compose.yml picks the command. See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Dependencies and the package in one step: every wheel the hub needs (psycopg, nh3, pydantic-core...)
# is published for linux, so no compiler is installed. The sources are removed afterwards: the image runs
# the installed package only.
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY connectors ./connectors
COPY routing ./routing
COPY web ./web
COPY search ./search
RUN pip install . \
    && cd / && rm -rf /src
WORKDIR /

# An unprivileged user owns only the data folder (attachments, generated files). When compose mounts a
# fresh named volume at /data, Docker copies this ownership into the volume.
RUN groupadd --system --gid 10001 hub \
    && useradd --system --uid 10001 --gid hub --home-dir /home/hub --create-home --shell /usr/sbin/nologin hub \
    && mkdir -p /data \
    && chown hub:hub /data

ENV HUB_DATA_DIR=/data \
    HUB_HOST=0.0.0.0 \
    HUB_PORT=8000

USER hub
WORKDIR /home/hub
EXPOSE 8000

CMD ["hub", "up"]
