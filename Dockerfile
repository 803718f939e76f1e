# Build: a static binary, stripped.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/appreg-bot ./cmd/bot

# Run: distroless static, non-root. Set SLACK_* and AZURE_CLIENT_ID; see README.md.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/appreg-bot /appreg-bot
USER nonroot:nonroot
EXPOSE 3000
ENTRYPOINT ["/appreg-bot"]
