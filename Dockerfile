# Multi-stage build of the clients service: a Rust builder, then a small non-root
# runtime image. No engine runs on our build machines, so this file is not exercised
# by CI; see docs/operations.md for what was and was not tested.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p app && strip target/release/app

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/clients --create-home clients
COPY --from=build /src/target/release/app /usr/local/bin/app
USER clients
WORKDIR /var/lib/clients
ENV CLIENTS_LISTEN=0.0.0.0:8080 \
    CLIENTS_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["serve"]
