# newsbot: one image for `newsbot run`, `newsbot ingest` and the other commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . && useradd --create-home --uid 10001 newsbot && mkdir -p /app/var && chown newsbot /app/var

COPY config ./config
COPY examples ./examples
USER newsbot

# The SQLite file lives in /app/var: mount a volume there (docker-compose.yml does).
VOLUME ["/app/var"]
ENTRYPOINT ["newsbot"]
CMD ["run"]
