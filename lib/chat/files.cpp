#include "chat/files.hpp"

#include <fcntl.h>
#include <magic.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

#include "core/crypto.hpp"
#include "core/validate.hpp"

namespace tourbus::chat {
namespace {

constexpr std::array<std::string_view, 16> kAllowed{
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/calendar",
};

std::uint32_t be16(std::string_view b, std::size_t at) {
  return (static_cast<std::uint8_t>(b[at]) << 8) | static_cast<std::uint8_t>(b[at + 1]);
}
std::uint32_t be32(std::string_view b, std::size_t at) { return (be16(b, at) << 16) | be16(b, at + 2); }
std::uint32_t le16(std::string_view b, std::size_t at) {
  return static_cast<std::uint8_t>(b[at]) | (static_cast<std::uint8_t>(b[at + 1]) << 8);
}
std::uint32_t le24(std::string_view b, std::size_t at) { return le16(b, at) | (static_cast<std::uint8_t>(b[at + 2]) << 16); }

void fsync_path(const std::filesystem::path& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + p.string());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error("cannot fsync " + p.string());
}

FileInfo read_file(store::Stmt& s) {
  FileInfo f;
  f.id = s.i64(0);
  f.sha256 = s.text(1);
  f.size = s.i64(2);
  f.content_type = s.text(3);
  f.name = s.text(4);
  f.width = s.opt_i64(5);
  f.height = s.opt_i64(6);
  f.uploader_id = s.i64(7);
  f.created_at = s.i64(8);
  return f;
}

}  // namespace

std::span<const std::string_view> allowed_types() { return kAllowed; }

Sniffer::Sniffer() {
  auto m = ::magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_ELF);
  if (!m) throw std::runtime_error("libmagic: cannot open");
  if (::magic_load(m, nullptr) != 0) {
    std::string why = ::magic_error(m) ? ::magic_error(m) : "unknown error";
    ::magic_close(m);
    throw std::runtime_error("libmagic: cannot load its database: " + why);
  }
  magic_ = m;
}

Sniffer::~Sniffer() {
  if (magic_) ::magic_close(static_cast<magic_t>(magic_));
}

std::string Sniffer::content_type(std::string_view bytes) {
  std::lock_guard lock(mutex_);
  const char* t = ::magic_buffer(static_cast<magic_t>(magic_), bytes.data(), bytes.size());
  return t ? std::string(t) : std::string("application/octet-stream");
}

std::optional<std::pair<std::int64_t, std::int64_t>> image_size(std::string_view b, std::string_view type) {
  if (type == "image/png" && b.size() >= 24 && b.substr(12, 4) == "IHDR") return std::pair{be32(b, 16), be32(b, 20)};
  if (type == "image/gif" && b.size() >= 10) return std::pair{le16(b, 6), le16(b, 8)};
  if (type == "image/webp" && b.size() >= 30) {
    auto chunk = b.substr(12, 4);
    if (chunk == "VP8X") return std::pair{le24(b, 24) + 1, le24(b, 27) + 1};
    if (chunk == "VP8 " && b.size() >= 30) return std::pair{le16(b, 26) & 0x3fff, le16(b, 28) & 0x3fff};
    if (chunk == "VP8L" && b.size() >= 25) {
      std::uint32_t bits = le16(b, 21) | (le16(b, 23) << 16);
      return std::pair{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
    }
    return std::nullopt;
  }
  if (type == "image/jpeg") {
    // Walk the segments to the first start-of-frame marker.
    std::size_t i = 2;
    while (i + 9 < b.size()) {
      if (static_cast<std::uint8_t>(b[i]) != 0xff) return std::nullopt;
      auto marker = static_cast<std::uint8_t>(b[i + 1]);
      if (marker == 0xff) {
        ++i;
        continue;
      }
      auto len = be16(b, i + 2);
      bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
      if (sof) return std::pair{be16(b, i + 7), be16(b, i + 5)};
      if (len < 2) return std::nullopt;
      i += 2 + len;
    }
  }
  return std::nullopt;
}

std::filesystem::path blob_path(const std::filesystem::path& dir, const std::string& sha256) {
  return dir / sha256.substr(0, 2) / sha256;
}

void store_blob_file(const std::filesystem::path& dir, const std::string& sha256, const std::filesystem::path& received) {
  auto path = blob_path(dir, sha256);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {  // same bytes, same name: already durable
    std::filesystem::remove(received, ec);
    return;
  }
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) throw std::runtime_error("cannot create " + path.parent_path().string() + ": " + ec.message());
  fsync_path(received, O_RDONLY);
  std::filesystem::rename(received, path);
  fsync_path(path.parent_path(), O_RDONLY | O_DIRECTORY);
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

std::string read_prefix(const std::filesystem::path& file, std::size_t max) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + file.string());
  std::string out(max, '\0');
  std::size_t got = 0;
  while (got < max) {
    auto n = ::read(fd, out.data() + got, max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

std::string display_name(std::string_view client_name) {
  auto slash = client_name.find_last_of("/\\");
  if (slash != std::string_view::npos) client_name.remove_prefix(slash + 1);
  auto t = validate::text(client_name, 200);
  if (!t || *t == "." || *t == "..") return "file";
  return *t;
}

namespace files {

std::int64_t insert(store::Db& db, const FileInfo& f) {
  db.prepare(
        "INSERT INTO files (sha256, size, content_type, name, width, height, uploader_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, f.sha256)
      .bind(2, f.size)
      .bind(3, f.content_type)
      .bind(4, f.name)
      .bind(5, f.width)
      .bind(6, f.height)
      .bind(7, f.uploader_id)
      .bind(8, f.created_at)
      .run();
  return db.last_insert_rowid();
}

std::optional<FileInfo> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(
      "SELECT id, sha256, size, content_type, name, width, height, uploader_id, created_at FROM files WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_file(s);
}

std::int64_t uploaded_since(store::Db& db, std::int64_t uploader, std::int64_t since) {
  auto s = db.prepare("SELECT COALESCE(SUM(size), 0) FROM files WHERE uploader_id = ? AND created_at >= ?");
  s.bind(1, uploader).bind(2, since);
  s.step();
  return s.i64(0);
}

std::vector<std::string> expire(store::Db& db, std::int64_t cutoff) {
  std::vector<std::string> gone;
  {
    auto s = db.prepare("SELECT DISTINCT sha256 FROM files WHERE created_at < ? ORDER BY sha256");
    s.bind(1, cutoff);
    while (s.step()) gone.push_back(s.text(0));
  }
  db.prepare("UPDATE messages SET file_id = NULL WHERE file_id IN (SELECT id FROM files WHERE created_at < ?)")
      .bind(1, cutoff)
      .run();
  db.prepare("DELETE FROM files WHERE created_at < ?").bind(1, cutoff).run();
  std::erase_if(gone, [&](const std::string& sha) {
    auto s = db.prepare("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1");
    s.bind(1, sha);
    return s.step();
  });
  return gone;
}

std::optional<std::string> remove_unshared(store::Db& db, std::int64_t id) {
  auto f = find(db, id);
  if (!f) return std::nullopt;
  auto shared = db.prepare("SELECT 1 FROM messages WHERE file_id = ? LIMIT 1");
  shared.bind(1, id);
  if (shared.step()) return std::nullopt;
  db.prepare("DELETE FROM files WHERE id = ?").bind(1, id).run();
  auto still = db.prepare("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1");
  still.bind(1, f->sha256);
  if (still.step()) return std::nullopt;
  return f->sha256;
}

}  // namespace files
}  // namespace tourbus::chat
