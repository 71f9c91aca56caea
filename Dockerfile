# syntax=docker/dockerfile:1
# The one `outpost` binary in a small image without shell or package
# manager. Build: docker build -t outpost .   Run: see docker-compose.yml
# and docs/deployment.md.

# --- build: the release profile of Cargo.toml (LTO, stripped) -------------
# bookworm, so the binary's glibc matches the final image's (Debian 12).
# The compiler link/symbol-order.txt was made with (see build.rs).
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Everything but what .dockerignore leaves out: Cargo.toml may name test,
# bench or example targets whose files must exist.
COPY . .
RUN cargo build --release --locked --bin outpost \
 && install -D -m 0755 target/release/outpost /out/usr/local/bin/outpost \
 && install -d -m 0750 /out/var/lib/outpost

# --- final: glibc + libgcc only (distroless "cc"), user 65532 ---------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/outpost /usr/local/bin/outpost
# The bridge's SQLite state; a named volume mounted here inherits the owner.
COPY --from=build --chown=65532:65532 /out/var/lib/outpost /var/lib/outpost
USER 65532:65532
EXPOSE 9100 9187
ENTRYPOINT ["/usr/local/bin/outpost"]
CMD ["exporter"]
# No shell and no curl in the image: the binary checks itself. The default
# is the exporter's endpoint; docker-compose.yml overrides it for the bridge.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/outpost", "healthcheck", "--timeout", "4s", "http://127.0.0.1:9100/metrics"]
