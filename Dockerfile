# voicepipe web and worker image. Servers (Redis/Valkey, PostgreSQL) come from docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VOICEPIPE_HOME=/data
RUN useradd --system --create-home --home-dir /app voicepipe && mkdir -p /data && chown voicepipe /data
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY voicepipe ./voicepipe
COPY templates ./templates
RUN pip install . && python -c "from voicepipe.audio.pipeline import warm_up; warm_up()"
USER voicepipe
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["voicepipe", "web", "--host", "0.0.0.0", "--port", "8000"]
