// Tour previews (docs/previews.md): the previews and recordings tables (migration 0012), the
// viewers and Janus sessions of the previews on air (on the event loop; not thread-safe), and
// turning Janus's recordings into WebM files. Table functions take the Db of the caller's thread
// and throw store::SqlError on database failures.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "calls/janus.hpp"
#include "store/db.hpp"

namespace tourbus::calls {

struct Preview {
  std::int64_t id = 0, guide_id = 0;
  std::string guide_handle;  // filled by reads
  std::optional<std::int64_t> tour_id;
  std::string title, access;  // access: tour, tourists, link
  std::string link_hash, room_secret;
  std::string state = "live";  // live, ended
  bool recording = false;
  std::int64_t peak_viewers = 0, started_at = 0;
  std::optional<std::int64_t> ended_at;
};

struct Recording {
  std::int64_t id = 0, preview_id = 0, file_id = 0, size = 0, created_at = 0;
  std::optional<std::int64_t> duration_ms;
  std::int64_t guide_id = 0;                // the preview's, for access
  std::optional<std::int64_t> tour_id;      // the preview's, for access
  std::string sha256, content_type;         // the file's
};

// Janus's room for a preview: far above the room numbers people configure by hand.
inline std::uint64_t room_of(std::int64_t preview) { return 7'000'000'000ULL + static_cast<std::uint64_t>(preview); }

namespace previews {
std::int64_t insert(store::Db& db, const Preview& p);
std::optional<Preview> find(store::Db& db, std::int64_t id);
// Newest first: `state` live, ended or empty for both; guide 0 for every guide's.
std::vector<Preview> list(store::Db& db, const std::string& state, std::int64_t guide, std::int64_t limit);
void set_recording(store::Db& db, std::int64_t id, bool on);
void set_peak(store::Db& db, std::int64_t id, std::int64_t viewers);
void end(store::Db& db, std::int64_t id, std::int64_t now);
// Previews left live by a daemon that stopped (at start-up), or by a leader that is gone (their
// new leader), ended; `keep`: those on air here. Returns those ended.
std::vector<std::int64_t> end_open(store::Db& db, std::int64_t now, const std::set<std::int64_t>& keep = {});

std::int64_t add_recording(store::Db& db, std::int64_t preview, std::int64_t file, std::optional<std::int64_t> duration_ms,
                           std::int64_t now);
std::optional<Recording> find_recording(store::Db& db, std::int64_t id);
// Newest first; a preview's (0: every one).
std::vector<Recording> recordings(store::Db& db, std::int64_t preview, std::int64_t limit);
// Deletes a recording and its file; returns the blob when no file refers to it any more.
std::optional<std::string> remove_recording(store::Db& db, std::int64_t id);
}  // namespace previews

// The duration of a WebM file from its Segment Info (Duration x TimecodeScale), if written.
std::optional<std::int64_t> webm_duration_ms(std::string_view head);

// One recording converted: the WebM file (in the directory asked for) and the .mjr it came from.
struct Converted {
  std::filesystem::path webm, mjr;
};
// Converts every .mjr video recording under `dir` with janus-pp-rec into WebM files in `out`;
// the .mjr files stay (removed by the caller once stored). Failures are logged and skipped.
std::vector<Converted> convert_recordings(const std::filesystem::path& dir, const std::filesystem::path& out,
                                          const std::string& pp_rec);

// The previews on air, on the event loop.
struct Viewer {
  std::int64_t id = 0, user = 0;
  std::uint64_t session = 0;  // the WebSocket session that watches
  JanusHandle janus;
  std::string video_mid;      // the guide's video in Janus's offer
  int substream = 2;          // simulcast layer asked for (2 highest)
  std::int64_t last_stats = 0;
  bool ready = false;         // answered (preview.answer)
};

struct OnAir {
  std::int64_t id = 0, guide = 0;
  JanusHandle publisher;           // the guide's session, once publishing
  std::uint64_t publisher_session = 0;
  std::uint64_t feed = 0;          // the guide's id in the room
  std::map<std::int64_t, Viewer> viewers;
};

class PreviewRegistry {
 public:
  // `janus`: where the blocking calls to Janus run (a pool of their own, off the event loop).
  explicit PreviewRegistry(boost::asio::any_io_executor janus) : janus_pool(std::move(janus)) {}
  boost::asio::any_io_executor janus_pool;
  OnAir& add(std::int64_t id, std::int64_t guide);
  OnAir* find(std::int64_t id);
  void remove(std::int64_t id);
  // The preview a viewer watches.
  OnAir* watching(std::int64_t viewer);
  std::int64_t next_viewer() { return ++last_viewer_; }
  std::map<std::int64_t, OnAir>& all() { return previews_; }

 private:
  std::map<std::int64_t, OnAir> previews_;
  std::int64_t last_viewer_ = 0;
};

}  // namespace tourbus::calls
