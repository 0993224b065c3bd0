# One image for every role (ingest, dashboard, simulator, check): `vitals <role>`.
# Slim base, no compilers (every dependency ships a wheel), runs as an unprivileged user.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so a code change does not reinstall them: install the package's declared
# dependencies from pyproject alone, then the code.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY vitals vitals
COPY ingest ingest
COPY dashboard dashboard
COPY simulators simulators
COPY notify notify
COPY bridges bridges
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --home-dir /data --no-create-home vitals \
 && mkdir /data && chown vitals:vitals /data

# /data is VITALS_DATA_DIR (dashboard logins; the embedded store when InfluxDB is not used).
# A named volume mounted here starts with this ownership.
ENV VITALS_DATA_DIR=/data HOME=/data
USER vitals
CMD ["vitals", "--help"]
