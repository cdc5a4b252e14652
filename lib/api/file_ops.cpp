// file.* operations: uploads over HTTP (the body is the file), sniffed and checked against the
// allow-list, stored durably before the answer; downloads only for people who can see a message
// sharing the file (and its uploader).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/handlers.hpp"
#include "api/maintenance.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

Error no_file(std::int64_t id) { return Error(Code::not_found, "no file " + std::to_string(id) + " that you can see", "id"); }

// The file if the caller may see it: operators, its uploader, and members of a conversation where
// it was shared; not_found otherwise, so ids reveal nothing.
Result<chat::FileInfo> visible_file(Context& ctx, const Caller& caller, std::int64_t id) {
  return ctx.reads.with([&](store::Db& db) -> Result<chat::FileInfo> {
    auto f = chat::files::find(db, id);
    if (!f || !(caller.is_operator() || f->uploader_id == caller.user_id ||
                chat::messages::file_visible_to(db, f->id, caller.user_id)))
      return no_file(id);
    return *f;
  });
}

// RFC 6266/5987: filename*=UTF-8''percent-encoded, plus an ASCII fallback.
std::string disposition(const std::string& name) {
  std::string ascii, encoded;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : name) {
    ascii += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '_';
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_') encoded += static_cast<char>(c);
    else {
      encoded += '%';
      encoded += hex[c >> 4];
      encoded += hex[c & 15];
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

}  // namespace

boost::asio::awaitable<Result<Reply>> file_upload(Context& ctx, const Caller& caller, const object& p) {
  std::error_code ec;
  auto size = caller.body_file ? std::filesystem::file_size(*caller.body_file, ec) : 0;
  if (size == 0 || ec) co_return Error(Code::invalid_argument, "send the file's bytes as the request body", "content");
  chat::FileInfo f;
  f.name = chat::display_name(get_string(p, "name").value_or("file"));
  f.size = static_cast<std::int64_t>(size);
  f.uploader_id = caller.user_id;
  f.created_at = timeutil::now_ms();
  // Sniffing (the first MiB is enough for libmagic and image headers), hashing and the durable
  // move into the blob store run on the blocking pool; the body never sits in memory whole.
  auto prepare = [&ctx, &f, body = *caller.body_file]() -> boost::asio::awaitable<Status> {
    auto head = chat::read_prefix(body, 1 << 20);
    f.content_type = ctx.sniffer.content_type(head);
    auto allowed = chat::allowed_types();
    if (std::find(allowed.begin(), allowed.end(), f.content_type) == allowed.end())
      co_return Error(Code::unsupported_media_type,
                      "the file's content is " + f.content_type +
                          ", which is not accepted (images, PDF, text and office documents are; see docs/api.md)");
    if (auto dims = chat::image_size(head, f.content_type)) {
      f.width = dims->first;
      f.height = dims->second;
    }
    f.sha256 = crypto::sha256_file_hex(body.string());
    chat::store_blob_file(ctx.files_dir, f.sha256, body);
    co_return Status{};
  };
  auto pending = boost::asio::co_spawn(ctx.blocking, prepare, boost::asio::use_awaitable);
  auto st = co_await std::move(pending);
  if (!st) co_return st.error();
  auto stored = ctx.writer.run<chat::FileInfo>([f](store::Db& db) mutable -> Result<chat::FileInfo> {
    f.id = chat::files::insert(db, f);
    return f;
  });
  auto r = co_await std::move(stored);
  if (!r) co_return r.error();
  logging::get("chat")->info("chat.file_stored id={} type={} bytes={} uploader={}", r->id, r->content_type, r->size,
                             caller.handle.empty() ? "operator" : caller.handle);
  co_return Reply::created(to_json(*r));
}

boost::asio::awaitable<Result<Reply>> file_show(Context& ctx, const Caller& caller, const object& p) {
  auto f = visible_file(ctx, caller, *get_int(p, "id"));
  if (!f) co_return f.error();
  co_return Reply::ok(to_json(*f));
}

boost::asio::awaitable<Result<Reply>> file_download(Context& ctx, const Caller& caller, const object& p) {
  auto f = visible_file(ctx, caller, *get_int(p, "id"));
  if (!f) co_return f.error();
  Reply r;
  r.content_type = f->content_type;
  r.file = chat::blob_path(ctx.files_dir, f->sha256);
  r.keep_file = true;
  r.disposition = disposition(f->name);
  co_return r;
}

namespace {
const Binding kBindings[] = {
    {"file.upload", file_upload},
    {"file.show", file_show},
    {"file.download", file_download},
};
}  // namespace

std::span<const Binding> file_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers

namespace tourbus::api {

boost::asio::awaitable<void> expire_files(Context& ctx) {
  auto days = ctx.config.get()->files_retention_days;
  if (days == 0) co_return;
  auto cutoff = timeutil::now_ms() - days * 86'400'000;
  auto pending = ctx.writer.run<std::vector<std::string>>(
      [cutoff](store::Db& db) -> Result<std::vector<std::string>> { return chat::files::expire(db, cutoff); });
  auto gone = co_await std::move(pending);
  if (!gone) co_return;
  std::error_code ec;
  for (const auto& sha : *gone) std::filesystem::remove(chat::blob_path(ctx.files_dir, sha), ec);
  if (!gone->empty()) logging::get("chat")->info("chat.files_expired blobs={} older_than_days={}", gone->size(), days);
}

}  // namespace tourbus::api
