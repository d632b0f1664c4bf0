# The operator image: a static binary on a minimal base, run as a non-root user with a read-only
# root filesystem (see config/manager/manager.yaml). The binary embeds the time-zone database.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /statsig-operator ./cmd

FROM gcr.io/distroless/static:nonroot
COPY --from=build /statsig-operator /statsig-operator
USER 65532:65532
ENTRYPOINT ["/statsig-operator"]
