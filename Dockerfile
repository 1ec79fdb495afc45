# Multi-stage build of the one cocoon binary; runs as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/cocoon ./cmd/cocoon

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 --home /nonexistent cocoon
COPY --from=build /out/cocoon /usr/local/bin/cocoon
USER 10001
ENTRYPOINT ["/usr/local/bin/cocoon"]
