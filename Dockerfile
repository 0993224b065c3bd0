# One image for every role (ingest, dashboard, simulator): `vitals <role>`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vitals vitals
COPY ingest ingest
COPY dashboard dashboard
COPY simulators simulators
RUN pip install . && useradd --system --uid 10001 vitals
USER vitals
ENTRYPOINT []
CMD ["vitals", "--help"]
