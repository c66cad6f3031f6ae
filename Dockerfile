# Image of im-service; the same image runs every mode (start, rpc, http).
# NOTE: Docker cannot run on the machine where this project is developed, so
# this file has not been built there.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen-nodejs ./gen-nodejs
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/gen-nodejs ./gen-nodejs
COPY package.json ./
USER node
EXPOSE 8080 8888
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["start"]
