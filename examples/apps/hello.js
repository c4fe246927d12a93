// A native vassal's app: a plain Node HTTP server. It takes its listening socket from the vassal init
// (LISTEN_FDS, fd 3) when the vassal file has an http-socket, and its port from $PORT otherwise.
'use strict';
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.end(`hello from ${process.env.VASSAL_NAME || 'a vassal'} (pid ${process.pid})\n`);
});
if (process.env.LISTEN_FDS) server.listen({ fd: 3 });
else server.listen(Number(process.env.PORT || 8080), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
