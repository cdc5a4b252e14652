// The translation tables (migration 0010): translations per message and language, the cursor and
// retry jobs of the runner, the once-per-conversation notices, the glossary and the switches.
// Functions take the Db of the caller's thread and throw store::SqlError on database failures.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "store/db.hpp"

namespace tourbus::translate {

struct Stored {
  std::int64_t message_id = 0;
  std::string lang, text, provider;
  std::optional<std::string> pivot;
  std::int64_t created_at = 0;
};

struct Job {
  std::int64_t message_id = 0;
  std::int64_t due_at = 0;
  std::int64_t attempts = 0;
  std::optional<std::string> last_error;
};

// A conversation member as translation sees them: their language and whether they want
// translations here (their own switch, then the member's choice, else the conversation default).
struct Reader {
  std::int64_t user_id = 0;
  std::string lang;  // primary subtag of their preferred language
  bool wants = true;
};

struct Term {
  std::int64_t id = 0;
  std::string term, note;
  std::int64_t created_at = 0;
};

namespace translations {
// message id -> its translations (only into `lang` when given).
std::map<std::int64_t, std::vector<Stored>> of(store::Db& db, std::span<const std::int64_t> messages,
                                               const std::optional<std::string>& lang);
void put(store::Db& db, const Stored& t);
// An edit or deletion: the old translations go.
void remove(store::Db& db, std::int64_t message_id);
std::int64_t count(store::Db& db);
}  // namespace translations

namespace jobs {
std::int64_t cursor(store::Db& db);
void set_cursor(store::Db& db, std::int64_t message_id);
std::vector<Job> due(store::Db& db, std::int64_t now, std::int64_t limit);
// The next time a job is due (nothing: none waiting).
std::optional<std::int64_t> next_due(store::Db& db);
// Look at the message (again) at `due_at` (an edit: now; a failure: later, attempts counted).
void schedule(store::Db& db, std::int64_t message_id, std::int64_t due_at, std::int64_t attempts,
              const std::optional<std::string>& error);
void done(store::Db& db, std::int64_t message_id);
std::int64_t waiting(store::Db& db);
}  // namespace jobs

namespace notices {
// True the first time a conversation meets the pair (then it is recorded).
bool first(store::Db& db, std::int64_t conversation, const std::string& source, const std::string& target, std::int64_t now);
}  // namespace notices

namespace glossary {
Result<Term> add(store::Db& db, const std::string& term, const std::string& note, std::int64_t now);
std::vector<Term> list(store::Db& db);
bool remove(store::Db& db, std::int64_t id);
std::vector<std::string> terms(store::Db& db);
}  // namespace glossary

namespace settings {
std::vector<Reader> readers(store::Db& db, std::int64_t conversation);
// The conversation's default for members who chose nothing.
bool conversation_default(store::Db& db, std::int64_t conversation);
void set_user(store::Db& db, std::int64_t user, bool on);
bool user(store::Db& db, std::int64_t user);
// nullopt: follow the conversation's default again.
void set_member(store::Db& db, std::int64_t conversation, std::int64_t user, std::optional<bool> on);
std::optional<bool> member(store::Db& db, std::int64_t conversation, std::int64_t user);
void set_conversation(store::Db& db, std::int64_t conversation, bool on);
}  // namespace settings

}  // namespace tourbus::translate
