# The OpsLens agent: `opslens run` on a slim Python image, as a non-root user.
# Build from the repository root (compose/docker-compose.yml does: context "..").
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the package needs: tests, generated files and secrets stay out (.dockerignore).
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY exporters ./exporters
RUN /opt/venv/bin/pip install .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPSLENS_HEALTH_URL=http://127.0.0.1:10470/-/healthy
# A fixed uid so compose (user: 10001) and Kubernetes (runAsUser) match file ownership.
# git: the `git` DORA source reads deploy tags from a repository mounted into the container.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 opslens \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin opslens \
    && mkdir -p /etc/opslens /var/lib/opslens \
    && chown opslens:opslens /var/lib/opslens
COPY --from=build /opt/venv /opt/venv
# A fresh named volume copies this folder's ownership, so the agent can write its SQLite store.
VOLUME ["/var/lib/opslens"]
USER 10001:10001
# Relative source paths in opslens.yaml resolve against its folder (/etc/opslens).
WORKDIR /etc/opslens
EXPOSE 10470
# No curl in a slim image: the interpreter is the HTTP client. Any error (refused, non-2xx,
# timeout) raises and exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['OPSLENS_HEALTH_URL'], timeout=3)"]
ENTRYPOINT ["opslens"]
CMD ["run", "all", "-c", "/etc/opslens/opslens.yaml", "--listen", "0.0.0.0:10470", "--data-dir", "/var/lib/opslens"]
