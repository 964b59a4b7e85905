# syntax=docker/dockerfile:1
#
# mtp-authz: Envoy ext_authz v3 service enforcing Kuma MeshTrafficPermission policies.
#
#   docker build -t mtp-authz:0.1.0 .
#   docker run --rm -p 9191:9191 -p 9192:9192 \
#     -v "$PWD/examples/policies:/etc/mtp-authz/policies:ro" mtp-authz:0.1.0
#
# Policies are read from /etc/mtp-authz/policies, a directory you mount (a bind mount, or a
# ConfigMap volume in Kubernetes; the service follows the ConfigMap's `..data` symlink swaps and
# reloads on change). There is deliberately no VOLUME instruction: an anonymous volume would hide
# a forgotten mount behind an empty policy set, and an empty set is valid (every STRICT inbound is
# denied), so the mistake would look like an outage instead of a start-up error.
#
# Ports: 9191 gRPC (envoy.service.auth.v3.Authorization/Check, grpc.health.v1.Health),
#        9192 HTTP (/healthz, /readyz, /metrics, /policies, POST /explain, admin API, the console at /ui/).
# Any flag can be set through its env form, e.g. MTP_AUTHZ_LOG_LEVEL=debug.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: dev dependencies + TypeScript → dist/ ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The operator console (/ui/): TypeScript + Preact sources, bundled by esbuild into dist/ui/.
COPY ui ./ui
COPY scripts/build-ui.mjs ./scripts/
RUN npm run build

# --- deps: production dependencies only ----------------------------------------------------
# --ignore-scripts: no production dependency needs an install script to work (protobufjs's
# postinstall only checks its optional CLI's peers), so none is run.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the service user; nothing under /app is written at run time.
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY proto ./proto

# A numeric UID/GID so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

EXPOSE 9191 9192

# Liveness of the process through GET /healthz (slim images have no curl). The port follows
# MTP_AUTHZ_HTTP_ADDRESS when it is set.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const a=process.env.MTP_AUTHZ_HTTP_ADDRESS||'0.0.0.0:9192';require('node:http').get({host:'127.0.0.1',port:a.slice(a.lastIndexOf(':')+1),path:'/healthz',timeout:2000},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]

ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--policies", "/etc/mtp-authz/policies"]
