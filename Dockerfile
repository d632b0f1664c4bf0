# The operator image: a static binary on an empty base, run as a non-root user with a read-only
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

FROM scratch
# CA roots for HTTPS to Statsig, object stores and report download hosts.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /statsig-operator /statsig-operator
USER 65532:65532
ENTRYPOINT ["/statsig-operator"]
