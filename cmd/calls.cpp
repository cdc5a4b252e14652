// tourbus call list|show|config: the record of calls (who, how it ended, how long, how good) and
// the ICE servers a client is given. Calls themselves are made from apps (docs/calls.md).
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;
using boost::json::value;

// 0:42, 3:12, 1:02:05; "-" for a call nobody answered.
std::string duration_text(const object& o) {
  auto s = number_of(o, "duration_seconds");
  if (!s) return "-";
  auto n = static_cast<std::int64_t>(*s);
  return n >= 3600 ? fmt::format("{}:{:02}:{:02}", n / 3600, n / 60 % 60, n % 60) : fmt::format("{}:{:02}", n / 60, n % 60);
}

// How it ended, or how it stands while it lasts (ringing, active).
std::string outcome_text(const object& o) {
  const auto& outcome = o.at("outcome");
  return outcome.is_string() ? std::string(outcome.as_string()) : show(o.at("state"));
}

const object* quality_of(const object& o) {
  const auto* q = o.if_contains("quality");
  return q && q->is_object() ? &q->as_object() : nullptr;
}

// "fair (worst poor)", "good", or "-" without reports.
std::string score_text(const object& o) {
  const auto* q = quality_of(o);
  if (!q || !q->at("score").is_string()) return "-";
  auto score = show(q->at("score")), worst = show(q->at("worst_score"));
  return worst == score || worst == "-" ? score : score + " (worst " + worst + ")";
}

// "fair, worst poor, over 42 reports: round trip 180 ms, loss 2.5%, 850 kbit/s, 24 fps, 720p"
// (the means of every member's reports), or "no reports".
std::string quality_text(const object& o) {
  const auto* q = quality_of(o);
  auto samples = q ? number_of(*q, "samples") : std::nullopt;
  if (!samples || *samples == 0) return "no reports";
  std::string out = show(q->at("score")) + ", worst " + show(q->at("worst_score")) +
                    fmt::format(", over {} report{}", static_cast<std::int64_t>(*samples), *samples == 1 ? "" : "s");
  std::vector<std::string> parts;
  if (auto v = number_of(*q, "rtt_ms")) parts.push_back(fmt::format("round trip {:.0f} ms", *v));
  if (auto v = number_of(*q, "loss_percent")) parts.push_back(fmt::format("loss {:.1f}%", *v));
  if (auto v = number_of(*q, "bitrate_kbps")) parts.push_back(fmt::format("{:.0f} kbit/s", *v));
  if (o.at("video").as_bool()) {
    if (auto v = number_of(*q, "fps")) parts.push_back(fmt::format("{:.0f} fps", *v));
    if (auto v = number_of(*q, "height"); v && *v > 0) parts.push_back(fmt::format("{:.0f}p", *v));
  }
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? ": " : ", ") + parts[i];
  return out;
}

const std::vector<std::string> kCallHeaders = {"ID", "CONVERSATION", "FROM", "VIDEO", "OUTCOME", "STARTED", "DURATION", "SCORE"};
std::vector<std::string> call_row(const object& o) {
  return {show(o.at("id")),  show(o.at("conversation")), show(o.at("from")),  show(o.at("video")),
          outcome_text(o),   show(o.at("started_at")),   duration_text(o),    score_text(o)};
}

void print_call(const object& o) {
  object flat = o;
  flat["duration"] = duration_text(o);
  flat["quality"] = quality_text(o);
  print_fields(flat, {"id", "conversation", "from", "video", "state", "outcome", "started_at", "answered_at", "ended_at", "duration",
                      "quality"});
  std::vector<std::vector<std::string>> rows;
  if (const auto* m = o.if_contains("members"); m && m->is_object())
    for (const auto& [handle, member] : m->as_object()) {
      const auto& mo = member.as_object();
      rows.push_back({std::string(handle), show(mo.at("state")), show(mo.at("joined_at")), show(mo.at("left_at"))});
    }
  std::cout << "\nmembers:\n";
  print_table({"USER", "STATE", "JOINED", "LEFT"}, rows);
}

void print_config(const object& o) {
  const auto& servers = o.at("ice_servers").as_array();
  if (servers.empty()) {
    std::cout << "no ICE servers (calls.stun_urls, calls.turn_urls): calls connect only where the devices reach each other "
                 "directly\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    bool turn = false;
    for (const auto& s : servers) {
      const auto& so = s.as_object();
      const auto* user = so.if_contains("username");
      const auto* credential = so.if_contains("credential");
      turn = turn || user;
      for (const auto& url : so.at("urls").as_array())
        rows.push_back({show(url), user ? show(*user) : "-", credential ? show(*credential) : "-"});
    }
    print_table({"URL", "USERNAME", "CREDENTIAL"}, rows);
    if (turn)
      std::cout << "\nnote: the TURN credential is the user's own (the handle after ':' in the username) and expires "
                << show(o.at("ttl_seconds")) << " seconds after it was issued (calls.turn_ttl_seconds): fetch it again "
                << "(call.config) before each call\n";
  }
  std::cout << "calls ring " << show(o.at("ring_seconds")) << " s, hold at most " << show(o.at("max_members"))
            << " people; quality reports at most one per " << show(o.at("stats_interval_ms")) << " ms\n";
}

}  // namespace

void add_calls(CLI::App& app, Globals& g, Action& action) {
  auto* call = app.add_subcommand("call", "Calls: their record and quality, and the ICE servers clients get");
  call->require_subcommand(1);
  {
    auto conversation = std::make_shared<std::int64_t>(0);
    auto limit = std::make_shared<std::int64_t>(0);
    auto* cmd = call->add_subcommand("list", summary("call.list"));
    cmd->add_option("--conversation", *conversation, "Only this conversation's calls (required but for operators)");
    cmd->add_option("--limit", *limit, "At most this many, newest first (1-500, default 50)");
    cmd->callback([&g, &action, conversation, limit] {
      action = [&g, conversation, limit] {
        object body;
        if (*conversation) body["conversation"] = *conversation;
        if (*limit) body["limit"] = *limit;
        return run_call(g, [&](Client& c) { return c.call("call.list", body); },
                        [&](const value& v) { return print_list(g, v, "calls", kCallHeaders, call_row); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = call->add_subcommand("show", summary("call.show"));
    cmd->add_option("ID", *id, "The call")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("call.show", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_call); });
      };
    });
  }
  {
    auto* cmd = call->add_subcommand("config", summary("call.config") + " (for the user named by --as)");
    cmd->callback([&g, &action] {
      action = [&g] {
        return run_call(g, [](Client& c) { return c.call("call.config"); },
                        [&](const value& v) { return print_object(g, v, print_config); });
      };
    });
  }
}

}  // namespace tourbus::cli
