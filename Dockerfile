# The latency estimator's gRPC server.
#   docker build -t nas-latency-estimator .
#   docker run -p 50051:50051 -v latency-data:/data \
#       -v /path/to/help-nasbench201:/dataset:ro -e LATENCY_DATASET=/dataset nas-latency-estimator
FROM python:3.11-slim

# PYTHONSAFEPATH: `python -m` puts no folder of its own first on sys.path, so the installed
# package is what runs, whatever the working folder holds.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1 \
    PIP_NO_CACHE_DIR=1 \
    LATENCY_ADDRESS=0.0.0.0:50051 \
    LATENCY_STORE=/data/store.sqlite

RUN groupadd --system latency && useradd --system --gid latency --home-dir /data latency

# Built from a copy that is removed afterwards: the image ran the copied source folders (first
# on sys.path under `python -m` from their folder), not the wheel pip installed from them, and
# kept pip's build/ and *.egg-info beside them (a review, 2026-12-06).
WORKDIR /src
COPY pyproject.toml README.md MANIFEST.in ./
COPY proto ./proto
COPY gp ./gp
COPY service ./service
COPY client ./client
# To keep the image small, point pip at a CPU-only torch index with PIP_EXTRA_INDEX_URL.
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install '.[server]' \
    && cd / && rm -rf /src \
    && mkdir -p /data && chown latency:latency /data

WORKDIR /data
USER latency
VOLUME ["/data"]
EXPOSE 50051

# SERVING only once the model is fitted or loaded; a first start may import and fit for minutes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-m", "service", "health", "--address", "127.0.0.1:50051"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
