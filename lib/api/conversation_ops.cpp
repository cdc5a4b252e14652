// conversation.* operations: direct, group and tour conversations and their members.
// Only members see a conversation (others get not_found, so ids reveal nothing); operators see all.
#include <charconv>

#include "api/chat_access.hpp"
#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "chat/posting.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

Error too_many_members(std::int64_t max) {
  return Error(Code::conflict, "a group has at most " + std::to_string(max) + " members (chat.max_group_members)", "users");
}

// The conversation as the caller sees it, with the last message.
object describe(store::Db& db, const chat::Conversation& c, bool with_members) {
  auto o = to_json(c);
  auto last = c.last_seq > 0 ? chat::messages::find(db, c.id, c.last_seq) : std::nullopt;
  o["last_message"] = last ? boost::json::value(to_json(*last)) : nullptr;
  if (with_members) {
    boost::json::array members;
    for (const auto& m : chat::conversations::members(db, c.id)) members.push_back(to_json(m));
    o["members"] = std::move(members);
  }
  return o;
}

// Users a caller names as members: they exist, are enabled, are not the caller, and (for a
// tourist) are people the tourist already shares a conversation with.
Result<std::vector<store::User>> resolve_people(store::Db& db, const Caller& caller, const std::vector<std::string>& handles,
                                                std::string_view field, bool removing = false) {
  std::vector<store::User> out;
  for (const auto& h : handles) {
    auto u = store::users::find(db, h);
    if (!u) return Error(Code::not_found, std::string(field) + ": no user with handle '" + h + "'", std::string(field));
    if (removing) {  // anyone may be taken out, disabled accounts included
      out.push_back(*u);
      continue;
    }
    if (u->disabled)
      return Error(Code::invalid_argument, std::string(field) + ": the account '" + h + "' is disabled", std::string(field));
    if (caller.role == Role::tourist && u->id != caller.user_id &&
        !chat::conversations::share_conversation(db, caller.user_id, u->id))
      return Error(Code::permission_denied,
                   std::string(field) + ": a tourist can only add people they already share a conversation with ('" + h + "')",
                   std::string(field));
    if (std::none_of(out.begin(), out.end(), [&](const store::User& x) { return x.id == u->id; })) out.push_back(*u);
  }
  return out;
}

std::string who(const Caller& c) { return c.handle.empty() ? std::string("an operator") : c.handle; }

}  // namespace

