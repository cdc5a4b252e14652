#include "calls/previews.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "chat/files.hpp"
#include "core/logging.hpp"

extern char** environ;

namespace tourbus::calls {
namespace {

constexpr std::string_view kSelect =
    "SELECT p.id, p.guide_id, u.handle, p.tour_id, p.title, p.access, p.link_hash, p.room_secret, p.state, p.recording, "
    "p.peak_viewers, p.started_at, p.ended_at FROM previews p JOIN users u ON u.id = p.guide_id ";

Preview read(store::Stmt& s) {
  Preview p;
  p.id = s.i64(0);
  p.guide_id = s.i64(1);
  p.guide_handle = s.text(2);
  p.tour_id = s.opt_i64(3);
  p.title = s.text(4);
  p.access = s.text(5);
  p.link_hash = s.opt_text(6).value_or("");
  p.room_secret = s.text(7);
  p.state = s.text(8);
  p.recording = s.i64(9) != 0;
  p.peak_viewers = s.i64(10);
  p.started_at = s.i64(11);
  p.ended_at = s.opt_i64(12);
  return p;
}

constexpr std::string_view kSelectRecording =
    "SELECT r.id, r.preview_id, r.file_id, f.size, r.created_at, r.duration_ms, p.guide_id, p.tour_id, f.sha256, f.content_type "
    "FROM recordings r JOIN files f ON f.id = r.file_id JOIN previews p ON p.id = r.preview_id ";

Recording read_recording(store::Stmt& s) {
  Recording r;
  r.id = s.i64(0);
  r.preview_id = s.i64(1);
  r.file_id = s.i64(2);
  r.size = s.i64(3);
  r.created_at = s.i64(4);
  r.duration_ms = s.opt_i64(5);
  r.guide_id = s.i64(6);
  r.tour_id = s.opt_i64(7);
  r.sha256 = s.text(8);
  r.content_type = s.text(9);
  return r;
}

}  // namespace

namespace previews {

std::int64_t insert(store::Db& db, const Preview& p) {
  db.prepare("INSERT INTO previews (guide_id, tour_id, title, access, link_hash, room_secret, state, recording, started_at) "
             "VALUES (?, ?, ?, ?, ?, ?, 'live', ?, ?)")
      .bind(1, p.guide_id)
      .bind(2, p.tour_id)
      .bind(3, p.title)
      .bind(4, p.access)
      .bind(5, p.link_hash.empty() ? std::optional<std::string>() : std::optional<std::string>(p.link_hash))
      .bind(6, p.room_secret)
      .bind(7, p.recording)
      .bind(8, p.started_at)
      .run();
  return db.last_insert_rowid();
}

std::optional<Preview> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kSelect) + "WHERE p.id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::vector<Preview> list(store::Db& db, const std::string& state, std::int64_t guide, std::int64_t limit) {
  auto s = db.prepare(std::string(kSelect) + "WHERE (? = '' OR p.state = ?) AND (? = 0 OR p.guide_id = ?) ORDER BY p.id DESC LIMIT ?");
  s.bind(1, state).bind(2, state).bind(3, guide).bind(4, guide).bind(5, limit);
  std::vector<Preview> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

void set_recording(store::Db& db, std::int64_t id, bool on) {
  db.prepare("UPDATE previews SET recording = ? WHERE id = ?").bind(1, on).bind(2, id).run();
}

void set_peak(store::Db& db, std::int64_t id, std::int64_t viewers) {
  db.prepare("UPDATE previews SET peak_viewers = ? WHERE id = ? AND peak_viewers < ?").bind(1, viewers).bind(2, id).bind(3, viewers).run();
}

void end(store::Db& db, std::int64_t id, std::int64_t now) {
  db.prepare("UPDATE previews SET state = 'ended', recording = 0, ended_at = ? WHERE id = ? AND state = 'live'").bind(1, now).bind(2, id).run();
}

std::vector<std::int64_t> end_open(store::Db& db, std::int64_t now, const std::set<std::int64_t>& keep) {
  std::vector<std::int64_t> ids;
  {
    auto s = db.prepare("SELECT id FROM previews WHERE state = 'live' ORDER BY id");
    while (s.step())
      if (!keep.contains(s.i64(0))) ids.push_back(s.i64(0));
  }
  for (auto id : ids) end(db, id, now);
  return ids;
}

std::int64_t add_recording(store::Db& db, std::int64_t preview, std::int64_t file, std::optional<std::int64_t> duration_ms,
                           std::int64_t now) {
  db.prepare("INSERT INTO recordings (preview_id, file_id, duration_ms, created_at) VALUES (?, ?, ?, ?)")
      .bind(1, preview)
      .bind(2, file)
      .bind(3, duration_ms)
      .bind(4, now)
      .run();
  return db.last_insert_rowid();
}

std::optional<Recording> find_recording(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kSelectRecording) + "WHERE r.id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_recording(s);
}

std::vector<Recording> recordings(store::Db& db, std::int64_t preview, std::int64_t limit) {
  auto s = db.prepare(std::string(kSelectRecording) + "WHERE (? = 0 OR r.preview_id = ?) ORDER BY r.id DESC LIMIT ?");
  s.bind(1, preview).bind(2, preview).bind(3, limit);
  std::vector<Recording> out;
  while (s.step()) out.push_back(read_recording(s));
  return out;
}

