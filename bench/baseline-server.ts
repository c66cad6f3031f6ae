import http from 'node:http';

// The baseline of every ratio: node:http replies to every request with a
// constant JSON body, with no routing, parsing or storage.
const body = Buffer.from(JSON.stringify({ message: 'pong' }));
const port = Number(process.argv[2] ?? '0');

const server = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    response.end(body);
  });
});

server.listen(port, '127.0.0.1', () => console.log(`baseline listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
