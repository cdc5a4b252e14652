// tourbus follow (new messages as JSON lines) and tourbus chat (an interactive terminal chat for
// guides). Both reconnect by themselves and catch up without losing or repeating messages.
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include "core/json.hpp"

#include "commands.hpp"
#include "core/crypto.hpp"
#include "core/time.hpp"
#include "feed.hpp"
#include "output.hpp"

namespace tourbus::cli {

namespace asio = boost::asio;
using asio::awaitable;
using boost::json::object;

namespace {

struct Remote {
  std::string server, token, cacert;
};

Result<Endpoint> endpoint_for(const Globals& g, const Remote& r) {
  if (r.server.empty()) {
    Endpoint e;
    e.socket = find_socket(g).string();
    e.as = g.as;
    return e;
  }
  auto e = parse_server_url(r.server);
  if (!e) return e.error();
  e->token = !r.token.empty() ? r.token : (std::getenv("TOURBUS_TOKEN") ? std::getenv("TOURBUS_TOKEN") : "");
  if (e->token.empty()) return Error(Code::invalid_argument, "--server needs a token: --token or TOURBUS_TOKEN");
  e->cacert = !r.cacert.empty() ? r.cacert : (std::getenv("TOURBUS_CACERT") ? std::getenv("TOURBUS_CACERT") : "");
  if (!e->cacert.empty() && !e->tls) return Error(Code::invalid_argument, "--cacert is for wss:// servers", "cacert");
  if (!g.as.empty()) return Error(Code::invalid_argument, "--as works on the control socket only; --server uses the token's user");
  return e;
}

void add_remote_options(CLI::App* cmd, Remote& r) {
  cmd->add_option("--server", r.server, "Connect to ws://HOST[:PORT] or wss://HOST[:PORT] instead of the control socket");
  cmd->add_option("--token", r.token, "With --server: the access token (default: $TOURBUS_TOKEN)");
  cmd->add_option("--cacert", r.cacert,
                  "With wss://: trust the CA (or self-signed certificate) in this PEM file besides the system's (default: $TOURBUS_CACERT)");
}

awaitable<void> pause(asio::io_context& io, std::chrono::milliseconds d) {
  asio::steady_timer t(io);
  t.expires_after(d);
  auto pending = t.async_wait(asio::as_tuple(asio::use_awaitable));
  co_await std::move(pending);
}

// Connects, retrying with a backoff (0.25 s doubling up to 5 s) while the daemon is unreachable.
// A command's first connection is not retried, so a wrong address fails at once.
awaitable<Status> connect_retrying(asio::io_context& io, Live& live, bool retry) {
  auto backoff = std::chrono::milliseconds(250);
  for (;;) {
    auto st = co_await live.connect();
    if (st || !retry || st.error().code != Code::unavailable) co_return st;
    co_await pause(io, backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

// ---- follow --------------------------------------------------------------------------------

// What follow's coroutines share, owned by the caller beyond the event loop: a connection's reader
// and writer may still be finishing when a new connection replaces it or the loop stops.
struct Following {
  Feed feed{[](const object& m) { std::cout << json::dump(m) << std::endl; }};
  std::vector<std::unique_ptr<Live>> lives;  // every connection made
};

awaitable<int> follow(asio::io_context& io, const Globals& g, Endpoint endpoint, std::vector<std::int64_t> only,
                      std::optional<std::int64_t> after, Following& state) {
  std::set<std::int64_t> wanted(only.begin(), only.end());
  auto& feed = state.feed;
  bool first = true;
  for (;;) {
    auto& live = *state.lives.emplace_back(std::make_unique<Live>(io, endpoint));
    live.on_push = [&](const std::string& event, const object& data) {
      if (event != "message") return;
      auto conv = data.at("conversation").as_int64();
      if (!wanted.empty() && !wanted.contains(conv)) return;
      if (feed.push(data)) asio::co_spawn(io, [&feed, &live, conv]() -> awaitable<void> { (void)co_await feed.catch_up(live, conv); }, asio::detached);
    };
    auto st = co_await connect_retrying(io, live, !first);
    if (!st) co_return fail(g, st.error());
    asio::co_spawn(io, live.run(), asio::detached);
    // Catch up: the conversations asked for, or every conversation the caller can see.
    std::vector<std::pair<std::int64_t, std::int64_t>> convs;  // id, last_seq
    if (!wanted.empty()) {
      for (auto id : wanted) {
        auto call1 = live.call("conversation.show", object{{"id", id}});
        auto c = co_await std::move(call1);
        if (!c) co_return fail(g, c.error());
        convs.emplace_back(id, c->at("last_seq").as_int64());
      }
    } else {
      auto call2 = live.call("conversation.list", object{{"limit", 1000}});
      auto list = co_await std::move(call2);
      if (!list) {
        if (list.error().code == Code::unavailable) continue;
        co_return fail(g, list.error());
      }
      for (const auto& c : list->at("conversations").as_array())
        convs.emplace_back(c.at("id").as_int64(), c.at("last_seq").as_int64());
    }
    for (auto [id, last] : convs) {
      if (!feed.knows(id)) feed.start_at(id, first && after && wanted.size() == 1 ? *after : (first ? last : 0));
      if (last > feed.shown(id)) (void)co_await feed.catch_up(live, id);
    }
    if (first && !g.quiet) std::cerr << "tourbus: following " << (wanted.empty() ? "every conversation" : "the conversation")
                                      << " at " << endpoint.describe() << "\n";
    first = false;
    while (live.open()) co_await pause(io, std::chrono::milliseconds(200));
    if (!g.quiet) std::cerr << "tourbus: connection lost; reconnecting\n";
  }
}

// ---- chat ----------------------------------------------------------------------------------

// The terminal: raw mode for a line editor with a prompt that incoming messages print above;
// plain lines when standard input is not a terminal.
class Screen {
 public:
  Screen() : tty_(::isatty(0) && ::isatty(1)) {
    if (!tty_) return;
    ::tcgetattr(0, &saved_);
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(0, TCSANOW, &raw);
  }
  ~Screen() {
    if (tty_) {
      std::cout << "\r\033[K" << std::flush;
      ::tcsetattr(0, TCSANOW, &saved_);
    }
  }
  bool tty() const { return tty_; }
  void line(const std::string& text) {
    if (tty_) std::cout << "\r\033[K";
    std::cout << text << "\n";
    ++lines_;
    redraw();
  }
  // How many lines were printed so far: tells whether a line still follows another.
  std::uint64_t lines() const { return lines_; }
  void redraw() {
    if (tty_) std::cout << "\r\033[K" << prompt_ << input_ << std::flush;
    else std::cout << std::flush;
  }
  void set_prompt(std::string p) {
    prompt_ = std::move(p);
    redraw();
  }
  std::string input_;

 private:
  bool tty_;
  termios saved_{};
  std::string prompt_;
  std::uint64_t lines_ = 0;
};

std::string local_time(const boost::json::value& v) {
  auto t = timeutil::parse_time(std::string(v.as_string()), "UTC");
  if (!t) return "--:--";
  std::time_t secs = *t / 1000;
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M", &tm);
  return buf;
}

std::string sender_of(const object& m) {
  return m.at("sender").is_null() ? std::string("*") : std::string(m.at("sender").as_string());
}

std::string render(const object& m) {
  auto text = message_content(m);
  if (m.at("kind") == "system") return local_time(m.at("created_at")) + " * " + text;
  return local_time(m.at("created_at")) + " " + sender_of(m) + ": " + text;
}

// How `chat --translations` shows machine translations of others' messages.
enum class Translations { below, replace, off };

// The primary subtag of a language tag, as the daemon keys translations: "en-GB" -> "en".
std::string primary_language(std::string_view tag) {
  std::string out;
  for (char c : tag) {
    if (c == '-' || c == '_') break;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string text_of(const object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A message shown by its translation in place of the original (--translations replace):
// "12:03 maria ↳ es→en (machine, /original 12): Hello".
std::string render_translated(const object& m, std::string_view lang, const object& t) {
  const boost::json::value none;
  const auto* pivot = t.if_contains("pivot");
  auto label = translation_label(m.at("lang"), lang, pivot ? *pivot : none);
  label.insert(label.size() - 1, ", /original " + show(m.at("seq")));
  return local_time(m.at("created_at")) + " " + sender_of(m) + " ↳ " + label + ": " + show(t.at("text"));
}

class Chat {
 public:
  Chat(asio::io_context& io, const Globals& g, Endpoint endpoint, Translations translations)
      : io_(io), g_(g), endpoint_(std::move(endpoint)), translations_(translations), typing_timer_(io) {}

  awaitable<int> run(std::optional<std::int64_t> start) {
    start_input();
    bool first = true;
    while (!quit_) {
      if (live_) retired_.push_back(std::move(live_));  // its coroutines may still be finishing
      live_ = std::make_unique<Live>(io_, endpoint_);
      live_->on_push = [this](const std::string& e, const object& d) { on_push(e, d); };
      auto st = co_await connect_retrying(io_, *live_, !first);
      if (!st) co_return fail(g_, st.error());
      asio::co_spawn(io_, live_->run(), asio::detached);
      if (first) {
        co_await learn_reader();
        if (!start) start = co_await choose();
        if (!start) co_return exit_code::ok;
        auto opened = co_await open(*start);
        if (!opened) co_return fail(g_, opened.error());
        first = false;
      } else {
        screen_.line("-- reconnected");
        (void)co_await feed_.catch_up(*live_, conversation_);
        co_await resend();
      }
      while (live_->open() && !quit_) co_await handle_input();
      if (!quit_) screen_.line("-- connection lost; reconnecting");
    }
    co_return exit_code::ok;
  }

 private:
  // Lines (or, on a terminal, keystrokes) come from a reader thread through the event loop. The
  // thread may outlive the chat, blocked on standard input: it touches only the (never destroyed)
  // event loop, and what it posts after the loop stopped never runs.
  void start_input() {
    std::thread([this, &io = io_, tty = screen_.tty()] {
      if (tty) {
        char c;
        while (::read(0, &c, 1) == 1) asio::post(io, [this, c] { key(c); });
      } else {
        std::string l;
        while (std::getline(std::cin, l)) asio::post(io, [this, l] { lines_.push_back(l); wake(); });
      }
      asio::post(io, [this] { eof_ = true; wake(); });
    }).detach();
  }

  void wake() {
    if (waiter_) waiter_->cancel();
  }

  void key(char c) {
    if (c == '\r' || c == '\n') {
      lines_.push_back(std::move(screen_.input_));
      screen_.input_.clear();
      screen_.redraw();
      wake();
    } else if (c == 127 || c == 8) {
      while (!screen_.input_.empty() && (static_cast<unsigned char>(screen_.input_.back()) & 0xc0) == 0x80)
        screen_.input_.pop_back();
      if (!screen_.input_.empty()) screen_.input_.pop_back();
      screen_.redraw();
    } else if (c == 4 && screen_.input_.empty()) {  // Ctrl-D
      eof_ = true;
      wake();
    } else if (c == 27) {
      escape_ = 1;
    } else if (escape_) {
      // ESC [ 5 ~ is Page Up: scroll back
      escape_ = (escape_ == 1 && c == '[') ? 2 : (escape_ == 2 && c == '5') ? 3 : 0;
      if (escape_ == 0 && c == '~') {
        lines_.push_back("/history");
        wake();
      }
    } else if (static_cast<unsigned char>(c) >= 0x20) {
      screen_.input_ += c;
      screen_.redraw();
      typed();
    }
  }

  // Tells the others the guide is typing, at most every three seconds.
  void typed() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_typing_ < std::chrono::seconds(3) || !live_ || !live_->open()) return;
    last_typing_ = now;
    asio::co_spawn(io_, [this]() -> awaitable<void> {
      auto call3 = live_->call("typing", object{{"conversation", conversation_}});
      (void)co_await std::move(call3);
    }, asio::detached);
  }

  awaitable<std::optional<std::string>> next_line() {
    while (lines_.empty() && !eof_ && live_->open()) {
      asio::steady_timer t(io_);
      waiter_ = &t;
      t.expires_after(std::chrono::seconds(1));
      auto pending = t.async_wait(asio::as_tuple(asio::use_awaitable));
      co_await std::move(pending);
      waiter_ = nullptr;
    }
    if (lines_.empty()) co_return std::nullopt;
    auto l = std::move(lines_.front());
    lines_.pop_front();
    co_return l;
  }

  // Who reads: their handle and language, to know which messages a translation will follow.
  // An operator as such (no --as, no token) has neither and sees every language's translations.
  awaitable<void> learn_reader() {
    auto call = live_->call("me", object{});
    auto me = co_await std::move(call);
    if (!me || !me->is_object()) co_return;
    me_ = text_of(me->as_object(), "handle");
    reader_lang_ = primary_language(text_of(me->as_object(), "language"));
  }

  awaitable<std::optional<std::int64_t>> choose() {
    auto call4 = live_->call("conversation.list", object{});
    auto list = co_await std::move(call4);
    if (!list) {
      screen_.line("tourbus: " + list.error().message);
      co_return std::nullopt;
    }
    const auto& convs = list->at("conversations").as_array();
    if (convs.empty()) {
      screen_.line("No conversations yet.");
      co_return std::nullopt;
    }
    screen_.line("Conversations:");
    for (const auto& c : convs) {
      auto title = std::string(c.at("title").as_string());
      screen_.line("  " + show(c.at("id")) + "  " + (title.empty() ? "(" + show(c.at("kind")) + ")" : title) +
                   (c.as_object().contains("unread") ? "  " + show(c.at("unread")) + " unread" : ""));
    }
    screen_.set_prompt("conversation id> ");
    for (;;) {
      auto l = co_await next_line();
      if (!l) co_return std::nullopt;
      try {
        co_return std::stoll(*l);
      } catch (const std::exception&) {
        screen_.line("type a conversation id from the list");
      }
    }
  }

  awaitable<Status> open(std::int64_t id) {
    auto call5 = live_->call("conversation.show", object{{"id", id}});
    auto c = co_await std::move(call5);
    if (!c) co_return c.error();
    conversation_ = id;
    title_ = std::string(c->at("title").as_string());
    if (title_.empty()) {
      for (const auto& m : c->at("members").as_array()) {
        auto h = std::string(m.at("handle").as_string());
        if (h != endpoint_.as) title_ += (title_.empty() ? "" : ", ") + h;
      }
    }
    auto last = c->at("last_seq").as_int64();
    live_after_ = last;
    waiting_.clear();
    auto call6 = live_->call("message.history", object{{"conversation", id}, {"limit", 20}});
    auto page = co_await std::move(call6);
    if (!page) co_return page.error();
    screen_.line("-- " + title_ + " (conversation " + std::to_string(id) + "); /help for commands");
    oldest_ = last + 1;
    feed_.start_at(id, 0);
    const auto& msgs = page->at("messages").as_array();
    if (!msgs.empty()) {
      oldest_ = msgs.front().at("seq").as_int64();
      feed_.start_at(id, oldest_ - 1);
    } else {
      feed_.start_at(id, last);
    }
    for (const auto& m : msgs) feed_.push(m.as_object());
    (void)co_await feed_.catch_up(*live_, id);
    update_prompt();
    co_return Status{};
  }

  void update_prompt() {
    std::string typing;
    auto now = std::chrono::steady_clock::now();
    for (auto it = typing_.begin(); it != typing_.end();)
      if (it->second <= now) it = typing_.erase(it);
      else typing += (typing.empty() ? "" : ", ") + (it++)->first;
    screen_.set_prompt("[" + title_ + "]" + (typing.empty() ? "" : " (" + typing + " typing)") + " > ");
  }

  void on_push(const std::string& event, const object& d) {
    if (event == "message" && d.at("conversation").as_int64() == conversation_) {
      if (d.contains("sender") && d.at("sender").is_string()) typing_.erase(std::string(d.at("sender").as_string()));
      if (feed_.push(d)) asio::co_spawn(io_, [this]() -> awaitable<void> { (void)co_await feed_.catch_up(*live_, conversation_); }, asio::detached);
      update_prompt();
    } else if (event == "message.updated" && d.at("conversation").as_int64() == conversation_) {
      screen_.line("(message " + show(d.at("seq")) + " " + (d.at("deleted").as_bool() ? "deleted" : "edited") + ") " + render(d));
    } else if (event == "typing" && d.at("conversation").as_int64() == conversation_) {
      auto who = std::string(d.at("user").as_string());
      if (d.at("state") == "typing")
        typing_[who] = std::chrono::steady_clock::now() + std::chrono::milliseconds(d.at("expires_in_ms").as_int64());
      else typing_.erase(who);
      update_prompt();
      typing_timer_.expires_after(std::chrono::milliseconds(d.at("expires_in_ms").as_int64()));
      typing_timer_.async_wait([this](boost::system::error_code e) {
        if (!e) update_prompt();
      });
    } else if (event == "presence") {
      screen_.line("-- " + show(d.at("user")) + " is " + show(d.at("status")));
    } else if (event == "message.translated" && translations_ != Translations::off &&
               d.at("conversation").as_int64() == conversation_) {
      translated(d);
    } else if (event == "translation.unavailable" && translations_ != Translations::off) {
      unavailable(d);
    }
  }

  // A translation of a message shown before: in place of its marker (replace), else under it,
  // naming the message when other lines came in between.
  void translated(const object& d) {
    auto seq = d.at("seq").as_int64();
    auto lang = text_of(d, "lang");
    if (auto it = waiting_.find(seq); it != waiting_.end()) {
      screen_.line(render_translated(it->second, lang, d));
      waiting_.erase(it);
      return;
    }
    bool follows = seq == last_seq_ && screen_.lines() == last_line_;
    const boost::json::value none;
    const auto* from = d.if_contains("from");
    const auto* pivot = d.if_contains("pivot");
    screen_.line(std::string("    ↳ ") + (follows ? "" : "#" + std::to_string(seq) + " ") +
                 translation_label(from ? *from : none, lang, pivot ? *pivot : none) + ": " + show(d.at("text")));
    last_line_ = screen_.lines();
  }

  // No engine translates the pair: said once per conversation and pair. Originals that waited
  // for it are shown now.
  void unavailable(const object& d) {
    auto conv = d.at("conversation").as_int64();
    auto from = text_of(d, "from");
    auto reason = text_of(d, "reason");
    screen_.line("-- " + (conv == conversation_ ? std::string() : "conversation " + std::to_string(conv) + ": ") +
                 "no machine translation from " + from + " to " + text_of(d, "lang") + (reason.empty() ? "" : " (" + reason + ")"));
    if (conv != conversation_) return;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (text_of(it->second, "lang") != from) {
        ++it;
        continue;
      }
      screen_.line(render(it->second));
      it = waiting_.erase(it);
    }
  }

  // Whether a translation into the reader's language may still come for a message just sent.
  bool awaits_translation(const object& m) const {
    if (m.at("kind") != "text" || m.at("deleted").as_bool()) return false;
    if (const auto* t = m.if_contains("translate"); t && t->is_bool() && !t->as_bool()) return false;
    auto lang = text_of(m, "lang");
    return !lang.empty() && lang != reader_lang_ && sender_of(m) != me_;
  }

  // The lines that show a message under --translations. In replace mode a message just sent
  // (`live`) whose translation has not come yet shows as a marker and waits for it.
  std::vector<std::string> lines_for(const object& m, bool live) {
    const auto* all = translations_ == Translations::off ? nullptr : m.if_contains("translations");
    if (translations_ == Translations::replace && !reader_lang_.empty()) {
      const auto* mine = all && all->is_object() ? all->as_object().if_contains(reader_lang_) : nullptr;
      if (mine && mine->is_object()) return {render_translated(m, reader_lang_, mine->as_object())};
      if (live && awaits_translation(m)) {
        auto seq = m.at("seq").as_int64();
        waiting_[seq] = m;
        if (waiting_.size() > 200) waiting_.erase(waiting_.begin());  // their markers say /original
        return {local_time(m.at("created_at")) + " " + sender_of(m) + ": (" + text_of(m, "lang") + ", translating… /original " +
                std::to_string(seq) + ")"};
      }
      return {render(m)};
    }
    std::vector<std::string> out{render(m)};
    if (all)
      for (const auto& t : translation_lines(m)) out.push_back("    " + t);
    return out;
  }

  void shown(const object& m) {
    auto seq = m.at("seq").as_int64();
    for (const auto& l : lines_for(m, seq > live_after_)) screen_.line(l);
    last_seq_ = seq;
    last_line_ = screen_.lines();
    bool as_user = !endpoint_.as.empty() || !endpoint_.token.empty();  // operators have no receipts
    if (seq > read_sent_ && live_ && live_->open() && as_user) {
      read_sent_ = seq;
      asio::co_spawn(io_, [this, seq]() -> awaitable<void> {
        auto call7 = live_->call("receipt", object{{"conversation", conversation_}, {"read", seq}});
        (void)co_await std::move(call7);
      }, asio::detached);
    }
  }

  awaitable<void> send(object body) {
    auto cid = crypto::random_token(12);
    body["conversation"] = conversation_;
    body["client_id"] = cid;
    pending_[cid] = body;
    auto call8 = live_->call("message.send", body);
    auto r = co_await std::move(call8);
    if (r) pending_.erase(cid);
    else if (r.error().code != Code::unavailable) {
      pending_.erase(cid);
      screen_.line("tourbus: " + r.error().message);
    }  // unavailable: kept, and sent again with the same client_id after reconnecting
  }

  awaitable<void> resend() {
    auto pending = pending_;
    for (auto& [cid, body] : pending) {
      auto call9 = live_->call("message.send", body);
      auto r = co_await std::move(call9);
      if (r || r.error().code != Code::unavailable) pending_.erase(cid);
    }
  }

  awaitable<void> handle_input() {
    auto l = co_await next_line();
    if (!l) {
      if (eof_) quit_ = true;
      co_return;
    }
    std::string line = *l;
    if (line.empty()) co_return;
    if (line[0] != '/') {
      auto sending = send(object{{"text", line}});
      co_await std::move(sending);
      co_return;
    }
    std::istringstream words(line);
    std::string cmd;
    words >> cmd;
    if (cmd == "/quit" || cmd == "/exit") {
      quit_ = true;
    } else if (cmd == "/file") {
      std::string path;
      std::getline(words >> std::ws, path);
      std::ifstream f(path, std::ios::binary);
      if (!f) {
        screen_.line("tourbus: cannot read " + path);
        co_return;
      }
      std::ostringstream bytes;
      bytes << f.rdbuf();
      auto name = std::filesystem::path(path).filename().string();
      auto call10 = live_->upload("file.upload", object{{"name", name}}, bytes.str());
      auto up = co_await std::move(call10);
      if (!up) {
        screen_.line("tourbus: " + up.error().message);
        co_return;
      }
      auto sending = send(object{{"kind", "file"}, {"file", up->at("id")}});
      co_await std::move(sending);
    } else if (cmd == "/location") {
      double lat = 0, lon = 0;
      std::string label;
      if (!(words >> lat >> lon)) {
        screen_.line("usage: /location LAT LON [LABEL]");
        co_return;
      }
      std::getline(words >> std::ws, label);
      object body{{"kind", "location"}, {"lat", lat}, {"lon", lon}};
      if (!label.empty()) body["label"] = label;
      auto sending = send(std::move(body));
      co_await std::move(sending);
    } else if (cmd == "/who") {
      auto call11 = live_->call("conversation.show", object{{"id", conversation_}});
      auto c = co_await std::move(call11);
      boost::json::array handles;
      if (c)
        for (const auto& m : c->at("members").as_array()) handles.push_back(m.at("handle"));
      auto call12 = live_->call("presence.list", object{{"users", handles}});
      auto p = co_await std::move(call12);
      if (!c || !p) {
        screen_.line("tourbus: " + (c ? p.error().message : c.error().message));
        co_return;
      }
      for (const auto& x : p->at("presence").as_array())
        screen_.line("   " + show(x.at("user")) + "  " + show(x.at("status")) +
                     (x.at("last_seen").is_null() ? "" : "  last seen " + show(x.at("last_seen"))));
    } else if (cmd == "/switch") {
      std::int64_t id = 0;
      std::optional<std::int64_t> next;
      if (words >> id) next = id;
      else next = co_await choose();
      if (next) {
        auto st = co_await open(*next);
        if (!st) screen_.line("tourbus: " + st.error().message);
      }
      update_prompt();
    } else if (cmd == "/history") {
      if (oldest_ <= 1) {
        screen_.line("-- (the beginning of the conversation)");
        co_return;
      }
      auto call13 = live_->call("message.history",
                                       object{{"conversation", conversation_}, {"before", oldest_}, {"limit", 20}});
      auto page = co_await std::move(call13);
      if (!page) co_return;
      screen_.line("-- earlier messages:");
      for (const auto& m : page->at("messages").as_array())
        for (const auto& l : lines_for(m.as_object(), false)) screen_.line("   " + l);
      if (!page->at("messages").as_array().empty()) oldest_ = page->at("messages").as_array().front().at("seq").as_int64();
      screen_.line("-- end of earlier messages");
    } else if (cmd == "/original") {
      std::int64_t seq = 0;
      if (!(words >> seq) || seq < 1) {
        screen_.line("usage: /original SEQ");
        co_return;
      }
      auto call14 = live_->call("message.history", object{{"conversation", conversation_}, {"after", seq - 1}, {"limit", 1}});
      auto page = co_await std::move(call14);
      if (!page) {
        screen_.line("tourbus: " + page.error().message);
        co_return;
      }
      const auto& msgs = page->at("messages").as_array();
      if (msgs.empty() || msgs.front().at("seq").as_int64() != seq) {
        screen_.line("-- no message " + std::to_string(seq) + " here");
        co_return;
      }
      const auto& m = msgs.front().as_object();
      auto lang = text_of(m, "lang");
      screen_.line("-- original of " + std::to_string(seq) + (lang.empty() ? "" : " (" + lang + ")") + ": " + render(m));
    } else {
      screen_.line("commands: /file PATH, /location LAT LON [LABEL], /who, /switch [ID], /history (or Page Up), "
                   "/original SEQ, /quit");
    }
  }

  asio::io_context& io_;
  const Globals& g_;
  Endpoint endpoint_;
  Translations translations_;
  std::string me_, reader_lang_;  // the reader's handle and language (primary subtag); empty: an operator
  std::int64_t live_after_ = 0;   // messages after this seq were sent while the chat was open
  std::int64_t last_seq_ = 0;     // the last message shown, and the screen line it ended at
  std::uint64_t last_line_ = 0;
  std::map<std::int64_t, object> waiting_;  // replace mode: originals shown as a marker, by seq
  Screen screen_;
  std::unique_ptr<Live> live_;
  std::vector<std::unique_ptr<Live>> retired_;  // earlier connections, kept until the chat ends
  Feed feed_{[this](const object& m) { shown(m); }};
  std::int64_t conversation_ = 0, oldest_ = 0, read_sent_ = 0;
  std::string title_;
  std::deque<std::string> lines_;
  bool eof_ = false, quit_ = false;
  int escape_ = 0;
  asio::steady_timer* waiter_ = nullptr;
  asio::steady_timer typing_timer_;
  std::map<std::string, std::chrono::steady_clock::time_point> typing_;
  std::chrono::steady_clock::time_point last_typing_{};
  std::map<std::string, object> pending_;
};

int run_io(const std::function<awaitable<int>(asio::io_context&)>& main) {
  // Never destroyed: `chat`'s input thread may still be blocked reading standard input when the
  // command ends, and what it posts afterwards must land in a live (stopped) io_context, not in
  // freed memory. The process exits right after.
  static auto* io = new asio::io_context;
  int rc = exit_code::internal;
  asio::co_spawn(*io, main(*io), [&](std::exception_ptr e, int r) {
    rc = e ? exit_code::internal : r;
    io->stop();
  });
  io->run();
  return rc;
}

}  // namespace

void add_chat(CLI::App& app, Globals& g, Action& action) {
  {
    auto* cmd = app.add_subcommand("follow", "Print new messages as JSON lines as they arrive (reconnects by itself)");
    auto only = std::make_shared<std::vector<std::int64_t>>();
    auto after = std::make_shared<std::optional<std::int64_t>>();
    auto remote = std::make_shared<Remote>();
    cmd->add_option("CONVERSATIONS", *only, "Only these conversations (default: every one the caller can see)");
    cmd->add_option("--after", *after, "With one conversation: start after this seq instead of now");
    add_remote_options(cmd, *remote);
    cmd->callback([&g, &action, only, after, remote] {
      action = [&g, only, after, remote] {
        auto e = endpoint_for(g, *remote);
        if (!e) return fail(g, e.error());
        Following state;
        return run_io([&](asio::io_context& io) { return follow(io, g, *e, *only, *after, state); });
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("chat", "Chat in a terminal: history, live messages, typing and machine translations; "
                                           "/file, /location, /who, /switch, /original, /quit");
    auto start = std::make_shared<std::optional<std::int64_t>>();
    auto remote = std::make_shared<Remote>();
    auto translations = std::make_shared<std::string>("below");
    cmd->add_option("CONVERSATION", *start, "The conversation to open (default: choose from a list)");
    cmd->add_option("--translations", *translations,
                    "How machine translations of others' messages show: below the original (default); replace: "
                    "in its place (the original with /original SEQ); off: originals only")
        ->check(CLI::IsMember({"below", "replace", "off"}));
    add_remote_options(cmd, *remote);
    cmd->callback([&g, &action, start, remote, translations] {
      action = [&g, start, remote, translations] {
        auto e = endpoint_for(g, *remote);
        if (!e) return fail(g, e.error());
        auto mode = *translations == "replace" ? Translations::replace
                    : *translations == "off"   ? Translations::off
                                               : Translations::below;
        // The chat outlives the event loop: when it ends, its connection's coroutines and the
        // input thread's posts are left in the stopped loop, never run on a destroyed chat.
        std::unique_ptr<Chat> chat;
        return run_io([&](asio::io_context& io) -> awaitable<int> {
          chat = std::make_unique<Chat>(io, g, *e, mode);
          co_return co_await chat->run(*start);
        });
      };
    });
  }
}

}  // namespace tourbus::cli
