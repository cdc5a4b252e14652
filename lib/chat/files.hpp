// Uploaded files and photos: the content type is sniffed from the bytes (libmagic) and checked
// against an allow-list; blobs are stored content-addressed under <state>/files/ and written
// durably before the upload is acknowledged. A client's file name is kept for display only and
// never becomes part of a path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/messages.hpp"
#include "core/error.hpp"
#include "store/db.hpp"

namespace tourbus::chat {

// The content types accepted for upload, in documentation order.
std::span<const std::string_view> allowed_types();

// Sniffs content types with libmagic. Thread-safe (one magic handle behind a mutex).
class Sniffer {
 public:
  Sniffer();
  ~Sniffer();
  std::string content_type(std::string_view bytes);

 private:
  std::mutex mutex_;
  void* magic_ = nullptr;
};

// Width and height of a PNG, JPEG, GIF or WebP image, read from its header.
std::optional<std::pair<std::int64_t, std::int64_t>> image_size(std::string_view bytes, std::string_view content_type);

// "ab/abcdef...": where a blob lives under the files directory.
std::filesystem::path blob_path(const std::filesystem::path& dir, const std::string& sha256);
// Stores a blob received into `received` (a file under `dir`): made durable (fsync), renamed
// into place and the directories synced, or removed when the blob is there already. Throws
// std::runtime_error on I/O failure.
void store_blob_file(const std::filesystem::path& dir, const std::string& sha256, const std::filesystem::path& received);
// The first `max` bytes of a file, for sniffing. Throws on I/O failure.
std::string read_prefix(const std::filesystem::path& file, std::size_t max);

// A file name fit for display: the last path component, valid UTF-8 without control characters,
// at most 200 characters; "file" when nothing usable is left.
std::string display_name(std::string_view client_name);

namespace files {
std::int64_t insert(store::Db& db, const FileInfo& f);
std::optional<FileInfo> find(store::Db& db, std::int64_t id);
// Bytes `uploader` uploaded at or after `since` (ms since the epoch).
std::int64_t uploaded_since(store::Db& db, std::int64_t uploader, std::int64_t since);
// Deletes files uploaded before `cutoff` and returns the blobs no longer referenced by any file.
std::vector<std::string> expire(store::Db& db, std::int64_t cutoff);
// Deletes a file no message shares (a preview's recording); returns its blob when no file refers
// to it any more. A shared file stays.
std::optional<std::string> remove_unshared(store::Db& db, std::int64_t id);
}  // namespace files

}  // namespace tourbus::chat
