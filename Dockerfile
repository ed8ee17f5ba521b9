# The latency estimator's gRPC server.
#   docker build -t nas-latency-estimator .
#   docker run -p 50051:50051 -v latency-data:/data \
#       -v /path/to/help-nasbench201:/dataset:ro -e LATENCY_DATASET=/dataset nas-latency-estimator
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LATENCY_ADDRESS=0.0.0.0:50051 \
    LATENCY_STORE=/data/store.sqlite

RUN groupadd --system latency && useradd --system --gid latency --home-dir /app latency

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY gp ./gp
COPY service ./service
COPY client ./client
# To keep the image small, point pip at a CPU-only torch index with PIP_EXTRA_INDEX_URL.
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install . \
    && mkdir -p /data && chown latency:latency /data

USER latency
VOLUME ["/data"]
EXPOSE 50051

# SERVING only once the model is fitted or loaded; a first start may import and fit for minutes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-m", "service", "health", "--address", "127.0.0.1:50051"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
