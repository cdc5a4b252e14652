// One socket.io-client socket, for tests/integration/166_socketio_recovery.py: it connects to
// URL with auth {token: TOKEN} over TRANSPORT and never reconnects by itself. Commands on stdin, one
// per line: "drop" cuts its TCP connection under it (as a network change does), "connect" connects
// it again (with the pid and last offset the client keeps: state recovery), "exit". Reports on
// stdout, one JSON object per line: {type: "connect", recovered, pid, transport}, {type: "disconnect",
// reason}, {type: "message", conversation, seq, text, offset}, {type: "notification", id, offset},
// {type: "error", code, message} (the `error` event).
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const base = process.env.TOURBUS_NODE_MODULES_DIR || path.dirname(fileURLToPath(import.meta.url));
const { io } = createRequire(path.join(base, "package.json"))("socket.io-client");
const [url, token, transport] = process.argv.slice(2);

const report = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, { auth: { token }, transports: [transport], reconnection: false, forceNew: true });
socket.on("connect", () => report({ type: "connect", recovered: socket.recovered === true, pid: socket._pid, transport: socket.io.engine.transport.name }));
socket.on("connect_error", (err) => report({ type: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => report({ type: "disconnect", reason }));
socket.on("message", (m, offset) => report({ type: "message", conversation: m.conversation, seq: m.seq, text: m.text, offset }));
socket.on("notification", (n, offset) => report({ type: "notification", id: n.id, offset }));
socket.on("error", (e) => report({ type: "error", code: e.code, message: e.message }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") socket.io.engine.transport.ws._socket.destroy();
  else if (line === "connect") socket.connect();
  else if (line === "exit") process.exit(0);
});
