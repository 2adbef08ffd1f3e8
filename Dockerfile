# syntax=docker/dockerfile:1
# unisocket as a standalone server: `unisocket start` from @unisocket/cli (configured by environment variables).
#
#   docker build -t unisocket .
#   docker run --rm -p 3000:3000 -e API_KEY=change-me unisocket
#
# Two nodes on Redis with Prometheus and Grafana: deploy/docker-compose.yml (see deploy/README.md).
# tooling/deploy-check runs this build stage's pack and install steps without Docker (on the workspace's own install
# and build) and the runtime stage's CMD and HEALTHCHECK on the result; no image has been built from this file on the
# development machines (no Docker engine there).

# ---- build: install the workspace, build the CLI and what it depends on, install them for production in /out ----
FROM node:24-slim AS build
ENV CI=true TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
RUN npm install -g pnpm@10.34.8
WORKDIR /src
# the dependencies first, so that a source change does not download them again
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile --offline
RUN pnpm turbo run build --filter=@unisocket/cli...
# Pack the CLI, the workspace packages it depends on and its optional peers (the Redis and Kafka brokers, Socket.IO):
# `pnpm pack` turns their workspace:* ranges into versions, and npm installs the tarballs together, so every
# @unisocket package resolves to its tarball. (`pnpm deploy --prod` would leave the optional peers out, and BROKER=redis
# needs @unisocket/broker-redis; bullmq makes the job queues durable on that Redis.)
RUN pnpm -r --filter-prod='@unisocket/cli...' --filter-prod='@unisocket/broker-redis...' pack --pack-destination /packs
RUN mkdir -p /out && cd /out && echo '{"name":"unisocket-server","private":true}' > package.json \
  && npm install --omit=dev --no-audit --no-fund /packs/*.tgz bullmq@6.7.6

# ---- runtime: Node and the deployed CLI, nothing else ----
FROM node:24-slim
ENV NODE_ENV=production PORT=3000
WORKDIR /app
# owned by root, read-only for the process
COPY --from=build /out /app
USER node
EXPOSE 3000
# node:24-slim has no curl or wget: Node's own fetch, on the port the server listens on
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# exec form: Node is PID 1 and receives SIGTERM itself (no shell in between). The kernel drops signals to PID 1 only
# when no handler is installed; `unisocket start` installs SIGTERM/SIGINT handlers (clients get close 1001, exit 0),
# so no tini is needed. Node reaps its own children (WORKERS=n cluster workers); run with `docker run --init`
# (compose: `init: true`) only if you add processes that spawn children Node does not wait for.
STOPSIGNAL SIGTERM
CMD ["node", "node_modules/@unisocket/cli/dist/bin.js", "start"]
