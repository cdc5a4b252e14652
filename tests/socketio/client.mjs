// Socket.IO clients (socket.io-client 4.x in Node) driven over stdin and stdout, for
// tests/integration/160_socketio_clients.py: one JSON command per line in, one JSON report per line
// out, in the order things happened. One process holds as many sockets as the test opens.
//
// Commands, {"cmd": NAME, ...}:
//   open      {id, url, opts, record}  io(url, {forceNew: true, reconnection: false, ...opts}).
//             record "lines" (the default) reports every event the server sends; "summary" keeps
//             only the `message` pushes, for `summary`, and reports no event
//   open_many {prefix, count, url, opts, tokens}  sockets PREFIX0 .. PREFIX<count-1>, the i-th with
//             auth {token: tokens[i % tokens.length]}, recorded as summaries; reports
//             {type: "all_connected", prefix, count} once every one is connected
//   emit      {id, event, args, ack}   socket.emit(event, ...args); {"$binary": BASE64} anywhere in
//             the args is sent as a Buffer (a binary attachment); with `ack` (any tag) a callback is passed
//             and its arguments are reported as {id, type: "ack", ack, args}
//   summary   {prefix, counts}         {type: "summary", sockets: {id: [[conversation, seq, text], ...]}}
//             for the sockets whose id starts with prefix; with counts: true, {id: number} instead
//   close     {id}                     socket.close(), reported as {id, type: "closed"}
//   exit                               closes every socket and exits; so does the end of stdin
//
// Reports: {id, type: "open", transport} (Engine.IO is open), {id, type: "connect", transport}
// (the namespace is joined), {id, type: "upgrade", transport},
// {id, type: "connect_error", message, data}, {id, type: "disconnect", reason},
// {id, type: "event", event, args}, {id, type: "ack", ack, args}, {type: "error", message}.
//
// socket.io-client is found in TOURBUS_NODE_MODULES_DIR/node_modules (where the test installed
// package-lock.json), else beside this file (`npm ci` here).

import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const base = process.env.TOURBUS_NODE_MODULES_DIR || path.dirname(fileURLToPath(import.meta.url));
const { io } = createRequire(path.join(base, "package.json"))("socket.io-client");

const sockets = new Map(); // id -> {socket, messages: [[conversation, seq, text]] or null}

// stdout is a pipe: writes are synchronous on Linux, so reports keep their order and none is lost.
function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function open(id, url, opts, record, onConnect) {
  if (sockets.has(id)) throw new Error("socket " + id + " is already open");
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  const entry = { socket, messages: record === "summary" ? [] : null };
  sockets.set(id, entry);
  socket.io.on("open", () => {
    if (!entry.messages) report({ id, type: "open", transport: socket.io.engine.transport.name });
    socket.io.engine.on("upgrade", (t) => report({ id, type: "upgrade", transport: t.name }));
  });
  socket.on("connect", () => {
    if (onConnect) onConnect();
    else report({ id, type: "connect", transport: socket.io.engine.transport.name });
  });
  socket.on("connect_error", (err) => report({ id, type: "connect_error", message: err.message, data: err.data ?? null }));
  socket.on("disconnect", (reason) => report({ id, type: "disconnect", reason }));
  if (entry.messages) {
    socket.on("message", (m) => entry.messages.push([m.conversation, m.seq, m.text]));
  } else {
    socket.onAny((event, ...args) => report({ id, type: "event", event, args }));
  }
}

// {"$binary": BASE64}, at any depth, becomes a Buffer.
function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (!v || typeof v !== "object") return v;
  if (typeof v.$binary === "string") return Buffer.from(v.$binary, "base64");
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
}

function socketOf(id) {
  const entry = sockets.get(id);
  if (!entry) throw new Error("no socket " + id);
  return entry.socket;
}

function closeAll() {
  for (const { socket } of sockets.values()) socket.close();
  sockets.clear();
}

const commands = {
  open: (c) => open(c.id, c.url, c.opts ?? {}, c.record ?? "lines"),
  open_many: (c) => {
    let connected = 0;
    for (let i = 0; i < c.count; i++) {
      const token = c.tokens[i % c.tokens.length];
      open(c.prefix + i, c.url, { ...(c.opts ?? {}), auth: { token } }, "summary", () => {
        if (++connected === c.count) report({ type: "all_connected", prefix: c.prefix, count: c.count });
      });
    }
  },
  emit: (c) => {
    const args = (c.args ?? []).map(decode);
    if (c.ack !== undefined && c.ack !== null) {
      args.push((...answer) => report({ id: c.id, type: "ack", ack: c.ack, args: answer }));
    }
    socketOf(c.id).emit(c.event, ...args);
  },
  summary: (c) => {
    const out = {};
    for (const [id, entry] of sockets) {
      if (id.startsWith(c.prefix ?? "") && entry.messages) out[id] = c.counts ? entry.messages.length : entry.messages;
    }
    report({ type: "summary", sockets: out });
  },
  close: (c) => {
    socketOf(c.id).close();
    sockets.delete(c.id);
    report({ id: c.id, type: "closed" });
  },
  exit: () => {
    closeAll();
    process.exit(0);
  },
};

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  try {
    const c = JSON.parse(line);
    const run = commands[c.cmd];
    if (!run) throw new Error("unknown command " + JSON.stringify(c.cmd));
    run(c);
  } catch (e) {
    report({ type: "error", message: String(e && e.message ? e.message : e) });
  }
});
lines.on("close", () => {
  closeAll();
  process.exit(0);
});
