# The hub's one image: `hub serve`, `hub worker` and `hub scheduler` all run from it;
# docker-compose.yml picks the command. Build alone with: docker build -t hub .
#
# Stage 1 builds wheels for the hub and every dependency (PostgreSQL driver included);
# stage 2 installs them offline into a slim image that runs as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY hub ./hub
COPY connectors ./connectors
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HUB_CONFIG=/etc/hub/hub.yaml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels 'hub[postgres]' \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/hub --create-home hub \
    && mkdir -p /etc/hub/recipes
USER hub
WORKDIR /var/lib/hub
EXPOSE 8080
# No HEALTHCHECK here: only `hub serve` listens (docker-compose.yml probes its /readyz).
ENTRYPOINT ["hub"]
CMD ["serve"]
