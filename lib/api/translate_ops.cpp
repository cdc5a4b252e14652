// Translation: trying the engines (translate), the switches of people and conversations
// (translation.set, conversation.translation) and the glossary of protected terms.
#include "api/chat_access.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"
#include "translate/language.hpp"
#include "translate/runner.hpp"
#include "translate/translations.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

Result<std::string> language(const object& p, std::string_view field) {
  auto tag = *get_string(p, field);
  auto code = translate::primary(tag);
  if (code.empty()) return Error(Code::invalid_argument, std::string(field) + ": '" + tag + "' is not a language tag (es, en-GB)", std::string(field));
  return code;
}

object term_json(const translate::Term& t) {
  return object{{"id", t.id}, {"term", t.term}, {"note", t.note}, {"created_at", timeutil::format_utc(t.created_at)}};
}

}  // namespace

boost::asio::awaitable<Result<Reply>> translate_text(Context& ctx, const Caller&, const object& p) {
  auto text = validate::message_text(*get_string(p, "text"), static_cast<std::size_t>(ctx.config.get()->chat_max_text_bytes));
  if (!text) co_return field_error("text", text.error());
  auto from = language(p, "from");
  if (!from) co_return from.error();
  auto to = language(p, "to");
  if (!to) co_return to.error();
  if (!ctx.translation) co_return Error(Code::unavailable, "translation is not running in this process");
  if (*from == *to) co_return Reply::ok(object{{"text", *text}, {"from", *from}, {"to", *to}, {"provider", nullptr}, {"pivot", nullptr}, {"cached", false}});
  auto terms = ctx.reads.with([](store::Db& db) { return translate::glossary::terms(db); });
  auto pending = ctx.translation->run(*text, *from, *to, std::move(terms));
  auto out = co_await std::move(pending);
  using Kind = translate::Outcome::Kind;
  if (out.kind == Kind::unsupported) co_return Error(Code::not_found, out.error + " (translate.providers, translate.routes)", "to");
  if (out.kind == Kind::failed) co_return Error(Code::unavailable, "no engine could translate: " + out.error);
  co_return Reply::ok(object{{"text", out.text},
                             {"from", *from},
                             {"to", *to},
                             {"provider", out.provider},
                             {"pivot", out.pivot.empty() ? boost::json::value(nullptr) : boost::json::value(out.pivot)},
                             {"cached", out.cached}});
}

boost::asio::awaitable<Result<Reply>> translation_set(Context& ctx, const Caller& caller, const object& p) {
  if (caller.user_id == 0) co_return Error(Code::invalid_argument, "translation.set is about the calling user: call it with their token");
  auto conversation = get_int(p, "conversation");
  std::optional<bool> enabled = is_null(p, "enabled") ? std::nullopt : get_bool(p, "enabled");
  if (!enabled && !conversation)
    co_return Error(Code::invalid_argument, "enabled: null (follow the conversation's default) needs a conversation", "enabled");
  auto pending = ctx.writer.run<object>([=](store::Db& db) -> Result<object> {
    if (conversation) {
      auto c = visible_conversation(db, caller, *conversation, "conversation");
      if (!c) return c.error();
      if (!c->me) return not_visible(*conversation, "conversation");
      translate::settings::set_member(db, *conversation, caller.user_id, enabled);
      return object{{"conversation", *conversation},
                    {"enabled", enabled ? boost::json::value(*enabled) : nullptr},
                    {"default", translate::settings::conversation_default(db, *conversation)},
                    {"everywhere", translate::settings::user(db, caller.user_id)}};
    }
    translate::settings::set_user(db, caller.user_id, *enabled);
    return object{{"everywhere", *enabled}};
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> conversation_translation(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto enabled = *get_bool(p, "enabled");
  auto pending = ctx.writer.run<object>([=](store::Db& db) -> Result<object> {
    auto c = visible_conversation(db, caller, id, "id");
    if (!c) return c.error();
    bool allowed = caller.is_operator() || c->owner_id == caller.user_id || (caller.role == Role::guide && c->me);
    if (!allowed) return Error(Code::permission_denied, "only the conversation's owner, a guide in it or an operator sets its default");
    translate::settings::set_conversation(db, id, enabled);
    return object{{"conversation", id}, {"default", enabled}};
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("translate")->info("translate.conversation_default conversation={} enabled={} by={}", id, enabled,
                                  caller.handle.empty() ? "operator" : caller.handle);
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> glossary_add(Context& ctx, const Caller&, const object& p) {
  auto term = validate::text(*get_string(p, "term"), 200);
  if (!term) co_return field_error("term", term.error());
  auto note = get_string(p, "note").value_or("");
  if (!note.empty()) {
    auto n = validate::text(note, 500);
    if (!n) co_return field_error("note", n.error());
    note = *n;
  }
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<translate::Term>(
      [t = *term, n = note, now](store::Db& db) { return translate::glossary::add(db, t, n, now); });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Reply::created(term_json(*r));
}

boost::asio::awaitable<Result<Reply>> glossary_list(Context& ctx, const Caller&, const object&) {
  auto list = ctx.reads.with([](store::Db& db) { return translate::glossary::list(db); });
  boost::json::array out;
  for (const auto& t : list) out.push_back(term_json(t));
  co_return Reply::ok(object{{"terms", std::move(out)}});
}

boost::asio::awaitable<Result<Reply>> glossary_remove(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  auto pending = ctx.writer.run<bool>([id](store::Db& db) -> Result<bool> {
    if (!translate::glossary::remove(db, id)) return Error(Code::not_found, "no glossary term " + std::to_string(id), "id");
    return true;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Reply::ok(object{{"removed", id}});
}

namespace {
const Binding kBindings[] = {
    {"translate", translate_text},
    {"translation.set", translation_set},
    {"conversation.translation", conversation_translation},
    {"glossary.add", glossary_add},
    {"glossary.list", glossary_list},
    {"glossary.remove", glossary_remove},
};
}  // namespace

std::span<const Binding> translate_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
