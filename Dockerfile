# syntax=docker/dockerfile:1
# arbtui — the headless hedging bot.
#
#   docker build -t arbtui .
#   docker run -d --env-file .env -v "$PWD/arbtui.toml:/config/arbtui.toml:ro" -v arbtui-data:/data \
#       -p 127.0.0.1:8080:8080 arbtui
#
# Stage "build" turns the source into wheels: arbtui's own (migrations/ included, see pyproject) and
# one for every dependency at the versions of constraints.txt. Stage "runtime" installs those wheels
# offline and holds nothing else: no compiler, no Node, no tests, no demo contracts, no pip cache.

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY migrations/ migrations/
COPY arbtui/ arbtui/
# Dependencies only from published wheels (--only-binary): no compiler in this stage either.
RUN pip wheel --wheel-dir /wheels --constraint constraints.txt --only-binary=:all: .

FROM python:3.11.7-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 arbtui \
    && useradd --system --uid 10001 --gid arbtui --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin arbtui \
    && mkdir -p /data /config \
    && chown arbtui:arbtui /data
# Only the wheels cross from the build stage (a bind mount: they never become a layer of this image).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/arbtui-*.whl
# Configuration: the TOML mounted read-only at /config, every key overridable as ARBTUI_<TABLE>__<KEY>,
# secrets (ARBTUI_ALPACA_API_KEY, …, ARBTUI_CONTROL_TOKEN) only from the environment. The API listens on
# every interface of the container, so the control endpoints need ARBTUI_CONTROL_TOKEN (startup refuses
# otherwise); publish the port on the host's loopback unless something else must reach it.
ENV ARBTUI_CONFIG=/config/arbtui.toml \
    ARBTUI_DATABASE_PATH=/data/arbtui.db \
    ARBTUI_API__LISTEN=0.0.0.0:8080 \
    ARBTUI_API__ALLOW_REMOTE=true
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8080
USER 10001:10001
# /health answers 200 while the process serves; the port follows ARBTUI_API__LISTEN. urllib: no curl here.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('ARBTUI_API__LISTEN', ':8080').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]
ENTRYPOINT ["arbtui"]
CMD ["run", "--headless"]
