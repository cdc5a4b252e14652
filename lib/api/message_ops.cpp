// message.* operations: send (acknowledged after commit, then fanned out), history pages for
// sync after a reconnect, full-text search, edit and delete (a tombstone keeps the seq).
#include <cmath>

#include "core/json.hpp"

#include "api/chat_access.hpp"
#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "chat/files.hpp"
#include "chat/posting.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"
#include "store/users.hpp"
#include "translate/language.hpp"
#include "translate/runner.hpp"
#include "translate/translations.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

// The message a send request describes, validated (not yet its conversation or file rights).
Result<chat::Message> draft_from(const Caller& caller, const object& p, std::size_t max_text) {
  chat::Message m;
  m.conversation_id = *get_int(p, "conversation");
  m.sender_id = caller.user_id;
  if (caller.user_id != 0) m.sender_handle = caller.handle;
  m.kind = get_string(p, "kind").value_or("text");
  if (auto cid = get_string(p, "client_id")) {
    if (cid->empty() || cid->size() > 128) return Error(Code::invalid_argument, "client_id: 1 to 128 bytes", "client_id");
    m.client_id = *cid;
  }
  auto text = get_string(p, "text");
  if (text) {
    auto t = validate::message_text(*text, max_text);
    if (!t) return field_error("text", t.error());
    m.body = *t;
  }
  auto lat = get_number(p, "lat"), lon = get_number(p, "lon"), accuracy = get_number(p, "accuracy");
  auto label = get_string(p, "label");
  auto file = get_int(p, "file");
  if (m.kind == "text") {
    if (!text) return Error(Code::invalid_argument, "text: required for a text message", "text");
  } else if (m.kind == "location") {
    if (!lat || !lon) return Error(Code::invalid_argument, "lat and lon: required for a location", lat ? "lon" : "lat");
    if (!std::isfinite(*lat) || *lat < -90 || *lat > 90) return Error(Code::invalid_argument, "lat: must be -90 to 90", "lat");
    if (!std::isfinite(*lon) || *lon < -180 || *lon > 180)
      return Error(Code::invalid_argument, "lon: must be -180 to 180", "lon");
    object loc{{"lat", *lat}, {"lon", *lon}};
    if (accuracy) {
      if (!std::isfinite(*accuracy) || *accuracy < 0 || *accuracy > 1e6)
        return Error(Code::invalid_argument, "accuracy: metres, 0 to 1000000", "accuracy");
      loc["accuracy"] = *accuracy;
    } else {
      loc["accuracy"] = nullptr;
    }
    if (label) {
      auto l = validate::text(*label, 200);
      if (!l) return field_error("label", l.error());
      loc["label"] = *l;
    } else {
      loc["label"] = nullptr;
    }
    m.data = json::dump(loc);
  } else if (m.kind == "file") {
    if (!file) return Error(Code::invalid_argument, "file: required for a file message (the id from POST /v1/files)", "file");
    m.file_id = *file;
  } else {
    return Error(Code::invalid_argument, "kind: '" + m.kind + "' is not text, file or location", "kind");
  }
  if (m.kind != "location" && (lat || lon || accuracy || label))
    return Error(Code::invalid_argument, "lat, lon, accuracy and label belong to a location message", lat ? "lat" : "lon");
  if (m.kind != "file" && file) return Error(Code::invalid_argument, "file: only for a file message", "file");
  auto lang = get_string(p, "lang");
  auto wanted = get_bool(p, "translate");
  if (m.kind != "text" && (lang || wanted))
    return Error(Code::invalid_argument, "lang and translate belong to a text message", lang ? "lang" : "translate");
  if (lang) {
    auto code = translate::primary(*lang);
    if (code.empty()) return Error(Code::invalid_argument, "lang: '" + *lang + "' is not a language tag (es, en-GB)", "lang");
    m.lang = code;
    m.lang_method = "client";
  } else if (m.kind == "text") {
    // Undeclared: detected from the text when it says enough, else the sender's language (below).
    if (auto d = translate::detect(m.body)) {
      m.lang = d->lang;
      m.lang_method = "detected";
    }
  }
  m.translate = wanted.value_or(true);
  m.created_at = timeutil::now_ms();
  return m;
}

std::string who(const Caller& c) { return c.handle.empty() ? std::string("operator") : c.handle; }

}  // namespace

boost::asio::awaitable<Result<Reply>> message_send(Context& ctx, const Caller& caller, const object& p) {
  auto draft = draft_from(caller, p, static_cast<std::size_t>(ctx.config.get()->chat_max_text_bytes));
  if (!draft) co_return draft.error();
  auto default_language = ctx.config.get()->notify_default_language;
  auto pending = ctx.writer.run<chat::Posted>([caller, m = std::move(*draft), default_language](store::Db& db) mutable -> Result<chat::Posted> {
    if (auto ok = check_visible(db, caller, m.conversation_id, "conversation"); !ok) return ok.error();
    if (m.file_id) {
      m.file = chat::files::find(db, *m.file_id);
      // Sharing needs the uploader, or someone who could already see the file.
      bool ok = m.file && (m.file->uploader_id == caller.user_id || caller.is_operator() ||
                           chat::messages::file_visible_to(db, *m.file_id, caller.user_id));
      if (!ok) return Error(Code::not_found, "file: no file " + std::to_string(*m.file_id) + " that you uploaded", "file");
    }
    if (m.kind == "text" && !m.lang) {
      auto sender = caller.user_id ? store::users::find_id(db, caller.user_id) : std::nullopt;
      m.lang = translate::primary(sender ? sender->language : default_language);
      m.lang_method = "sender";
    }
    return chat::post(db, std::move(m));
  });
  auto posted = co_await std::move(pending);
  if (!posted) co_return posted.error();
  const auto& m = posted->message;
  if (!posted->duplicate)
    logging::get("chat")->debug("chat.message_stored conversation={} seq={} kind={} sender={} req={}", m.conversation_id,
                               m.seq, m.kind, who(caller), caller.request_id);
  announce(ctx, *posted);
  if (!posted->duplicate && m.kind == "text" && ctx.translation) ctx.translation->wake();
  auto out = to_json(m);
  out["duplicate"] = posted->duplicate;
  co_return posted->duplicate ? Reply::ok(std::move(out)) : Reply::created(std::move(out));
}

