// ws_server.js: plain WebSocket chat peer of the tourbus benchmark, see bench/README.md.
//
//   node ws_server.js --port P [--host 127.0.0.1]      (port 0 = any free port)
//
// Each connection belongs to a group given in its URL query (`?g=<integer>`, default 0; the
// path is not checked). The load generator sends text frames such as
//   {"event":"message.send","data":{"conversation":7,"text":"@T0000001234567890 hello"}}
// and the server does what idiomatic application code would: parse, build the message once,
// broadcast {"event":"message","data":msg} to every open member of the sender's group (the
// sender included), then acknowledge {"event":"reply","data":msg} to the sender. Anything else
// is answered with {"event":"error","data":{"code":"bad_request"}}.
// Prints exactly one line `ready port=<port>` once listening; exits 0 on SIGTERM/SIGINT.
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');
const peer = require('./common');

const groups = new Map(); // g -> Set<WebSocket>
const BAD_REQUEST = JSON.stringify({ event: 'error', data: { code: 'bad_request' } });
let nextId = 0;

const server = http.createServer((req, res) => { res.writeHead(426); res.end(); });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  const id = ++nextId;
  const g = peer.group(new URL(req.url, 'http://peer').searchParams.get('g'));
  let members = groups.get(g);
  if (!members) groups.set(g, (members = new Set()));
  members.add(ws);

  ws.on('error', () => {}); // a client reset must never crash the server
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0 && groups.get(g) === members) groups.delete(g);
  });
  ws.on('message', (raw) => {
    let frame;
    try { frame = JSON.parse(raw.toString()); } catch (e) { frame = null; }
    const data = frame && frame.data;
    if (!frame || frame.event !== 'message.send' || !data || typeof data !== 'object') {
      ws.send(BAD_REQUEST);
      return;
    }
    const msg = peer.message(g, id, data.text);
    const out = JSON.stringify({ event: 'message', data: msg });
    for (const member of members) if (member.readyState === WebSocket.OPEN) member.send(out);
    ws.send(JSON.stringify({ event: 'reply', data: msg }));
  });
});
wss.on('error', () => {});

peer.serve(server, () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.close();
});
