# syntax=docker/dockerfile:1
# faultline: build with the dev toolchain, run with production dependencies only.

# ---- build: compile TypeScript, then drop dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Sources come in before `npm ci`, because `npm ci` runs the `prepare` script (tsc).
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY toxics ./toxics
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
RUN npm run build
# `npm prune` runs no lifecycle scripts, so `prepare` is not re-run here.
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# The API. Proxies listen on whatever ports they are given; publish those too (docker run -p).
EXPOSE 8474
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0"]
