// What both Node peers of the tourbus benchmark share (bench/README.md): the command line, the
// group of a connection, the message built for a send, and listening/stopping.
'use strict';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// --port P (0 = any free port) and --host H.
exports.options = () => ({ port: Number(arg('--port', '0')), host: arg('--host', '127.0.0.1') });

// The group named by a `g` query value: an integer, 0 when missing or malformed.
exports.group = (value) => {
  const g = parseInt(value, 10);
  return Number.isFinite(g) ? g : 0;
};

// The message for a send to group g: the group's next seq, the sender, the text, the time.
const seqs = new Map(); // g -> last seq
exports.message = (g, sender, text) => {
  const seq = (seqs.get(g) || 0) + 1;
  seqs.set(g, seq);
  return { conversation: g, seq, sender, kind: 'text', text, created_at: new Date().toISOString() };
};

// Listens, prints `ready port=<port>` once listening, runs stop() and exits 0 on SIGTERM/SIGINT.
exports.serve = (server, stop) => {
  const { port, host } = exports.options();
  server.listen(port, host, () => process.stdout.write(`ready port=${server.address().port}\n`));
  const shutdown = () => {
    stop();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
};
