// status, metrics, backup and reload.
#include <unistd.h>

#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "api/handlers.hpp"
#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "store/copy.hpp"
#include "store/database.hpp"
#include "store/nodes.hpp"
#include "calls/live.hpp"
#include "calls/previews.hpp"
#include "translate/translations.hpp"
#include "translate/translator.hpp"

namespace tourbus::api::handlers {

using boost::json::object;

namespace {

struct Snapshot {
  store::Figures store;
  store::WriterStats writer;
};

Snapshot snapshot(Context& ctx) {
  Snapshot s;
  s.store = ctx.reads.with([&](store::Db& db) { return store::figures(db, ctx.store.file); });
  s.writer = ctx.writer.stats();
  return s;
}

// Translation as status shows it: each engine's health and the counters since start.
object translation_status(Context& ctx) {
  auto waiting = ctx.reads.with([](store::Db& db) { return translate::jobs::waiting(db); });
  object o{{"waiting", waiting}};
  if (!ctx.translator) return o;
  boost::json::array engines;
  for (const auto& h : ctx.translator->health()) {
    boost::json::array pairs;
    for (const auto& p : h.pairs) pairs.emplace_back(p);
    engines.push_back(object{{"name", h.name},
                             {"reachable", h.reachable},
                             {"backing_off", h.backing_off},
                             {"ok", h.ok},
                             {"failed", h.failed},
                             {"last_error", h.last_error.empty() ? boost::json::value(nullptr) : boost::json::value(h.last_error)},
                             {"last_error_at", h.last_error_at ? boost::json::value(timeutil::format_utc(h.last_error_at)) : nullptr},
                             {"pairs", std::move(pairs)}});
  }
  const auto& n = ctx.translator->counters();
  o["enabled"] = ctx.translator->enabled();
  o["engines"] = std::move(engines);
  o["translated"] = n.translated.load();
  o["cache_hits"] = n.cache_hits.load();
  o["failed"] = n.failed.load();
  o["unsupported"] = n.unsupported.load();
  return o;
}

}  // namespace

boost::asio::awaitable<Result<Reply>> status(Context& ctx, const Caller&, const object&) {
  auto s = snapshot(ctx);
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  object store{
      {"engine", ctx.store.dialect() == store::Dialect::postgres ? "postgres" : "sqlite"},
      {"path", ctx.store.describe()},
      {"schema_version", s.store.schema_version},
      {"db_bytes", s.store.db_bytes},
      {"wal_bytes", s.store.wal_bytes},
      {"users", s.store.users},
      {"tokens", s.store.tokens},
      {"tours", s.store.tours},
      {"commits", s.writer.commits},
      {"writes", s.writer.writes},
      {"queued_writes", s.writer.queued},
      {"largest_batch", s.writer.max_batch_seen},
      {"retried_batches", s.writer.retried_batches},
  };
  object connections{
      {"tcp", ctx.stats.tcp_connections.load()},
      {"unix", ctx.stats.unix_connections.load()},
      {"websocket", ctx.stats.websocket_connections.load()},
      {"socketio", ctx.stats.socketio_connections.load()},
  };
  object requests{
      {"total", ctx.stats.requests.load()},
      {"client_errors", ctx.stats.requests_4xx.load()},
      {"server_errors", ctx.stats.requests_5xx.load()},
  };
  // Every node on this store (one on SQLite), as each last said: alive while it says so.
  // This node's role is what it knows now; the others' as they last said, except that none of
  // them leads while this one does (a dead leader's row says so until it counts as gone).
  bool leads = !ctx.leading || ctx.leading->load();
  boost::json::array nodes;
  for (const auto& n : ctx.reads.with([](store::Db& db) { return store::nodes::list(db); })) {
    bool self = n.name == ctx.node;
    bool alive = self || n.seen_at >= now - store::nodes::kGoneAfterMs;
    bool leader = self ? leads : n.leader && !leads;
    nodes.push_back(object{
        {"name", n.name},
        {"self", self},
        {"alive", alive},
        {"role", !alive ? "gone" : leader ? "leader" : "follower"},
        {"version", n.version},
        {"pid", n.pid},
        {"listen", n.listen},
        {"connections", self ? ctx.stats.websocket_connections.load() + ctx.stats.socketio_connections.load() : n.connections},
        {"started_at", timeutil::format_utc(n.started_at)},
        {"seen_at", timeutil::format_utc(n.seen_at)},
        {"lag_ms", self ? std::int64_t{0} : std::max<std::int64_t>(0, now - n.seen_at)},
    });
  }
  co_return Reply::ok(object{
      {"version", TOURBUS_VERSION},
      {"pid", static_cast<std::int64_t>(::getpid())},
      {"node", ctx.node},
      {"role", leads ? "leader" : "follower"},
      {"nats", !ctx.nats_connected ? "off" : ctx.nats_connected->load() ? "connected" : "disconnected"},
      {"nodes", std::move(nodes)},
      {"started_at", timeutil::format_utc(ctx.started_at)},
      {"uptime_seconds", (now - ctx.started_at) / 1000},
      {"state_dir", cfg->state_dir},
      {"listen", ctx.stats.get_listen_address()},
      {"socket", cfg->socket_path().string()},
      {"store", std::move(store)},
      {"connections", std::move(connections)},
      {"requests", std::move(requests)},
      {"translation", translation_status(ctx)},
  });
}

boost::asio::awaitable<Result<Reply>> metrics(Context& ctx, const Caller&, const object&) {
  auto s = snapshot(ctx);
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help, auto value,
                    std::string_view labels = "") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name, labels, value);
  };
  metric("tourbus_build_info", "gauge", "Version of the running tourbusd.", 1, fmt::format("{{version=\"{}\"}}", TOURBUS_VERSION));
  metric("tourbus_uptime_seconds", "gauge", "Seconds since tourbusd started.", (now - ctx.started_at) / 1000);
  out += "# HELP tourbus_connections Open client connections by transport.\n# TYPE tourbus_connections gauge\n";
  out += fmt::format("tourbus_connections{{transport=\"tcp\"}} {}\n", ctx.stats.tcp_connections.load());
  out += fmt::format("tourbus_connections{{transport=\"unix\"}} {}\n", ctx.stats.unix_connections.load());
  out += fmt::format("tourbus_connections{{transport=\"websocket\"}} {}\n", ctx.stats.websocket_connections.load());
  out += fmt::format("tourbus_connections{{transport=\"socketio\"}} {}\n", ctx.stats.socketio_connections.load());
  metric("tourbus_connections_rejected_total", "counter",
         "TCP connections closed at once: server.max_connections reached, or the open-file limit within server.fd_reserve.",
         ctx.stats.rejected_connections.load());
  metric("tourbus_accept_failures_total", "counter",
         "Failed accepts (out of file descriptors: accepting pauses, backing off up to a second).",
         ctx.stats.accept_failures.load());
  metric("tourbus_fd_limit", "gauge", "The open-file limit (RLIMIT_NOFILE soft limit) in force.", ctx.stats.fd_limit.load());
  metric("tourbus_max_connections", "gauge", "TCP connections accepted at most now: server.max_connections, or less under the open-file limit.",
         config::connection_limit(*ctx.config.get(), ctx.stats.fd_limit.load()));
  out += "# HELP tourbus_limited_total Requests, connections and frames refused by an abuse limit, by limit.\n"
         "# TYPE tourbus_limited_total counter\n";
  for (std::size_t i = 0; i < std::size(kLimits); ++i)
    out += fmt::format("tourbus_limited_total{{limit=\"{}\"}} {}\n", kLimits[i].name, ctx.stats.limited[i].load());
  out += "# HELP tourbus_limit The abuse limits in force (0: none), by limit; the key sets it.\n# TYPE tourbus_limit gauge\n";
  for (const auto& l : kLimits)
    out += fmt::format("tourbus_limit{{limit=\"{}\",key=\"{}\"}} {}\n", l.name, l.key, config::int_value(*cfg, l.key));
  metric("tourbus_uploads", "gauge", "Uploads being received now.", ctx.stats.uploads.load());
  out += "# HELP tourbus_http_requests_total HTTP requests answered, by status class.\n# TYPE tourbus_http_requests_total counter\n";
  auto total = ctx.stats.requests.load(), c4 = ctx.stats.requests_4xx.load(), c5 = ctx.stats.requests_5xx.load();
  out += fmt::format("tourbus_http_requests_total{{class=\"2xx\"}} {}\n", total - c4 - c5);
  out += fmt::format("tourbus_http_requests_total{{class=\"4xx\"}} {}\n", c4);
  out += fmt::format("tourbus_http_requests_total{{class=\"5xx\"}} {}\n", c5);
  metric("tourbus_store_commits_total", "counter", "Transactions committed by the writer.", s.writer.commits);
  metric("tourbus_store_writes_total", "counter", "Writes group-committed by the writer.", s.writer.writes);
  metric("tourbus_store_failed_commits_total", "counter", "Transactions that failed to commit.", s.writer.failed_commits);
  metric("tourbus_leader", "gauge", "1 while this node leads its cluster (runs schedules, campaigns, alerts, translations).",
         !ctx.leading || ctx.leading->load() ? 1 : 0);
  if (ctx.nats_connected)
    metric("tourbus_nats_connected", "gauge", "1 while this node is connected to NATS (cluster.nats), else 0.",
           ctx.nats_connected->load() ? 1 : 0);
  metric("tourbus_store_retried_batches_total", "counter",
         "Batches run again after a deadlock or serialization failure with another node (PostgreSQL).",
         s.writer.retried_batches);
  metric("tourbus_store_queued_writes", "gauge", "Writes waiting for the writer.", s.writer.queued);
  metric("tourbus_store_db_bytes", "gauge", "Size of the database (tourbus.db, or the PostgreSQL database).", s.store.db_bytes);
  metric("tourbus_store_wal_bytes", "gauge", "Size of the write-ahead log.", s.store.wal_bytes);
  out += "# HELP tourbus_entities Stored entities by kind.\n# TYPE tourbus_entities gauge\n";
  out += fmt::format("tourbus_entities{{kind=\"user\"}} {}\n", s.store.users);
  out += fmt::format("tourbus_entities{{kind=\"token\"}} {}\n", s.store.tokens);
  out += fmt::format("tourbus_entities{{kind=\"tour\"}} {}\n", s.store.tours);
  if (ctx.translator) {
    const auto& n = ctx.translator->counters();
    out += "# HELP tourbus_translations_total Translations asked for, by outcome (cache_hit: no engine call).\n"
           "# TYPE tourbus_translations_total counter\n";
    out += fmt::format("tourbus_translations_total{{outcome=\"translated\"}} {}\n", n.translated.load());
    out += fmt::format("tourbus_translations_total{{outcome=\"cache_hit\"}} {}\n", n.cache_hits.load());
    out += fmt::format("tourbus_translations_total{{outcome=\"failed\"}} {}\n", n.failed.load());
    out += fmt::format("tourbus_translations_total{{outcome=\"unsupported\"}} {}\n", n.unsupported.load());
    auto health = ctx.translator->health();
    out += "# HELP tourbus_translation_engine_calls_total Calls to each translation engine, by outcome.\n"
           "# TYPE tourbus_translation_engine_calls_total counter\n";
    for (const auto& h : health) {
      out += fmt::format("tourbus_translation_engine_calls_total{{engine=\"{}\",outcome=\"ok\"}} {}\n", h.name, h.ok);
      out += fmt::format("tourbus_translation_engine_calls_total{{engine=\"{}\",outcome=\"failed\"}} {}\n", h.name, h.failed);
    }
    out += "# HELP tourbus_translation_engine_up 1 when the engine answers and is not being skipped after failures.\n"
           "# TYPE tourbus_translation_engine_up gauge\n";
    for (const auto& h : health)
      out += fmt::format("tourbus_translation_engine_up{{engine=\"{}\"}} {}\n", h.name, h.reachable && !h.backing_off ? 1 : 0);
  }
  if (ctx.calls) {
    std::map<std::string, std::int64_t> states{{"ringing", 0}, {"active", 0}}, scores{{"good", 0}, {"fair", 0}, {"poor", 0}};
    for (const auto& [id, c] : ctx.calls->all()) {
      ++states[c.answered_at ? "active" : "ringing"];
      if (c.answered_at && c.quality.score) ++scores[*c.quality.score];
    }
    out += "# HELP tourbus_calls Calls under way, ringing (nobody answered yet) or active.\n# TYPE tourbus_calls gauge\n";
    for (const auto& [state, n] : states) out += fmt::format("tourbus_calls{{state=\"{}\"}} {}\n", state, n);
    out += "# HELP tourbus_call_quality Active calls by their latest quality score (call.stats).\n"
           "# TYPE tourbus_call_quality gauge\n";
    for (const auto& [score, n] : scores) out += fmt::format("tourbus_call_quality{{score=\"{}\"}} {}\n", score, n);
  }
  if (ctx.previews) {
    std::int64_t on_air = 0, viewers = 0;
    std::map<int, std::int64_t> layers{{0, 0}, {1, 0}, {2, 0}};
    for (const auto& [id, p] : ctx.previews->all()) {
      on_air += p.feed != 0;
      for (const auto& [vid, v] : p.viewers) {
        ++viewers;
        ++layers[v.substream];
      }
    }
    metric("tourbus_previews_on_air", "gauge", "Tour previews whose guide is broadcasting (docs/previews.md).", on_air);
    out += "# HELP tourbus_preview_viewers Devices watching a preview, by the simulcast layer they get (0 lowest).\n"
           "# TYPE tourbus_preview_viewers gauge\n";
    for (const auto& [layer, n] : layers) out += fmt::format("tourbus_preview_viewers{{substream=\"{}\"}} {}\n", layer, n);
  }
  metric("tourbus_translation_waiting", "gauge", "Messages waiting to be translated again after engines failed.",
         ctx.reads.with([](store::Db& db) { return translate::jobs::waiting(db); }));
  Reply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.text = std::move(out);
  co_return r;
}

