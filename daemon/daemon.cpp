#include "daemon.hpp"

#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>

#include "core/json.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "lock_file.hpp"
#include "membership.hpp"
#include "api/maintenance.hpp"
#include "chat/files.hpp"
#include "channels/channels.hpp"
#include "net/http_server.hpp"
#include "notify/dispatcher.hpp"
#include "notify/outbox.hpp"
#include "api/handlers.hpp"
#include "api/on_leader.hpp"
#include "core/links.hpp"
#include "safety/runner.hpp"
#include "safety/tracker.hpp"
#include "calls/live.hpp"
#include "calls/previews.hpp"
#include "calls/records.hpp"
#include "translate/runner.hpp"
#include "translate/translator.hpp"
#include "schedule/campaign_runner.hpp"
#include "schedule/plan.hpp"
#include "store/secrets.hpp"
#include "schedule/scheduler.hpp"
#include "realtime/hub.hpp"
#include "api/fanout.hpp"
#include "realtime/relay.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::daemon {

namespace asio = boost::asio;

Result<config::Config> build_config(const Options& options) {
  config::Config c;
  // Secrets may come as systemd credentials (LoadCredential=), with or without a config file.
  std::filesystem::path credentials;
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir) credentials = dir;
  if (options.config_file) {
    auto loaded = config::load_file(*options.config_file, c, credentials);
    if (!loaded) return loaded.error();
    c = *loaded;
  } else if (!credentials.empty()) {
    if (auto st = config::apply_credentials(c, credentials); !st) return st.error();
  }
  if (options.overrides) options.overrides(c);
  if (auto st = config::validate(c); !st) return st.error();
  return c;
}

namespace {

// cluster.node, else the host name.
std::string node_name(const config::Config& cfg) {
  if (!cfg.cluster_node.empty()) return cfg.cluster_node;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !*host) return "tourbusd";
  return host;
}

// SIGHUP and `tourbus reload`: build a new config, validate it, swap it; on failure keep the old.
class Reloader : public api::Control {
 public:
  Reloader(const Options& options, config::Holder& holder) : options_(options), holder_(holder) {}

  // Runs on every reload with the new config before it is swapped in; an error keeps the old one.
  std::function<Status(const config::Config&)> prepare;
  // Runs after a reload was applied.
  std::function<void()> after_reload;

  Result<boost::json::value> reload() override {
    auto log = logging::get("daemon");
    sd_notify(0, "RELOADING=1");
    auto next = build_config(options_);
    if (!next) {
      log->error("daemon.reload_failed error=\"{}\" (keeping the running config)", next.error().message);
      sd_notify(0, "READY=1\nSTATUS=reload failed; running with the previous config");
      return Error(next.error().code, "reload failed, the running config is kept: " + next.error().message,
                   next.error().field);
    }
    if (prepare) {
      if (auto st = prepare(*next); !st) {
        log->error("daemon.reload_failed error=\"{}\" (keeping the running config)", st.error().message);
        sd_notify(0, "READY=1\nSTATUS=reload failed; running with the previous config");
        return Error(st.error().code, "reload failed, the running config is kept: " + st.error().message, st.error().field);
      }
    }
    auto current = holder_.get();
    config::Config merged = *current;
    boost::json::array applied, restart;
    for (auto name : config::changed_keys(*current, *next)) {
      const auto* key = config::find_key(name);
      if (key->reloadable) {
        std::visit([&](auto m) { merged.*m = (*next).*m; }, key->member);
        applied.emplace_back(name);
      } else {
        restart.emplace_back(name);
      }
    }
    holder_.set(merged);
    logging::set_level(merged.log_level);
    log->info("daemon.reloaded applied={} needs_restart={}", json::dump(applied),
              json::dump(restart));
    sd_notify(0, "READY=1\nSTATUS=running");
    if (after_reload) after_reload();
    return boost::json::value(boost::json::object{{"applied", applied}, {"needs_restart", restart}});
  }

