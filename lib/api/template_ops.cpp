// template.* operations: the message templates, shown and rendered with sample data.
#include "api/handlers.hpp"
#include "api/schema.hpp"
#include "notify/templates.hpp"

namespace tourbus::api::handlers {

using boost::json::array;
using boost::json::object;

namespace {

object to_json(const notify::Template& t) {
  array vars;
  for (const auto& v : notify::variables(t)) vars.emplace_back(v);
  return object{{"name", t.name}, {"language", t.language}, {"category", t.category}, {"subject", t.subject},
                {"text", t.text}, {"html", t.html}, {"variables", std::move(vars)}, {"file", t.file.filename().string()}};
}

}  // namespace

boost::asio::awaitable<Result<Reply>> template_list(Context& ctx, const Caller&, const object&) {
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto all = templates.list();
  if (!all) co_return all.error();
  array out;
  for (const auto& t : *all) {
    auto o = to_json(t);
    o.erase("text");
    o.erase("html");
    out.push_back(std::move(o));
  }
  co_return Reply::ok(object{{"templates", std::move(out)}, {"dir", templates.dir().string()}});
}

boost::asio::awaitable<Result<Reply>> template_show(Context& ctx, const Caller&, const object& p) {
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto t = templates.find(*get_string(p, "name"), get_string(p, "language").value_or(cfg->notify_default_language));
  if (!t) co_return t.error();
  co_return Reply::ok(to_json(*t));
}

boost::asio::awaitable<Result<Reply>> template_preview(Context& ctx, const Caller&, const object& p) {
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto t = templates.find(*get_string(p, "name"), get_string(p, "language").value_or(cfg->notify_default_language));
  if (!t) co_return t.error();
  // Sample data: what the caller gave, and a visible placeholder for the rest.
  auto vars = get_string_map(p, "vars");
  array sampled;
  for (const auto& v : notify::variables(*t)) {
    if (vars.try_emplace(v, "\u2039" + v + "\u203a").second) sampled.emplace_back(v);
  }
  auto r = notify::render(*t, vars);
  if (!r) co_return r.error();
  co_return Reply::ok(object{{"name", t->name}, {"language", r->language}, {"category", t->category}, {"subject", r->subject},
                             {"text", r->text}, {"html", r->html}, {"sampled", std::move(sampled)}});
}

namespace {
const Binding kBindings[] = {
    {"template.list", template_list},
    {"template.show", template_show},
    {"template.preview", template_preview},
};
}  // namespace

std::span<const Binding> template_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
