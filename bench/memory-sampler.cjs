// Preloaded into server processes by `npm run bench -- --memory-log DIR`
// (node --require). Every 250 ms it appends one JSON line with the process's
// memory in MiB to DIR/memory-NAME-PID.jsonl. NAME is the server's name in
// the runner, such as http, rpc or start-workers-1. A line contains the RSS, the
// V8 heap, and the resident and used size of each V8 heap space. They show whether growth is
// young-generation sizing, old-space growth between major collections, or
// memory outside the heap.
'use strict';
const { appendFileSync } = require('node:fs');
const { join } = require('node:path');
const { getHeapSpaceStatistics } = require('node:v8');
const { isMainThread } = require('node:worker_threads');

const directory = process.env.IM_BENCH_MEMORY_LOG;
// Worker threads, such as the SQLite checkpoint worker, inherit the preload; the main thread samples for the process.
if (isMainThread && directory !== undefined && directory !== '') {
  const name = process.env.IM_BENCH_MEMORY_NAME || 'server';
  const file = join(directory, `memory-${name}-${process.pid}.jsonl`);
  const mebibytes = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    const spaces = {};
    for (const space of getHeapSpaceStatistics()) {
      if (space.space_size === 0) continue;
      spaces[space.space_name] = {
        physical: mebibytes(space.physical_space_size),
        used: mebibytes(space.space_used_size),
      };
    }
    const line = {
      time: new Date().toISOString(),
      rss: mebibytes(usage.rss),
      heapTotal: mebibytes(usage.heapTotal),
      heapUsed: mebibytes(usage.heapUsed),
      external: mebibytes(usage.external),
      spaces,
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 250);
  // Sampling must not keep a stopping server alive.
  timer.unref();
}
