// tourbus preview list|show|stop, tourbus recording list|show|download|remove: live tour previews
// (a guide broadcasting through Janus to many viewers) and the WebM recordings made of them
// (docs/previews.md). Previews are started, published and watched from apps; the CLI looks at
// them, stops one, and handles the recordings.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/json.hpp"

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
// A namespace of its own: the CLI is one unity translation unit, and calls.cpp already has a
// duration_text in tourbus::cli's anonymous namespace.
namespace previews_cli {
namespace {

using boost::json::object;
using boost::json::value;

// A field as text, "-" when the answer does not have it.
std::string field_text(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? show(*v) : "-";
}

// 1832211 -> "1.7 MiB"; "-" without a size.
std::string size_text(const object& o) {
  auto n = number_of(o, "size");
  if (!n) return "-";
  if (*n < 1024) return fmt::format("{:.0f} B", *n);
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = *n / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

// duration_ms as 0:42, 3:12, 1:02:05; "-" when unknown.
std::string duration_text(const object& o) {
  auto ms = number_of(o, "duration_ms");
  if (!ms || *ms < 0) return "-";
  auto n = static_cast<std::int64_t>(*ms / 1000);
  return n >= 3600 ? fmt::format("{}:{:02}:{:02}", n / 3600, n / 60 % 60, n % 60) : fmt::format("{}:{:02}", n / 60, n % 60);
}

// "key: value" lines: `keys` in this order (those in `optional` only when present), then any
// field the daemon added that the CLI does not know yet, so nothing it sends is hidden.
void print_all_fields(const object& o, const std::vector<std::string>& keys, const std::set<std::string>& optional,
                      const std::set<std::string>& hidden = {}) {
  std::vector<std::string> shown;
  for (const auto& k : keys)
    if (!optional.contains(k) || o.contains(k)) shown.push_back(k);
  std::set<std::string> known(keys.begin(), keys.end());
  for (const auto& [k, v] : o) {
    std::string key(k);
    if (!known.contains(key) && !hidden.contains(key)) shown.push_back(key);
  }
  print_fields(o, shown);
}

const std::vector<std::string> kPreviewHeaders = {"ID",    "TOUR",   "GUIDE",     "TITLE",  "ACCESS",
                                                  "STATE", "ON AIR", "RECORDING", "VIEWERS"};
std::vector<std::string> preview_row(const object& o) {
  return {field_text(o, "id"),     field_text(o, "tour"),  field_text(o, "guide"),
          field_text(o, "title"),  field_text(o, "access"), field_text(o, "state"),
          field_text(o, "on_air"), field_text(o, "recording"), field_text(o, "viewers")};
}

// A viewer's simulcast layer: 0 the lowest (l), 2 the highest (h).
std::string substream_text(const value& v) {
  if (!v.is_int64()) return show(v);
  switch (v.as_int64()) {
    case 0: return "l (lowest)";
    case 1: return "m";
    case 2: return "h (highest)";
    default: return show(v);
  }
}

// The preview's fields; for its guide and operators, while it is live, a table of who is watching.
void print_preview(const object& o) {
  print_all_fields(o,
                   {"id", "tour", "guide", "title", "access", "state", "on_air", "recording", "viewers", "peak_viewers",
                    "started_at", "ended_at", "recordings", "link"},
                   {"viewers", "peak_viewers", "recordings", "link"}, {"watching"});
  const auto* w = o.if_contains("watching");
  if (!w || !w->is_array()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : w->as_array()) {
    if (!v.is_object()) continue;
    const auto& vo = v.as_object();
    const auto* sub = vo.if_contains("substream");
    rows.push_back({field_text(vo, "viewer"), field_text(vo, "user"), field_text(vo, "ready"),
                    sub ? substream_text(*sub) : std::string("-")});
  }
  std::cout << "\nwatching:\n";
  if (rows.empty()) std::cout << "nobody\n";
  else print_table({"VIEWER", "USER", "ANSWERED", "LAYER"}, rows);
}

// preview.stop's answer: the preview, ended, with the ids of the recordings made of it (converted
// and stored before the daemon answers).
void print_stopped(const object& o) {
  std::cout << "preview " << field_text(o, "id") << " " << field_text(o, "state");
  if (const auto* at = o.if_contains("ended_at"); at && at->is_string()) std::cout << " at " << show(*at);
  std::cout << "\n";
  const auto* r = o.if_contains("recordings");
  if (r && r->is_array() && !r->as_array().empty())
    std::cout << "recordings: " << show(*r) << " (tourbus recording show ID)\n";
  else
    std::cout << "no new recordings (tourbus recording list --preview " << field_text(o, "id") << ")\n";
}

const std::vector<std::string> kRecordingHeaders = {"ID", "PREVIEW", "SIZE", "DURATION", "CREATED"};
std::vector<std::string> recording_row(const object& o) {
  return {field_text(o, "id"), field_text(o, "preview"), size_text(o), duration_text(o), field_text(o, "created_at")};
}

void print_recording(const object& o) {
  object flat = o;
  if (auto n = number_of(o, "size")) flat["size"] = fmt::format("{:.0f} bytes ({})", *n, size_text(o));
  if (auto ms = number_of(o, "duration_ms")) flat["duration"] = fmt::format("{} ({:.0f} ms)", duration_text(o), *ms);
  print_all_fields(flat, {"id", "preview", "file", "size", "content_type", "duration", "created_at"}, {}, {"duration_ms"});
}

// Where `recording download` writes: -o FILE, into -o DIR under the default name, or
// recording-ID.webm in the current directory.
std::filesystem::path download_target(const std::string& out, std::int64_t id) {
  std::string name = fmt::format("recording-{}.webm", id);
  if (out.empty()) return name;
  std::error_code ec;
  if (std::filesystem::is_directory(out, ec)) return std::filesystem::path(out) / name;
  return out;
}

// Moves the finished download into place. Without --force the move fails when `to` exists, checked
// atomically (renameat2 RENAME_NOREPLACE; where the filesystem lacks it, a hard link, which fails
// on an existing name too), so a file that appeared during the download is not clobbered either.
Status move_into_place(const std::filesystem::path& from, const std::filesystem::path& to, bool force) {
  auto exists_error = [&] {
    return Error(Code::already_exists, to.string() + " exists; pass --force to replace it, or -o another file");
  };
  if (force) {
    if (std::rename(from.c_str(), to.c_str()) == 0) return {};
    return Error(Code::internal, "cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno == EEXIST) return exists_error();
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    return Error(Code::internal, "cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
  }
  if (::link(from.c_str(), to.c_str()) == 0) {
    ::unlink(from.c_str());
    return {};
  }
  if (errno == EEXIST) return exists_error();
  // No hard links either (vfat, some network filesystems): look, then rename.
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(to, ec))) return exists_error();
  if (std::rename(from.c_str(), to.c_str()) == 0) return {};
  return Error(Code::internal, "cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
}

// recording.download into `target`: the bytes go to a temporary file of a unique name beside it
// (Client::download streams into NAME.partial, syncs it and renames it to NAME; mode 0600), which is
// then moved over `target`. Nothing is left behind on failure. The bytes written, or the error.
Result<std::uint64_t> download_recording(Client& client, std::int64_t id, const std::filesystem::path& target, bool force) {
  std::error_code ec;
  if (!force && std::filesystem::exists(std::filesystem::symlink_status(target, ec)))
    return Error(Code::already_exists, target.string() + " exists; pass --force to replace it, or -o another file");
  if (std::filesystem::is_directory(target, ec))
    return Error(Code::already_exists, target.string() + " is a directory");
  auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  std::string tmpl = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());  // reserves a unique name; the download replaces it
  if (fd < 0) return Error(Code::internal, "cannot write in " + dir.string() + ": " + std::strerror(errno));
  ::close(fd);
  const std::string& tmp = tmpl;
  auto cleanup = [&] {
    std::error_code rm;
    std::filesystem::remove(tmp, rm);
    std::filesystem::remove(tmp + ".partial", rm);
  };
  auto bytes = client.download("recording.download", {{"id", id}}, tmp);
  if (!bytes) {
    cleanup();
    return bytes.error();
  }
  if (auto moved = move_into_place(tmp, target, force); !moved) {
    cleanup();
    return moved.error();
  }
  // The new name is durable once the directory is synced too.
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return *bytes;
}

}  // namespace
}  // namespace previews_cli

void add_previews(CLI::App& app, Globals& g, Action& action) {
  using namespace previews_cli;
  auto* preview = app.add_subcommand("preview", "Live tour previews through Janus: list, show and stop them");
  preview->require_subcommand(1);
  {
    auto state = std::make_shared<std::string>();
    auto limit = std::make_shared<std::int64_t>(0);
    auto* cmd = preview->add_subcommand("list", summary("preview.list"));
    cmd->add_option("--state", *state, "live (the default), ended or all")->check(CLI::IsMember({"live", "ended", "all"}));
    cmd->add_option("--limit", *limit, "At most this many, newest first (1-500, default 50)");
    cmd->callback([&g, &action, state, limit] {
      action = [&g, state, limit] {
        object body;
        if (!state->empty()) body["state"] = *state;
        if (*limit) body["limit"] = *limit;
        return run_call(g, [&](Client& c) { return c.call("preview.list", body); },
                        [&](const value& v) { return print_list(g, v, "previews", kPreviewHeaders, preview_row); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = preview->add_subcommand("show", summary("preview.show"));
    cmd->add_option("ID", *id, "The preview")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("preview.show", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_preview); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = preview->add_subcommand("stop", summary("preview.stop"));
    cmd->add_option("ID", *id, "The preview")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("preview.stop", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_stopped); });
      };
    });
  }

  auto* recording = app.add_subcommand("recording", "Recordings of previews (WebM): list, show, download and remove them");
  recording->require_subcommand(1);
  {
    auto of = std::make_shared<std::int64_t>(0);
    auto limit = std::make_shared<std::int64_t>(0);
    auto* cmd = recording->add_subcommand("list", summary("recording.list"));
    cmd->add_option("--preview", *of, "Only this preview's recordings");
    cmd->add_option("--limit", *limit, "At most this many, newest first (1-500, default 50)");
    cmd->callback([&g, &action, of, limit] {
      action = [&g, of, limit] {
        object body;
        if (*of) body["preview"] = *of;
        if (*limit) body["limit"] = *limit;
        return run_call(g, [&](Client& c) { return c.call("recording.list", body); },
                        [&](const value& v) { return print_list(g, v, "recordings", kRecordingHeaders, recording_row); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = recording->add_subcommand("show", summary("recording.show"));
    cmd->add_option("ID", *id, "The recording")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("recording.show", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_recording); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto out = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto* cmd = recording->add_subcommand("download", summary("recording.download") + " into a file");
    cmd->add_option("ID", *id, "The recording")->required();
    cmd->add_option("-o,--output", *out,
                    "Where to write it: a file, a directory (for recording-ID.webm in it) or '-' for standard output "
                    "(default: recording-ID.webm in the current directory)");
    cmd->add_flag("-f,--force", *force, "Replace the file if it exists");
    cmd->callback([&g, &action, id, out, force] {
      action = [&g, id, out, force] {
        Client client(find_socket(g), g.as);
        if (*out == "-") {
          auto r = client.download("recording.download", {{"id", *id}}, "-");
          return r ? exit_code::ok : fail(g, r.error());
        }
        auto target = download_target(*out, *id);
        auto r = download_recording(client, *id, target, *force);
        if (!r) return fail(g, r.error());
        if (g.json)
          std::cout << json::dump(object{{"id", *id}, {"file", target.string()}, {"bytes", *r}}) << "\n";
        else if (!g.quiet)
          std::cout << "recording " << *id << " written to " << target.string() << " (" << *r << " bytes)\n";
        return exit_code::ok;
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = recording->add_subcommand("remove", summary("recording.remove"));
    cmd->add_option("ID", *id, "The recording")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("recording.remove", {{"id", *id}}); },
                        [&](const value& v) {
                          return print_object(g, v, [&](const object&) { std::cout << "removed recording " << *id << "\n"; });
                        });
      };
    });
  }
}

}  // namespace tourbus::cli
