# syntax=docker/dockerfile:1
# Rally: a release build in a Rust image, run from a small Debian image as
# a non-root user. Assets and migrations are compiled into the binary.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Registry and build outputs cached between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin rally \
    && cp target/release/rally /usr/local/bin/rally

FROM debian:bookworm-slim AS runtime
# CA certificates for TLS to Postgres, SQS and Mailgun.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /data rally
COPY --from=build /usr/local/bin/rally /usr/local/bin/rally
USER rally
WORKDIR /data
ENV PORT=8080 RALLY_ENV=production
EXPOSE 8080
# fly.toml gives each process group its own command; this is the default.
CMD ["rally", "serve"]
