# Confab's server image: the Leptos site and the Axum binary, built with cargo-leptos.
# Build: docker build -t confab .   (docker-compose.yml does this for its two nodes)

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown
# The exact wasm-bindgen of Cargo.lock; a working wasm-opt (npm's binaryen, not Debian's).
RUN cargo install --locked cargo-leptos --version 0.3.10 --features no_downloads \
    && cargo install wasm-bindgen-cli --version 0.2.130 \
    && npm install -g binaryen@132.0.0
WORKDIR /src
COPY . .
RUN cargo leptos build --release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 confab
COPY --from=build /src/target/release/server /usr/local/bin/confab
COPY --from=build /src/target/site /srv/confab/site
USER confab
ENV CONFAB_ADDR=0.0.0.0:3000 CONFAB_SITE_ROOT=/srv/confab/site CONFAB_DATA_DIR=/tmp/confab \
    CONFAB_LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:3000/readyz || exit 1
CMD ["confab"]