boost::asio::awaitable<Result<Reply>> backup(Context& ctx, const Caller& caller, const object&) {
  // The copy is made under the state dir (the daemon may write nowhere else) and streamed to the
  // caller, who decides where it goes: no client-supplied path reaches the file system.
  auto dir = std::filesystem::path(ctx.config.get()->state_dir) / "backups";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) co_return Error(Code::internal, "cannot create " + dir.string() + ": " + ec.message());
  auto file = dir / ("backup-" + crypto::random_token(9) + ".db");
  // Copied on the blocking pool: a large database must not stall other requests.
  auto copy = [&ctx, file]() -> boost::asio::awaitable<Status> {
    co_return ctx.reads.with([&](store::Db& db) { return store::backup(db, file); });
  };
  auto pending = boost::asio::co_spawn(ctx.blocking, copy, boost::asio::use_awaitable);
  auto st = co_await std::move(pending);
  if (!st) {
    std::filesystem::remove(file, ec);
    co_return st.error();
  }
  logging::get("api")->info("api.backup_made bytes={} peer=\"{}\"", std::filesystem::file_size(file, ec), caller.peer);
  Reply r;
  r.content_type = "application/vnd.sqlite3";
  r.file = file;
  co_return r;
}

boost::asio::awaitable<Result<Reply>> reload(Context& ctx, const Caller&, const object&) {
  auto r = ctx.control.reload();
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

// Copies the live SQLite store into PostgreSQL on the writer's thread (no write is acknowledged
// meanwhile), then refuses writes: whatever came after the copy would be lost at the switch.
boost::asio::awaitable<Result<Reply>> store_migrate(Context& ctx, const Caller& caller, const object& body) {
  auto dsn = std::string(body.at("postgres").as_string());
  std::string password = body.contains("password") ? std::string(body.at("password").as_string()) : std::string();
  config::Config probe;
  probe.cluster_postgres = dsn;
  if (dsn.empty()) co_return Error(Code::invalid_argument, "postgres: a connection string is required", "postgres");
  if (!config::validate(probe))
    co_return Error(Code::invalid_argument,
                    "postgres: keep the password out of the connection string: give it as password (--password-file)",
                    "postgres");
  if (ctx.store.dialect() == store::Dialect::postgres)
    co_return Error(Code::unavailable, "the store is PostgreSQL already");
  if (auto why = ctx.writer.refusing(); !why.empty()) co_return Error(Code::unavailable, why);
  // Connected, migrated and checked empty on the blocking pool: an unreachable server holds up
  // nobody's writes.
  auto target = store::Target::pg(dsn, password);
  using Opened = std::shared_ptr<Result<std::unique_ptr<store::Db>>>;  // co_spawn wants a default
  auto open = [target]() -> boost::asio::awaitable<Opened> {
    co_return std::make_shared<Result<std::unique_ptr<store::Db>>>(store::open_target(target));
  };
  auto opening = boost::asio::co_spawn(ctx.blocking, open, boost::asio::use_awaitable);
  auto opened = co_await std::move(opening);
  if (!*opened) co_return opened->error();
  std::shared_ptr<store::Db> dest = std::move(**opened);
  // Refused from inside the copy's write: no write queued behind it is made (and acknowledged) on
  // SQLite after the copy.
  auto& writer = ctx.writer;
  auto pending = ctx.writer.run<store::CopyReport>([dest, &writer](store::Db& db) -> Result<store::CopyReport> {
    auto r = store::copy_into(db, *dest);
    if (r) writer.refuse_writes("the store was copied to PostgreSQL: restart tourbusd with cluster.postgres set");
    return r;
  });
  auto report = co_await std::move(pending);
  if (!report) co_return report.error();
  logging::get("store")->info("store.migrated_to_postgres dsn=\"{}\" rows={} tables={} peer=\"{}\"", logging::quoted_field(dsn),
                              report->rows, report->tables.size(), caller.peer);
  object tables;
  for (const auto& [name, rows] : report->tables) tables[name] = rows;
  co_return Reply::ok(object{{"schema_version", report->schema_version}, {"rows", report->rows}, {"tables", std::move(tables)}});
}

namespace {
const Binding kBindings[] = {
    {"status", status},
    {"metrics", metrics},
    {"backup", backup},
    {"reload", reload},
    {"store.migrate", store_migrate},
};
}  // namespace

std::span<const Binding> system_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
