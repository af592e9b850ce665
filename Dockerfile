# englog: one image for the server and the workers (compose.yaml runs both).
# Stage 1 builds the wheel; stage 2 installs it alone (runtime dependencies only) and
# runs as an unprivileged user. Build: docker build -t englog .

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.*
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --system --create-home --home-dir /home/englog --uid 10001 englog \
    && mkdir -p /data /certs && chown englog:englog /data /certs
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER englog
WORKDIR /data
ENV PYTHONUNBUFFERED=1 \
    ENGLOG_HTTP_LISTEN=0.0.0.0:8080 \
    ENGLOG_GRPC_LISTEN=0.0.0.0:50051 \
    ENGLOG_DB=sqlite:////data/englog.db \
    ENGLOG_HEALTH_URL=http://127.0.0.1:8080/health
EXPOSE 8080 50051 9100
# The server's /health by default; a worker sets ENGLOG_HEALTH_URL to its --health-listen.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['ENGLOG_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["englog"]
CMD ["server"]
