# The portal image used by docker-compose.yml (web, worker, beat share it).
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml ./
COPY scripts/requirements.py scripts/
RUN python scripts/requirements.py > /tmp/requirements.txt && pip install --no-cache-dir -r /tmp/requirements.txt
COPY . .
ENV DJANGO_SETTINGS_MODULE=clm.settings PYTHONUNBUFFERED=1