boost::asio::awaitable<Result<Reply>> conversation_create(Context& ctx, const Caller& caller, const object& p) {
  auto kind = *get_string(p, "kind");
  if (kind != "direct" && kind != "group")
    co_return Error(Code::invalid_argument,
                    "kind: '" + kind + "' is not direct or group (a tour's conversation comes with the tour)", "kind");
  std::string title;
  if (auto t = get_string(p, "title")) {
    auto r = validate::text(*t, 200);
    if (!r) co_return field_error("title", r.error());
    title = *r;
  }
  auto with = get_string(p, "with");
  auto names = get_strings(p, "members");
  if (kind == "direct") {
    if (with) names.insert(names.begin(), *with);
    if (caller.user_id != 0) names.push_back(caller.handle);
    if (names.size() != 2)
      co_return Error(Code::invalid_argument,
                      caller.user_id != 0 ? "with: name the one other person of a direct conversation"
                                          : "members: name the two people of a direct conversation",
                      caller.user_id != 0 ? "with" : "members");
    if (!title.empty()) co_return Error(Code::invalid_argument, "title: a direct conversation has no title", "title");
  } else {
    if (with) co_return Error(Code::invalid_argument, "with: only for direct conversations; use members", "with");
    if (title.empty()) co_return Error(Code::invalid_argument, "title: required for a group", "title");
    if (caller.user_id != 0) names.push_back(caller.handle);
  }
  auto now = timeutil::now_ms();
  auto max_members = ctx.config.get()->chat_max_group_members;
  auto* stats = &ctx.stats;
  struct Made {
    chat::Conversation conversation;
    bool created = false;
    object json;
  };
  auto pending = ctx.writer.run<Made>([=](store::Db& db) -> Result<Made> {
    auto people = resolve_people(db, caller, names, kind == "direct" ? (with ? "with" : "members") : "members");
    if (!people) return people.error();
    if (kind == "group" && static_cast<std::int64_t>(people->size()) > max_members) {
      stats->count(Limit::group_members);
      return too_many_members(max_members);
    }
    std::optional<std::string> key;
    if (kind == "direct") {
      if (people->size() != 2)
        return Error(Code::invalid_argument, "with: a direct conversation is between two different people", "with");
      key = chat::direct_key((*people)[0].id, (*people)[1].id);
      if (auto existing = chat::conversations::find_direct(db, *key)) {
        auto c = chat::conversations::find_for(db, *existing, caller.user_id);
        return Made{*c, false, describe(db, *c, true)};
      }
    }
    chat::Conversation c;
    c.kind = kind;
    c.title = title;
    c.owner_id = kind == "group" ? caller.user_id : 0;
    c.created_at = c.updated_at = now;
    auto id = chat::conversations::insert(db, c, key);
    for (const auto& u : *people) chat::conversations::add_member(db, id, u.id, now);
    auto stored = chat::conversations::find_for(db, id, caller.user_id);
    return Made{*stored, true, describe(db, *stored, true)};
  });
  auto made = co_await std::move(pending);
  if (!made) co_return made.error();
  if (made->created) {
    logging::get("chat")->info("chat.conversation_created id={} kind={} by={}", made->conversation.id, kind, who(caller));
    chat::MembersChanged change;
    change.conversation = made->conversation.id;
    for (const auto& m : made->json.at("members").as_array()) change.added.emplace_back(m.at("handle").as_string());
    announce(ctx, change);
    co_return Reply::created(std::move(made->json));
  }
  co_return Reply::ok(std::move(made->json));
}

namespace {

// A conversation.list cursor, "ACTIVITY_MS.ID": where the previous page ended.
std::optional<std::pair<std::int64_t, std::int64_t>> parse_cursor(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s) -> std::optional<std::int64_t> {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
  };
  auto at = number(text.substr(0, dot)), id = number(text.substr(dot + 1));
  if (!at || !id) return std::nullopt;
  return std::pair{*at, *id};
}

}  // namespace

boost::asio::awaitable<Result<Reply>> conversation_list(Context& ctx, const Caller& caller, const object& p) {
  chat::ConversationFilter f;
  if (auto k = get_string(p, "kind")) {
    if (*k != "direct" && *k != "group" && *k != "tour")
      co_return Error(Code::invalid_argument, "kind: '" + *k + "' is not direct, group or tour", "kind");
    f.kind = *k;
  }
  f.archived = get_bool(p, "archived");
  if (!f.archived) f.archived = false;  // archived conversations are listed only when asked for
  f.after_id = get_int(p, "after").value_or(0);
  if (auto cursor = get_string(p, "cursor")) {
    f.before = parse_cursor(*cursor);
    if (!f.before) co_return Error(Code::invalid_argument, "cursor: pass the next_cursor of a previous answer", "cursor");
  }
  auto limit = std::clamp<std::int64_t>(get_int(p, "limit").value_or(200), 1, 1000);
  f.limit = limit + 1;  // one more tells whether another page follows
  auto user = get_string(p, "user");
  if (user && !caller.is_operator())
    co_return Error(Code::permission_denied, "user: only operators list other people's conversations", "user");
  struct Page {
    boost::json::array conversations;
    std::optional<std::string> next;
  };
  auto result = ctx.reads.with([&](store::Db& db) -> Result<Page> {
    if (caller.user_id != 0) f.member = caller.user_id;
    if (user) {
      auto u = store::users::find(db, *user);
      if (!u) return Error(Code::not_found, "user: no user with handle '" + *user + "'", "user");
      f.member = u->id;
    }
    if (!f.member) f.archived.reset();
    auto found = chat::conversations::list(db, f);
    Page page;
    if (static_cast<std::int64_t>(found.size()) > limit) {
      found.resize(static_cast<std::size_t>(limit));
      const auto& last = found.back();
      page.next = std::to_string(last.last_message_at.value_or(last.created_at)) + "." + std::to_string(last.id);
    }
    for (const auto& c : found) page.conversations.push_back(describe(db, c, false));
    return page;
  });
  if (!result) co_return result.error();
  object answer{{"conversations", std::move(result->conversations)}};
  answer["next_cursor"] = result->next ? boost::json::value(*result->next) : boost::json::value(nullptr);
  co_return Reply::ok(std::move(answer));
}

