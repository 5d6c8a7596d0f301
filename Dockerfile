# syntax=docker/dockerfile:1
# secretgate: build with the dev toolchain, run with production dependencies only, as a non-root user.
#   docker build -t secretgate .
#   docker run -p 50051:50051 -p 8080:8080 -e SECRETGATE_MASTER_KEY=... -v secretgate-data:/data secretgate

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY src ./src
COPY clients/typescript/src ./clients/typescript/src
COPY console ./console
COPY scripts/build-console.mjs ./scripts/build-console.mjs
RUN npx tsc -p tsconfig.build.json && node scripts/build-console.mjs

FROM node:24-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
# jemalloc, which the entry point runs the server with: it gives memory freed after a flood back to
# the system, where glibc's allocator keeps it (scripts/with-jemalloc.sh, docs/performance.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    SECRETGATE_GRPC_ADDR=0.0.0.0:50051 \
    SECRETGATE_HTTP_ADDR=0.0.0.0:8080 \
    SECRETGATE_DATA_DIR=/data
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/gen ./dist/gen
COPY --from=build /app/dist/clients ./dist/clients
COPY --from=build /app/dist/console ./dist/console
COPY package.json ./
COPY bin ./bin
COPY scripts/with-jemalloc.sh ./scripts/with-jemalloc.sh
# The image's `node` user (uid 1000), numeric so Kubernetes' runAsNonRoot can verify it.
RUN mkdir /data && chown 1000:1000 /data
USER 1000:1000
VOLUME /data
EXPOSE 50051 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.SECRETGATE_HTTP_ADDR.split(':').pop() + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["sh", "scripts/with-jemalloc.sh", "node", "--max-semi-space-size=8", "--no-allocation-site-pretenuring", "bin/secretgate.mjs"]
CMD ["serve"]
