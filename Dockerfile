# mockrouter in a container (README: "Run it for a whole team").
#
#   docker build -t mockrouter .
#   docker run --rm -p 8080:8080 -e MOCKROUTER_ADMIN_TOKEN="$(openssl rand -hex 16)" mockrouter
#
# Configured by environment variables only: every `mockrouter serve` flag reads MOCKROUTER_<FLAG>
# (MOCKROUTER_STORE, MOCKROUTER_WORKERS, MOCKROUTER_ADMIN_TOKEN, MOCKROUTER_SCENARIOS, ...; see
# `docker run --rm mockrouter --help`). The image listens on 0.0.0.0:8080, so the admin API
# answers only with MOCKROUTER_ADMIN_TOKEN set (the health check sends it).
# tests/test_deploy.py reads this file: it runs the ENTRYPOINT with the ENV below and then the
# HEALTHCHECK's command, as a container engine would.

# Any Debian-based Python >= 3.11 image (a registry mirror's copy, say): --build-arg PYTHON_IMAGE=...
ARG PYTHON_IMAGE=python:3.12-slim

# -- build: the package and its dependencies, from the build context, in a venv ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# only what the wheel is made of (pyproject.toml force-includes schemas/ and scenarios/)
COPY pyproject.toml README.md ./
COPY mockrouter/ mockrouter/
COPY schemas/ schemas/
COPY scenarios/ scenarios/
# no dev extras; pip is removed once it has done its work
RUN python3 -m venv /opt/mockrouter \
    && /opt/mockrouter/bin/pip install --no-cache-dir . \
    && /opt/mockrouter/bin/pip uninstall --yes --quiet pip

# -- run: the base image, the venv and an unprivileged user -----------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 mockrouter \
    && useradd --system --uid 10001 --gid mockrouter --home-dir /data --no-create-home --shell /usr/sbin/nologin \
        mockrouter \
    && install -d -o 10001 -g 10001 /data
COPY --from=build /opt/mockrouter /opt/mockrouter
ENV PATH=/opt/mockrouter/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MOCKROUTER_HOST=0.0.0.0 \
    MOCKROUTER_PORT=8080
# writable by the server: `--mode record` writes its recordings to ./recordings
WORKDIR /data
USER 10001:10001
EXPOSE 8080
# 200 from the admin API's health: the server answers and its store (Redis) is reachable (503 if
# not). urllib, as the slim image has no curl; the token is sent only when set.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; t = os.environ.get('MOCKROUTER_ADMIN_TOKEN'); r.urlopen(r.Request('http://127.0.0.1:' + os.environ.get('MOCKROUTER_PORT', '8080') + '/__mockrouter/health', headers={'X-Mockrouter-Admin-Token': t} if t else {}), timeout=4)"]
# SIGTERM (docker stop) ends open streams and exits 0
ENTRYPOINT ["mockrouter", "serve"]