boost::asio::awaitable<Result<Reply>> conversation_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto c = visible_conversation(db, caller, id, "id");
    if (!c) return c.error();
    return describe(db, *c, true);
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> conversation_update(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto title = validate::text(get_string(p, "title").value_or(""), 200);
  if (!title) co_return field_error("title", title.error());
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<chat::Posted>([=, title = *title](store::Db& db) -> Result<chat::Posted> {
    auto c = visible_conversation(db, caller, id, "id");
    if (!c) return c.error();
    if (c->kind != "group")
      return Error(Code::conflict, "only a group's title can change (a tour's follows the tour)", "id");
    if (!caller.is_operator() && caller.role != Role::guide && c->owner_id != caller.user_id)
      return Error(Code::permission_denied, "only the group's owner, guides and operators rename it");
    chat::conversations::set_title(db, id, title, now);
    return chat::post_system(db, id, who(caller) + " renamed the conversation to \"" + title + "\"",
                             {{"action", "renamed"}, {"by", who(caller)}, {"title", title}}, now);
  });
  auto posted = co_await std::move(pending);
  if (!posted) co_return posted.error();
  announce(ctx, *posted);
  auto shown = ctx.reads.with([&](store::Db& db) {
    return describe(db, *chat::conversations::find_for(db, id, caller.user_id), true);
  });
  co_return Reply::ok(std::move(shown));
}

