# syntax=docker/dockerfile:1
# faultline: build with the dev toolchain, run with production dependencies only.

# ---- build: compile TypeScript and the sqlite3 addon, then drop dev dependencies ----
FROM node:20-bookworm-slim AS build
# sqlite3 is a native addon: when no prebuilt binary can be fetched, node-gyp compiles it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Sources come in before `npm ci`, because `npm ci` runs the `prepare` script (tsc).
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY toxics ./toxics
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
RUN npm run build
# `npm prune` runs no lifecycle scripts, so neither `prepare` nor the addon build re-runs.
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime: the same base image, so the compiled addon matches its Node ABI ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard's static files, served at /dashboard/ (no build step).
COPY dashboard ./dashboard
# `faultline` on the PATH, so the command reads as it does elsewhere and `docker exec` can use
# the client commands; node follows the link, so the CLI's relative imports still resolve.
RUN chmod +x dist/src/cli/main.js && ln -s /app/dist/src/cli/main.js /usr/local/bin/faultline
# State and the event log live in /data, writable by the unprivileged user; mount a volume
# there to keep them across container restarts.
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
# The API and the dashboard (/dashboard/). Proxies listen on whatever ports they are given;
# publish those too (docker run -p).
EXPOSE 8474
# A container must listen beyond its own loopback to be reachable, and a plain `docker run`
# must start. --insecure lets it start without a chosen token (with a warning; browsers still
# need the random token the dashboard page carries). A token in the environment
# (docker run -e FAULTLINE_TOKEN=...) takes precedence and silences the warning.
# Scenario files mounted at /app/scenarios are offered by the dashboard.
ENTRYPOINT ["faultline"]
CMD ["serve", "--host", "0.0.0.0", "--insecure", "--db", "/data/faultline.db"]
