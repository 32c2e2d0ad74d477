# Multi-stage build: the same steps as "Build from source" in README.md.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fhirdir

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/fhirdir --create-home fhirdir \
    && apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/fhirdir /usr/local/bin/fhirdir
USER fhirdir
WORKDIR /var/lib/fhirdir
ENV FHIRDIR_LISTEN=0.0.0.0:8080 \
    FHIRDIR_DATABASE_URL=sqlite:///var/lib/fhirdir/data/fhirdir.db \
    FHIRDIR_EXPORT_DIR=/var/lib/fhirdir/data/exports \
    FHIRDIR_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/fhirdir/data"]
# No curl in the image: bash's /dev/tcp is enough to ask /readyz.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["fhirdir"]
CMD ["serve"]
