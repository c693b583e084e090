# binlake: one static-ish binary on a slim Debian base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Cargo.toml names the benches: the manifest does not parse without them.
COPY src ./src
COPY benches ./benches
# librdkafka, patched (vendor/rdkafka-sys/PATCH.md).
COPY vendor ./vendor
RUN cargo build --release --locked && strip target/release/binlake

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 binlake \
    && mkdir -p /var/lib/binlake/lake && chown -R binlake /var/lib/binlake
COPY --from=build /src/target/release/binlake /usr/local/bin/binlake
USER binlake
WORKDIR /var/lib/binlake
ENTRYPOINT ["binlake"]