namespace {

template <bool Add>
boost::asio::awaitable<Result<Reply>> change_members(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto handles = get_strings(p, "users");
  if (handles.empty()) co_return Error(Code::invalid_argument, "users: name at least one user", "users");
  auto now = timeutil::now_ms();
  auto max_members = ctx.config.get()->chat_max_group_members;
  auto* stats = &ctx.stats;
  auto pending = ctx.writer.run<chat::MembersChanged>([=](store::Db& db) -> Result<chat::MembersChanged> {
    auto c = visible_conversation(db, caller, id, "id");
    if (!c) return c.error();
    if (c->kind == "direct")
      return Error(Code::conflict, "a direct conversation always has its two people; create a group instead", "id");
    bool staff = caller.is_operator() || (caller.role == Role::guide && c->me);
    if (c->kind == "tour" && !staff)
      return Error(Code::permission_denied, "only the tour's guide and operators change who is in a tour's conversation");
    if (!Add && c->kind == "group" && !staff && c->owner_id != caller.user_id)
      return Error(Code::permission_denied, "only the group's owner, its guides and operators remove members");
    auto people = resolve_people(db, caller, handles, "users", !Add);
    if (!people) return people.error();
    chat::MembersChanged change;
    change.conversation = id;
    if constexpr (Add) {
      auto have = chat::conversations::member_ids(db, id);
      auto after = static_cast<std::int64_t>(have.size());
      for (const auto& u : *people)
        if (std::find(have.begin(), have.end(), u.id) == have.end()) ++after;
      if (after > max_members) {
        stats->count(Limit::group_members);
        return too_many_members(max_members);
      }
    }
    for (const auto& u : *people) {
      if constexpr (Add) {
        if (chat::conversations::add_member(db, id, u.id, now)) change.added.push_back(u.handle);
      } else {
        if (!chat::conversations::remove_member(db, id, u.id))
          return Error(Code::not_found, "users: '" + u.handle + "' is not a member of conversation " + std::to_string(id), "users");
        change.removed.push_back(u.handle);
        change.removed_ids.push_back(u.id);
      }
    }
    if (change.added.empty() && change.removed.empty()) return change;
    std::string names;
    for (const auto& h : Add ? change.added : change.removed) names += (names.empty() ? "" : ", ") + h;
    boost::json::array list;
    for (const auto& h : Add ? change.added : change.removed) list.emplace_back(h);
    change.notice = chat::post_system(db, id, who(caller) + (Add ? " added " : " removed ") + names,
                                      {{"action", Add ? "members_added" : "members_removed"}, {"by", who(caller)},
                                       {"users", std::move(list)}},
                                      now);
    return change;
  });
  auto change = co_await std::move(pending);
  if (!change) co_return change.error();
  if (!change->added.empty() || !change->removed.empty()) announce(ctx, *change);
  auto shown = ctx.reads.with([&](store::Db& db) {
    return describe(db, *chat::conversations::find_for(db, id, caller.user_id), true);
  });
  co_return Reply::ok(std::move(shown));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> conversation_add(Context& ctx, const Caller& caller, const object& p) {
  auto pending = change_members<true>(ctx, caller, p);
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> conversation_remove(Context& ctx, const Caller& caller, const object& p) {
  auto pending = change_members<false>(ctx, caller, p);
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> conversation_leave(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<chat::MembersChanged>([=](store::Db& db) -> Result<chat::MembersChanged> {
    auto c = visible_conversation(db, caller, id, "id");
    if (!c) return c.error();
    if (!c->me) return Error(Code::conflict, "the caller is not a member of conversation " + std::to_string(id), "id");
    if (c->kind != "group")
      return Error(Code::conflict, c->kind == "tour" ? "a tour's conversation follows the tour; mute or archive it instead"
                                                     : "a direct conversation cannot be left; mute or archive it instead",
                   "id");
    chat::conversations::remove_member(db, id, caller.user_id);
    chat::MembersChanged change;
    change.conversation = id;
    change.removed = {caller.handle};
    change.removed_ids = {caller.user_id};
    change.notice = chat::post_system(db, id, caller.handle + " left",
                                      {{"action", "member_left"}, {"by", caller.handle}}, now);
    return change;
  });
  auto change = co_await std::move(pending);
  if (!change) co_return change.error();
  announce(ctx, *change);
  co_return Reply::ok(object{{"id", id}, {"left", true}});
}

namespace {

// conversation.mute and conversation.archive: a flag of the caller's own membership.
boost::asio::awaitable<Result<Reply>> set_flag(Context& ctx, const Caller& caller, const object& p, bool mute) {
  auto id = *get_int(p, "id");
  auto value = get_bool(p, mute ? "muted" : "archived").value_or(true);
  auto pending = ctx.writer.run<object>([=](store::Db& db) -> Result<object> {
    auto c = visible_conversation(db, caller, id, "id");
    if (!c) return c.error();
    if (!c->me) return Error(Code::conflict, "only members mute or archive a conversation", "id");
    chat::conversations::set_flags(db, id, caller.user_id, mute ? std::optional(value) : std::nullopt,
                                   mute ? std::nullopt : std::optional(value));
    return describe(db, *chat::conversations::find_for(db, id, caller.user_id), false);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> conversation_mute(Context& ctx, const Caller& caller, const object& p) {
  auto pending = set_flag(ctx, caller, p, true);
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> conversation_archive(Context& ctx, const Caller& caller, const object& p) {
  auto pending = set_flag(ctx, caller, p, false);
  co_return co_await std::move(pending);
}

namespace {
const Binding kBindings[] = {
    {"conversation.create", conversation_create},
    {"conversation.list", conversation_list},
    {"conversation.show", conversation_show},
    {"conversation.update", conversation_update},
    {"conversation.add", conversation_add},
    {"conversation.remove", conversation_remove},
    {"conversation.leave", conversation_leave},
    {"conversation.mute", conversation_mute},
    {"conversation.archive", conversation_archive},
};
}  // namespace

std::span<const Binding> conversation_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
