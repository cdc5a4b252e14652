#include <catch2/catch.hpp>

#include "../support.hpp"
#include "chat/files.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

std::int64_t add_file(store::Db& db, const std::string& sha, std::int64_t created_at) {
  chat::FileInfo f;
  f.sha256 = sha;
  f.content_type = "image/png";
  f.name = "p.png";
  f.size = 10;
  f.created_at = created_at;
  return chat::files::insert(db, f);
}

}  // namespace

TEST_CASE("retention: expired files go, a blob still used by a newer upload stays", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Db db(target, store::Db::Mode::read_write);
  store::configure_writer(db, "full");
  REQUIRE(store::migrate(db));
  const std::string a(64, 'a'), b(64, 'b');
  auto old_a = add_file(db, a, 1'000);
  auto old_b = add_file(db, b, 1'000);
  auto new_b = add_file(db, b, 9'000);  // the same bytes uploaded again later
  db.exec("INSERT INTO conversations (kind, created_at, updated_at) VALUES ('group', 0, 0)");
  db.prepare("INSERT INTO messages (conversation_id, seq, sender_id, kind, body, file_id, created_at) "
             "VALUES (1, 1, 0, 'file', '', ?, 1000)")
      .bind(1, old_a)
      .run();

  auto gone = chat::files::expire(db, 5'000);
  CHECK(gone == std::vector<std::string>{a});  // b is still referenced by the newer upload
  CHECK_FALSE(chat::files::find(db, old_a));
  CHECK_FALSE(chat::files::find(db, old_b));
  REQUIRE(chat::files::find(db, new_b));
  auto s = db.prepare("SELECT file_id IS NULL, kind FROM messages WHERE seq = 1");
  REQUIRE(s.step());
  CHECK(s.i64(0) == 1);  // the message stays, its file shows as expired
  CHECK(s.text(1) == "file");
  CHECK(chat::files::expire(db, 5'000).empty());  // nothing left to expire
}