std::optional<std::string> remove_recording(store::Db& db, std::int64_t id) {
  auto r = find_recording(db, id);
  if (!r) return std::nullopt;
  db.prepare("DELETE FROM recordings WHERE id = ?").bind(1, id).run();
  return chat::files::remove_unshared(db, r->file_id);  // the file was only ever the recording's
}

}  // namespace previews

namespace {

// An EBML variable-length integer at `at`: its value (marker bit removed unless `keep_marker`)
// and length, or nothing when it runs past the end.
std::optional<std::pair<std::uint64_t, std::size_t>> vint(std::string_view b, std::size_t at, bool keep_marker) {
  if (at >= b.size()) return std::nullopt;
  auto first = static_cast<std::uint8_t>(b[at]);
  std::size_t len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) ++len;
  if (len > 8 || at + len > b.size()) return std::nullopt;
  std::uint64_t v = keep_marker ? first : first & (0xff >> len);
  for (std::size_t i = 1; i < len; ++i) v = (v << 8) | static_cast<std::uint8_t>(b[at + i]);
  return std::make_pair(v, len);
}

double read_float(std::string_view b, std::size_t at, std::size_t len) {
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < len; ++i) bits = (bits << 8) | static_cast<std::uint8_t>(b[at + i]);
  if (len == 4) {
    std::uint32_t b32 = static_cast<std::uint32_t>(bits);
    float f;
    std::memcpy(&f, &b32, 4);
    return f;
  }
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

}  // namespace

std::optional<std::int64_t> webm_duration_ms(std::string_view head) {
  // EBML header, then the Segment (0x18538067) whose children include Info (0x1549A966) with
  // TimecodeScale (0x2AD7B1, ns per tick, default 1 ms) and Duration (0x4489, a float in ticks).
  std::size_t at = 0;
  bool in_segment = false;
  while (at < head.size()) {
    auto id = vint(head, at, true);
    if (!id) return std::nullopt;
    auto size = vint(head, at + id->second, false);
    if (!size) return std::nullopt;
    auto body = at + id->second + size->second;
    if (id->first == 0x18538067 && !in_segment) {
      in_segment = true;
      at = body;
      continue;
    }
    if (id->first == 0x1549A966 && in_segment) {
      auto end = std::min<std::size_t>(head.size(), body + size->first);
      std::uint64_t scale = 1'000'000;
      std::optional<double> duration;
      for (auto p = body; p < end;) {
        auto cid = vint(head, p, true);
        if (!cid) break;
        auto csize = vint(head, p + cid->second, false);
        if (!csize) break;
        auto cbody = p + cid->second + csize->second;
        if (cbody + csize->first > end) break;
        if (cid->first == 0x2AD7B1) {
          scale = 0;
          for (std::size_t i = 0; i < csize->first; ++i) scale = (scale << 8) | static_cast<std::uint8_t>(head[cbody + i]);
        } else if (cid->first == 0x4489 && (csize->first == 4 || csize->first == 8)) {
          duration = read_float(head, cbody, csize->first);
        }
        p = cbody + csize->first;
      }
      if (!duration || *duration < 0) return std::nullopt;
      return static_cast<std::int64_t>(*duration * static_cast<double>(scale) / 1e6);
    }
    if (size->first > head.size()) return std::nullopt;  // unknown size or past what was read
    at = body + size->first;
  }
  return std::nullopt;
}

std::vector<Converted> convert_recordings(const std::filesystem::path& dir, const std::filesystem::path& out,
                                          const std::string& pp_rec) {
  std::vector<Converted> done;
  std::error_code ec;
  std::vector<std::filesystem::path> mjrs;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".mjr" && e.path().filename().string().find("-video") != std::string::npos)
      mjrs.push_back(e.path());
  std::sort(mjrs.begin(), mjrs.end());
  auto log = logging::get("calls");
  for (const auto& mjr : mjrs) {
    auto webm = out / (mjr.stem().string() + ".webm");
    std::filesystem::remove(webm, ec);
    // janus-pp-rec SOURCE.mjr TARGET.webm, with no shell and no path from anyone's input.
    std::vector<std::string> args{pp_rec, mjr.string(), webm.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, pp_rec.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      log->error("calls.recording_convert_failed file={} error=\"cannot start {}: {}\"", mjr.filename().string(), pp_rec, std::strerror(rc));
      continue;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !std::filesystem::exists(webm, ec) ||
        std::filesystem::file_size(webm, ec) == 0) {
      log->error("calls.recording_convert_failed file={} error=\"{} exited with {}\"", mjr.filename().string(), pp_rec,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      std::filesystem::remove(webm, ec);
      continue;
    }
    done.push_back({webm, mjr});
  }
  return done;
}

OnAir& PreviewRegistry::add(std::int64_t id, std::int64_t guide) {
  auto& p = previews_[id];
  p.id = id;
  p.guide = guide;
  return p;
}

OnAir* PreviewRegistry::find(std::int64_t id) {
  auto it = previews_.find(id);
  return it == previews_.end() ? nullptr : &it->second;
}

void PreviewRegistry::remove(std::int64_t id) { previews_.erase(id); }

OnAir* PreviewRegistry::watching(std::int64_t viewer) {
  for (auto& [id, p] : previews_)
    if (p.viewers.contains(viewer)) return &p;
  return nullptr;
}

}  // namespace tourbus::calls
