// The messages table: append with a gap-free seq per conversation, dedupe by the sender's
// client_id, pages of history, edits and tombstones, and FTS5 search within a conversation.
// Functions take the Db of the caller's thread and throw store::SqlError on database failures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace tourbus::chat {

struct FileInfo {
  std::int64_t id = 0;
  std::string sha256, content_type, name;
  std::int64_t size = 0;
  std::optional<std::int64_t> width, height;
  std::int64_t uploader_id = 0;
  std::int64_t created_at = 0;
};

struct Message {
  std::int64_t id = 0;
  std::int64_t conversation_id = 0;
  std::int64_t seq = 0;
  std::int64_t sender_id = 0;  // 0: the platform (an operator on the control socket, or the system)
  std::optional<std::string> sender_handle;
  std::optional<std::string> client_id;
  std::string kind;  // text, file, location, system
  std::string body;
  std::optional<std::string> data;  // JSON text: location fields or system event details
  std::optional<FileInfo> file;     // kind file: filled by reads
  std::optional<std::int64_t> file_id;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> edited_at, deleted_at;
  // The language of the body (a primary subtag: es, en) and how it was known: client (declared),
  // detected, sender (the sender's preferred language). translate false: "do not translate".
  std::optional<std::string> lang, lang_method;
  bool translate = true;
};

struct Page {
  std::optional<std::int64_t> after;   // seq > after, oldest first
  std::optional<std::int64_t> before;  // seq < before, newest first then returned oldest first
  std::int64_t limit = 100;
  std::optional<std::int64_t> since;   // with after: only messages stored at or after (ms since the epoch)
};

namespace messages {

// The message the sender already created with this client_id, in any conversation.
std::optional<Message> find_client(store::Db& db, std::int64_t sender_id, const std::string& client_id);
// Takes the conversation's next seq and stores the message; returns it as stored.
Message append(store::Db& db, Message m);
std::optional<Message> find(store::Db& db, std::int64_t conversation_id, std::int64_t seq);
// Oldest first. Without after/before: the newest `limit` messages.
std::vector<Message> page(store::Db& db, std::int64_t conversation_id, const Page& p);
// Newest first; `query` is plain words (all must match), never FTS5 syntax.
// Messages with an id above `after` in the user's conversations (every conversation for user 0,
// the control socket), in id order: what the user's sessions were pushed since (state recovery).
std::vector<Message> after_id(store::Db& db, std::int64_t user_id, std::int64_t after, std::int64_t limit);
// Text messages with an id above `after`, in id order (what translation has not looked at yet).
std::vector<Message> text_after(store::Db& db, std::int64_t after, std::int64_t limit);
std::optional<Message> by_id(store::Db& db, std::int64_t id);
// The highest message id so far (0: none).
std::int64_t last_id(store::Db& db);
std::vector<Message> search(store::Db& db, std::int64_t conversation_id, const std::string& query, std::int64_t limit);
void edit(store::Db& db, std::int64_t id, const std::string& body, std::int64_t now);
// Keeps the row (and its seq) as a tombstone without content.
void tombstone(store::Db& db, std::int64_t id, std::int64_t now);
// True when a message in a conversation the user belongs to refers to the file.
bool file_visible_to(store::Db& db, std::int64_t file_id, std::int64_t user_id);

}  // namespace messages
}  // namespace tourbus::chat
