# Herald: one static binary on a distroless image.
#   docker build -t herald .
#   docker run -p 8080:8080 -e HERALD_API_KEY=$(openssl rand -hex 24) -v herald-data:/data herald
# The default command is `herald all` on every interface of the container (so
# that -p can reach it). That is not loopback, so dev mode is off: no demo
# page, no /dev/ token minting or keyless sending (docs/security.md). For a
# local try with the demo page, publish the port on the host's loopback only
# and ask for dev mode by name:
#   docker run -p 127.0.0.1:8080:8080 herald all --listen 0.0.0.0:8080 --data-dir /data --dev
FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/herald ./cmd/herald
# The data directory, owned by the image's unprivileged user (WORKDIR alone
# would make it root's, and herald all could not write its store).
RUN mkdir -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /herald
# herald all keeps its embedded store and generated secrets here; cluster
# services are stateless.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
WORKDIR /data
EXPOSE 8080 8081 8082 8083 9080 9083
USER nonroot:nonroot
ENTRYPOINT ["/herald"]
CMD ["all", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
