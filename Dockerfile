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

# Node 24 (LTS; Node 20 is past its end of life), pinned by the digest its tag pointed to when it
# was 24.18.0, so a rebuild gets the same base. Bump tag and digest together (Renovate and
# Dependabot update pinned digests).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

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

# Liveness of the process through GET /healthz (slim images have no curl), on the HTTP address
# the service was started with: --http-address among its arguments, else MTP_AUTHZ_HTTP_ADDRESS.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "dist/healthcheck.js"]

ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--policies", "/etc/mtp-authz/policies"]