boost::asio::awaitable<Result<Reply>> message_history(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "conversation");
  auto max = ctx.config.get()->chat_history_page;
  chat::Page page;
  page.after = get_int(p, "after");
  page.before = get_int(p, "before");
  auto limit = get_int(p, "limit").value_or(max);
  if (limit < 1 || limit > max)
    co_return Error(Code::invalid_argument, "limit: 1 to " + std::to_string(max) + " (chat.history_page)", "limit");
  page.limit = limit + 1;  // one more tells whether there is more
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto c = visible_conversation(db, caller, id, "conversation");
    if (!c) return c.error();
    auto list = chat::messages::page(db, id, page);
    bool more = static_cast<std::int64_t>(list.size()) > limit;
    if (more) {
      // The extra one is beyond the page: the newest when paging forward, the oldest backward.
      if (page.after) list.pop_back();
      else list.erase(list.begin());
    }
    auto out = messages_json(db, list, reading_language(db, caller.user_id));
    return object{{"conversation", id}, {"messages", std::move(out)}, {"more", more}, {"last_seq", c->last_seq}};
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> message_search(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "conversation");
  auto q = *get_string(p, "q");
  auto max = ctx.config.get()->chat_history_page;
  auto limit = std::clamp<std::int64_t>(get_int(p, "limit").value_or(50), 1, max);
  if (q.find_first_not_of(" \t\r\n") == std::string::npos)
    co_return Error(Code::invalid_argument, "q: give at least one word to search for", "q");
  if (q.size() > 500) co_return Error(Code::invalid_argument, "q: at most 500 bytes", "q");
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto c = visible_conversation(db, caller, id, "conversation");
    if (!c) return c.error();
    auto out = messages_json(db, chat::messages::search(db, id, q, limit), reading_language(db, caller.user_id));
    return object{{"conversation", id}, {"messages", std::move(out)}};
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

namespace {

// message.edit and message.delete: the sender changes their own message; operators may delete any.
boost::asio::awaitable<Result<Reply>> change_message(Context& ctx, const Caller& caller, const object& p, bool remove) {
  auto id = *get_int(p, "conversation");
  auto seq = *get_int(p, "seq");
  std::string text;
  if (!remove) {
    auto t = validate::message_text(get_string(p, "text").value_or(""), static_cast<std::size_t>(ctx.config.get()->chat_max_text_bytes));
    if (!t) co_return field_error("text", t.error());
    text = *t;
  }
  struct Changed {
    chat::Message message;
    std::vector<std::int64_t> members;
  };
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<Changed>([=](store::Db& db) -> Result<Changed> {
    auto c = visible_conversation(db, caller, id, "conversation");
    if (!c) return c.error();
    auto m = chat::messages::find(db, id, seq);
    if (!m) return Error(Code::not_found, "no message " + std::to_string(seq) + " in conversation " + std::to_string(id), "seq");
    bool own = m->sender_id == caller.user_id && (caller.user_id != 0 || m->kind != "system");
    if (!own && !(remove && caller.is_operator()))
      return Error(Code::permission_denied, remove ? "only the sender or an operator deletes a message"
                                                   : "only the sender edits a message");
    if (m->deleted_at) return Error(Code::conflict, "message " + std::to_string(seq) + " was deleted", "seq");
    if (!remove && m->kind != "text") return Error(Code::conflict, "only text messages can be edited", "seq");
    if (remove) chat::messages::tombstone(db, m->id, now);
    else chat::messages::edit(db, m->id, text, now);
    // The translations were of the old text: gone, and an edited text is translated again.
    translate::translations::remove(db, m->id);
    if (remove || !m->translate) translate::jobs::done(db, m->id);
    else translate::jobs::schedule(db, m->id, now, 0, std::nullopt);
    return Changed{*chat::messages::find(db, id, seq), chat::conversations::member_ids(db, id)};
  });
  auto changed = co_await std::move(pending);
  if (!changed) co_return changed.error();
  logging::get("chat")->info("chat.message_{} conversation={} seq={} by={}", remove ? "deleted" : "edited", id, seq, who(caller));
  announce_update(ctx, changed->message, changed->members);
  if (!remove && ctx.translation) ctx.translation->wake();
  co_return Reply::ok(to_json(changed->message));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> message_edit(Context& ctx, const Caller& caller, const object& p) {
  auto pending = change_message(ctx, caller, p, false);
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> message_delete(Context& ctx, const Caller& caller, const object& p) {
  auto pending = change_message(ctx, caller, p, true);
  co_return co_await std::move(pending);
}

namespace {
const Binding kBindings[] = {
    {"message.send", message_send},
    {"message.history", message_history},
    {"message.search", message_search},
    {"message.edit", message_edit},
    {"message.delete", message_delete},
};
}  // namespace

std::span<const Binding> message_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
