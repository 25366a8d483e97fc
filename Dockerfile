# orgsvc as a container image: a release build in the Rust image, run from a slim Debian with
# a non-root user. Configuration comes from ORGSVC__SECTION__KEY environment variables.
#
#   docker build -t orgsvc .
#   docker run -p 8080:8080 -e ORGSVC__AUTH__JWT_SECRET="$(orgsvc gen-key)" orgsvc
#
# The embedded store lives in /var/lib/orgsvc/data (mount a volume there to keep it).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin orgsvc

FROM debian:bookworm-slim
# curl for the HEALTHCHECK; ca-certificates for MongoDB over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/orgsvc --create-home orgsvc
COPY --from=build /src/target/release/orgsvc /usr/local/bin/orgsvc
USER orgsvc
WORKDIR /var/lib/orgsvc
ENV ORGSVC__PROFILE=production \
    ORGSVC__HTTP__LISTEN=0.0.0.0:8080 \
    ORGSVC__STORAGE__EMBEDDED__PATH=/var/lib/orgsvc/data/orgsvc.redb \
    ORGSVC__LOG__FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["orgsvc"]
CMD ["serve"]
