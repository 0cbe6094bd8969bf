# Build the manager binary: static, no cgo (SQLite is compiled to Go by ncruces/go-sqlite3).
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

COPY cmd/main.go cmd/main.go
COPY api/ api/
COPY internal/ internal/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -a -o manager cmd/main.go

# A distroless static image: no shell, no libc. The manager runs as a non-root user with a
# read-only root filesystem; the index lives in memory or on an emptyDir (see config/manager).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
