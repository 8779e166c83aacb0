# Herald: one static binary on a distroless image.
#   docker build -t herald .
#   docker run -p 8080:8080 herald all --listen 0.0.0.0:8080 --dev=false
FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/herald ./cmd/herald

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /herald
# herald all keeps its embedded store here; cluster services are stateless.
WORKDIR /data
EXPOSE 8080 8081 8082 8083 9080 9083
USER nonroot:nonroot
ENTRYPOINT ["/herald"]
CMD ["all", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