 private:
  const Options& options_;
  config::Holder& holder_;
};

// Raises the open-file soft limit to the hard limit (the common soft limit of 1024 is far too few
// for a server of many connections) and returns the limit in force.
std::int64_t raise_fd_limit(spdlog::logger& log) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  auto before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) lim.rlim_cur = before;
  }
  auto shown = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
  log.info("daemon.fd_limit soft={} hard={} raised_from={}", shown(lim.rlim_cur), shown(lim.rlim_max), shown(before));
  return lim.rlim_cur == RLIM_INFINITY ? 0 : static_cast<std::int64_t>(lim.rlim_cur);
}

}  // namespace

int run(const Options& options, config::Config cfg) {
  auto log = logging::get("daemon");
  auto fd_limit = raise_fd_limit(*log);
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) {
    log->critical("daemon.start_failed error=\"cannot create state dir {}: {}\"", cfg.state_dir, ec.message());
    return 1;
  }
  auto lock = LockFile::acquire(std::filesystem::path(cfg.state_dir) / "tourbusd.lock");
  if (!lock) {
    log->critical("daemon.start_failed error=\"{}\"", lock.error().message);
    return 1;
  }

  config::Holder holder(cfg);
  std::unique_ptr<store::Writer> writer;
  std::unique_ptr<store::ReadPool> reads;
  auto target = cfg.cluster_postgres.empty() ? store::Target(cfg.database_path())
                                             : store::Target::pg(cfg.cluster_postgres, cfg.cluster_postgres_password);
  try {
    writer = std::make_unique<store::Writer>(
        target, store::Writer::Options{cfg.synchronous, static_cast<std::size_t>(cfg.max_batch)});
    reads = std::make_unique<store::ReadPool>(target, static_cast<std::size_t>(cfg.read_connections));
  } catch (const std::exception& e) {
    log->critical("daemon.start_failed error=\"store: {}\"", e.what());
    return 1;
  }
  if (target.dialect() == store::Dialect::postgres)
    log->info("store.opened engine=postgres dsn=\"{}\" schema_version={} node={}", target.describe(), writer->schema_version(),
              node_name(cfg));
  else
    log->info("store.opened path={} schema_version={} synchronous={}", target.describe(), writer->schema_version(),
              cfg.synchronous);

  std::unique_ptr<chat::Sniffer> sniffer;
  try {
    sniffer = std::make_unique<chat::Sniffer>();
  } catch (const std::exception& e) {
    log->critical("daemon.start_failed error=\"{}\"", e.what());
    return 1;
  }

  api::Stats stats;
  stats.fd_limit = fd_limit;
  Reloader reloader(options, holder);
  asio::thread_pool blocking(2);
  realtime::Hub hub;  // outlives the event loop and the sessions registered with it
  asio::io_context io(1);
  // Several nodes with NATS (docs/scaling.md): pushes and revocations reach every node's sessions.
  api::StoreBackfill backfill(*reads);
  std::unique_ptr<realtime::Relay> relay;
  if (!cfg.cluster_nats.empty()) {
    try {
      relay = std::make_unique<realtime::Relay>(io, hub, backfill, node_name(cfg), cfg.cluster_nats);
    } catch (const std::exception& e) {
      log->critical("daemon.start_failed error=\"{}\"", e.what());
      return 1;
    }
  }
  events::Sink& sink = relay ? static_cast<events::Sink&>(*relay) : hub;
  sessions::Control& control = relay ? static_cast<sessions::Control&>(*relay) : hub;
  api::Context ctx{blocking.get_executor(), *writer, *reads, holder, stats, reloader, sink, control, target, node_name(cfg),
                   cfg.files_dir(), *sniffer, timeutil::now_ms()};
  if (relay) {
    ctx.nats_connected = &relay->connected_flag();
    relay->on_presence([&ctx](std::int64_t user, events::Presence now_is, bool node_gone) {
      if (node_gone && now_is == events::Presence::offline) api::record_last_seen(ctx, user);
      api::announce_presence(ctx, user, now_is);
    });
  }

  // Notification workers: the in-app feed, and each network channel on its own threads.
  notify::Dispatcher dispatcher(io, *writer, *reads, holder, sink);
  for (auto& channel : channels::make_all()) dispatcher.add(std::move(channel));
  ctx.notify = &dispatcher;
  // Several nodes on one PostgreSQL store (docs/scaling.md): each says it is alive in the nodes
  // table, claims notification jobs under its name, and one of them leads (runs the loops below).
  const std::string node = node_name(cfg);
  Membership membership(io, *writer, *reads, target, node, stats);
  const bool alone = membership.alone();  // no other node alive on this store
  if (membership.clustered()) {
    if (auto released = membership.release_claims(); released > 0)
      log->info("notify.claims_released jobs={} (held by an earlier run of node {})", released, node);
    dispatcher.claim_as(node);
  }
  // Signed links in messages (review, unsubscribe): the key is made once and kept in the store;
  // the links point at server.public_url, else at the address the daemon listens on.
  {
    auto key = writer->run_sync<std::string>([](store::Db& db) -> Result<std::string> {
      return store::secrets::get_or_create(db, "links", timeutil::now_ms());
    });
    if (!key) {
      log->critical("daemon.start_failed error=\"store: {}\"", key.error().message);
      return 1;
    }
    ctx.link_key = *key;
  }
  auto review_link = [&](const store::User& u, std::int64_t tour) {
    constexpr std::int64_t kReviewLinkDays = 180;
    links::Link l{links::Kind::review, u.id, tour, timeutil::now_ms() + kReviewLinkDays * 86'400'000};
    return notify::Vars{{"review_url", api::handlers::link_url(ctx, l)}};
  };
  auto campaign_links = [&](const store::User& u, std::int64_t campaign, bool tracked) {
    auto vars = api::handlers::unsubscribe_vars(ctx, u, campaign);
    if (tracked) vars["url"] = api::handlers::link_url(ctx, links::Link{links::Kind::click, u.id, campaign, 0});
    return vars;
  };
  // Reminders, rules and review requests: one timer over the table of due firings.
  schedule::Scheduler scheduler(io, *writer, *reads, holder, dispatcher, &timeutil::now_ms, review_link);
  ctx.scheduler = &scheduler;
  // Campaigns: throttled batches of their recipients.
  schedule::CampaignRunner campaigns(io, *writer, *reads, holder, dispatcher, &timeutil::now_ms, campaign_links);
  ctx.campaigns = &campaigns;
  // Safety: alerts sent in batches, the escalation ladder and SOS rings; what positions mean.
  safety::Tracker tracker;
  ctx.tracker = &tracker;
  safety::Runner safety_runner(io, *writer, *reads, holder, dispatcher, sink, &timeutil::now_ms,
                               [&](std::int64_t user, std::int64_t alert) { return api::handlers::answer_links(ctx, user, alert); });
  ctx.safety = &safety_runner;
  // Translation: committed text messages into their readers' languages, on worker threads.
  translate::Translator translator(holder);
  ctx.translator = &translator;
  translate::Runner translation(io, *writer, *reads, holder, translator, sink, &timeutil::now_ms);
  ctx.translation = &translation;
  // Calls: the live ones on this loop; those a stopped daemon left open are over.
  calls::Registry call_registry;
  ctx.calls = &call_registry;
  ctx.loop = io.get_executor();
  // With NATS, calls and previews live on the leader: the others ask it (api/on_leader.hpp).
  ctx.relay = relay.get();
  api::serve_other_nodes(ctx);
  // (With other nodes alive, their calls and previews are theirs: left as they are.)
  using Failed = std::vector<calls::records::Failed>;
  if (auto failed = !alone ? Result<Failed>(Failed{}) : writer->run_sync<Failed>([](store::Db& db) -> Result<Failed> {
        return calls::records::fail_open(db, timeutil::now_ms());
      });
      failed && !failed->empty())
    log->warn("calls.interrupted calls={} (left open when tourbusd stopped: ended as failed)", failed->size());
  // Tour previews: Janus is called on a pool of its own; previews a stopped daemon left live are
  // over (their rooms go and their recordings are stored once the server runs).
  asio::thread_pool janus_pool(4);
  calls::PreviewRegistry preview_registry(janus_pool.get_executor());
  ctx.previews = &preview_registry;
  auto interrupted_previews = !alone ? Result<std::vector<std::int64_t>>(std::vector<std::int64_t>{}) : writer->run_sync<std::vector<std::int64_t>>(
      [](store::Db& db) -> Result<std::vector<std::int64_t>> { return calls::previews::end_open(db, timeutil::now_ms()); });
  if (interrupted_previews && !interrupted_previews->empty())
    log->warn("calls.previews_interrupted previews={} (left live when tourbusd stopped: ended)", interrupted_previews->size());
  // The review requests follow review.* in the config, at start-up and on every reload.
  auto sync_review = [&](const config::Config& c) {
    schedule::ReviewSettings r{c.review_template, c.review_after_minutes * 60'000, static_cast<int>(c.review_nudges),
                               c.review_nudge_every_hours * 3'600'000};
    auto changed = writer->run_sync<bool>([r](store::Db& db) -> Result<bool> {
      return schedule::sync_review(db, r, timeutil::now_ms());
    });
    if (changed && *changed)
      log->info("schedule.review_configured template={} after_minutes={} nudges={} nudge_every_hours={}",
                c.review_template.empty() ? "(off)" : c.review_template, c.review_after_minutes, c.review_nudges,
                c.review_nudge_every_hours);
    scheduler.wake();
  };
  sync_review(cfg);
  net::HttpServer server(io, ctx, hub);
  // TLS files are read at start-up and again on every reload, so a renewed certificate needs no restart.
  auto use_tls = [&](const config::Config& c) -> Status {
    if (c.tls_certificate.empty()) {
      server.set_tls(nullptr);
      return {};
    }
    auto tls = net::load_tls(c.tls_certificate, c.tls_key);
    if (!tls) return tls.error();
    server.set_tls(*tls);
    return {};
  };
  if (auto st = use_tls(cfg); !st) {
    log->critical("daemon.start_failed error=\"{}\"", st.error().message);
    return 1;
  }
  reloader.prepare = use_tls;
  reloader.after_reload = [&] {
    dispatcher.wake();   // a channel configured by the reload starts on its queue
    sync_review(*holder.get());
    server.configure();  // Socket.IO sessions opened from now on use the new settings
  };
  try {
    auto [host, port] = *config::parse_listen(cfg.listen);
    auto bound = server.listen_tcp(host, port);
    stats.set_listen_address(bound);
    log->info("net.listening transport=tcp address={} tls={}", bound, cfg.tls_certificate.empty() ? "off" : "on");
    server.listen_unix(cfg.socket_path(), cfg.socket_group);
    log->info("net.listening transport=unix path={}", cfg.socket_path().string());
  } catch (const std::exception& e) {
    log->critical("daemon.start_failed error=\"listen: {}\"", e.what());
    return 1;
  }
  membership.lead([&](bool on) {
    api::lead_changed(ctx, on);
    if (!on) return;
    scheduler.wake();
    campaigns.wake();
    safety_runner.wake();
    translation.wake();
  });
  ctx.leading = &membership.leading();
  if (membership.clustered()) {
    scheduler.set_shift(membership.shift());
    campaigns.set_shift(membership.shift());
    safety_runner.set_shift(membership.shift());
    translation.set_shift(membership.shift());
  }
  if (auto beat = membership.start(); !beat) {
    log->critical("daemon.start_failed error=\"store: {}\"", beat.error().message);
    return 1;
  }

  server.start();
  dispatcher.start();
  scheduler.start();
  campaigns.start();
  safety_runner.start();
  translation.start();
  {
    std::string channels;
    for (const auto& c : dispatcher.configured()) channels += (channels.empty() ? "" : ",") + c;
    log->info("notify.started channels={} templates={}", channels, cfg.templates_dir().string());
  }

  // Expired uploads go at start-up and then daily.
  asio::steady_timer housekeeping(io);
  std::function<void()> housekeep = [&] {
    asio::co_spawn(io, api::expire_files(ctx), [&](std::exception_ptr) {
      housekeeping.expires_after(std::chrono::hours(24));
      housekeeping.async_wait([&](boost::system::error_code e) {
        if (!e) housekeep();
      });
    });
  };
  housekeep();
  // Positions past location.retention_hours go at start-up and then hourly.
  asio::steady_timer location_expiry(io);
  std::function<void()> expire_positions = [&] {
    asio::co_spawn(io, api::expire_locations(ctx), [&](std::exception_ptr) {
      location_expiry.expires_after(std::chrono::hours(1));
      location_expiry.async_wait([&](boost::system::error_code e) {
        if (!e) expire_positions();
      });
    });
  };
  expire_positions();
  asio::co_spawn(io, api::keep_previews_alive(ctx), asio::detached);
  if (interrupted_previews && !interrupted_previews->empty())
    asio::co_spawn(io, api::recover_previews(ctx, *interrupted_previews), asio::detached);

  // Signals are commands: HUP reloads, TERM/INT drain and stop, a second TERM/INT exits at once.
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  bool stopping = false;
  asio::steady_timer drain_timer(io);
  auto deadline = std::chrono::steady_clock::time_point::max();
  std::function<void()> check_drained = [&] {
    if (server.drained() || std::chrono::steady_clock::now() >= deadline) {
      if (!server.drained()) log->warn("daemon.grace_expired closing the remaining connections");
      server.close_all();
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](boost::system::error_code) { check_drained(); });
  };
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code e, int sig) {
    if (e) return;
    if (sig == SIGHUP) {
      log->info("daemon.reload_requested signal=SIGHUP");
      (void)reloader.reload();
    } else if (stopping) {
      log->warn("daemon.exit_now signal={} (second signal)", sig);
      std::_Exit(1);
    } else {
      stopping = true;
      log->info("daemon.stopping signal={} in_flight={}", sig == SIGTERM ? "SIGTERM" : "SIGINT", stats.in_flight.load());
      sd_notify(0, "STOPPING=1");
      server.drain();
      dispatcher.stop();
      scheduler.stop();
      campaigns.stop();
      safety_runner.stop();
      translation.stop();
      housekeeping.cancel();
      location_expiry.cancel();
      membership.stop_beating();
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(holder.get()->shutdown_grace_seconds);
      check_drained();
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  // Watchdog: pings come from the event loop, so a stuck loop gets the daemon restarted.
  asio::steady_timer watchdog(io);
  std::uint64_t watchdog_usec = 0;
  std::function<void()> ping = [&] {
    sd_notify(0, "WATCHDOG=1");
    watchdog.expires_after(std::chrono::microseconds(watchdog_usec / 2));
    watchdog.async_wait([&](boost::system::error_code e) {
      if (!e) ping();
    });
  };
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) ping();

  sd_notifyf(0, "READY=1\nSTATUS=listening on %s\nMAINPID=%d", stats.get_listen_address().c_str(), ::getpid());
  log->info("daemon.ready version={} pid={} listen={} socket={}", TOURBUS_VERSION, ::getpid(),
            stats.get_listen_address(), cfg.socket_path().string());

  io.run();
  scheduler.stop();
  campaigns.stop();
  safety_runner.stop();
  translation.stop();
  dispatcher.stop();
  dispatcher.join();
  membership.leave();

  blocking.join();
  writer->stop();
  reads.reset();
  log->info("daemon.stopped");
  return 0;
}

}  // namespace tourbus::daemon
