# Confab's server image: the release site and the Axum binary, built by the same script as
# `make run` (scripts/build-release.sh), with the same tool installer (scripts/toolchain.sh).
# Build: docker build -t confab .   (docker-compose.yml does this for its two nodes)

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev \
      nodejs npm brotli \
    && rm -rf /var/lib/apt/lists/*
ENV CONFAB_CACHE=/opt/confab-cache CARGO_TARGET_DIR=/opt/confab-cache/target
WORKDIR /src
# The tools first, so a source change does not reinstall them: the wasm target, the exact
# wasm-bindgen of Cargo.lock, npm's binaryen for wasm-opt and terser for the JavaScript.
COPY rust-toolchain.toml Cargo.lock ./
COPY scripts/toolchain.sh scripts/
RUN scripts/toolchain.sh wasm-target wasm-bindgen wasm-opt terser
COPY . .
RUN scripts/build-release.sh /out/site > /out/server-path \
    && cp "$(cat /out/server-path)" /out/confab

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 confab \
    && mkdir -p /var/lib/confab && chown confab /var/lib/confab
COPY --from=build /out/confab /usr/local/bin/confab
COPY --from=build /out/site /srv/confab/site
USER confab
# The embedded mode keeps its data in this volume; with MONGODB_URL and S3 set it holds
# nothing that matters.
VOLUME /var/lib/confab
ENV CONFAB_ADDR=0.0.0.0:3000 CONFAB_SITE_ROOT=/srv/confab/site LEPTOS_SITE_ROOT=/srv/confab/site \
    CONFAB_DATA_DIR=/var/lib/confab CONFAB_LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:3000/readyz || exit 1
CMD ["confab"]
