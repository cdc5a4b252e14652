// socketio_server.js: socket.io chat peer of the tourbus benchmark, see bench/README.md.
//
//   node socketio_server.js --port P [--host 127.0.0.1]      (port 0 = any free port)
//
// WebSocket transport only, path /socket.io/. The load generator speaks Engine.IO v4 over a raw
// WebSocket: it connects to /socket.io/?EIO=4&transport=websocket&g=7, receives the open packet
// `0{...}`, sends `40`, receives `40{"sid":...}`, then sends
//   421["message.send",{"conversation":7,"text":"@T0000001234567890 hello"}]
// Each socket joins room 'g<g>' (g from the handshake query, integer, default 0). The handler
// builds the message once, emits it to the room (`42["message",{...}]` at every member, the
// sender included; socket.io encodes it once for the room) and acknowledges to the sender
// (`431[{...}]`). Invalid data is acknowledged with {"error":"bad_request"}.
// Prints exactly one line `ready port=<port>` once listening; exits 0 on SIGTERM/SIGINT.
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const peer = require('./common');

let nextId = 0;

const server = http.createServer();
const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  pingInterval: 600000,
  pingTimeout: 600000,
  maxHttpBufferSize: 64 * 1024,
});

io.on('connection', (socket) => {
  const id = ++nextId;
  const g = peer.group(socket.handshake.query.g);
  const room = 'g' + g;
  socket.join(room);

  socket.on('error', () => {});
  socket.on('message.send', (data, ack) => {
    if (!data || typeof data !== 'object' || typeof data.text !== 'string') {
      if (typeof ack === 'function') ack({ error: 'bad_request' });
      return;
    }
    const msg = peer.message(g, id, data.text);
    io.to(room).emit('message', msg);
    if (typeof ack === 'function') ack(msg);
  });
});

server.on('clientError', (err, sock) => { sock.destroy(); });
peer.serve(server, () => io.close());
