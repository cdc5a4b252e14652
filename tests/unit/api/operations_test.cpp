#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "../support.hpp"
#include "api/handlers.hpp"
#include "api/operation.hpp"
#include "api/schema.hpp"
#include "core/error.hpp"

using namespace tourbus;

TEST_CASE("every handler is bound to one operation of the table, once") {
  std::set<std::string_view> bound;
  for (auto family : api::handlers::families())
    for (const auto& b : family) {
      INFO(b.operation);
      CHECK(api::find_operation(b.operation) != nullptr);
      CHECK(bound.insert(b.operation).second);
      CHECK(b.handler != nullptr);
    }
  CHECK(bound.size() == api::operations().size());
}

TEST_CASE("the operation table is well formed") {
  std::set<std::string> names, routes;
  for (const auto& op : api::operations()) {
    INFO(op.name);
    CHECK(names.insert(std::string(op.name)).second);
    CHECK(routes.insert(std::string(op.method) + " " + std::string(op.route)).second);
    CHECK_FALSE(op.summary.empty());
    CHECK(api::handler_of(op) != nullptr);
    CHECK(op.allowed != 0);
    CHECK(op.route.starts_with("/"));
    // Every {segment} of the route is a required parameter.
    std::regex seg("\\{([a-z_]+)\\}");
    std::string route(op.route);
    for (std::sregex_iterator it(route.begin(), route.end(), seg), end; it != end; ++it) {
      const auto* p = api::find_param(op, (*it)[1].str());
      REQUIRE(p != nullptr);
      CHECK(p->required);
    }
    std::set<std::string_view> params;
    for (const auto& p : op.params) {
      CHECK(params.insert(p.name).second);
      CHECK_FALSE(p.help.empty());
    }
  }
}

TEST_CASE("docs/api.md documents exactly the operations of the table, with their routes and parameters") {
  auto doc = tourbus::test::source_file("docs/api.md");
  REQUIRE_FALSE(doc.empty());
  // Headings look like: ### `user.create` — `POST /v1/users`
  std::regex heading("^### `([a-z._]+)` — `([A-Z]+) ([^`]+)`", std::regex::multiline);
  std::set<std::string> documented;
  for (std::sregex_iterator it(doc.begin(), doc.end(), heading), end; it != end; ++it) {
    auto name = (*it)[1].str();
    documented.insert(name);
    const auto* op = api::find_operation(name);
    INFO(name);
    REQUIRE(op != nullptr);
    CHECK((*it)[2].str() == op->method);
    CHECK((*it)[3].str() == op->route);
    // Each parameter is named in the operation's section.
    auto start = static_cast<std::size_t>(it->position());
    auto next = doc.find("\n### ", start + 1);
    auto section = doc.substr(start, next == std::string::npos ? std::string::npos : next - start);
    for (const auto& p : op->params) {
      INFO(p.name);
      CHECK(section.find("`" + std::string(p.name) + "`") != std::string::npos);
    }
  }
  std::set<std::string> table;
  for (const auto& op : api::operations()) table.insert(std::string(op.name));
  CHECK(documented == table);
}

TEST_CASE("every error code is documented with its HTTP status") {
  auto doc = tourbus::test::source_file("docs/api.md");
  for (const auto& c : all_codes()) {
    INFO(c.name);
    CHECK(doc.find("`" + std::string(c.name) + "`") != std::string::npos);
    CHECK(code_from_name(c.name) == c.code);
    CHECK(c.http_status >= 400);
  }
}

TEST_CASE("parameters are checked against the schema before a handler runs") {
  const auto* op = api::find_operation("user.create");
  REQUIRE(op);
  boost::json::object good{{"handle", "anna"}, {"display_name", "Anna"}, {"role", "tourist"}};
  CHECK(api::check_params(*op, good).ok());

  auto unknown = good;
  unknown["nickname"] = "x";
  auto st = api::check_params(*op, unknown);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Code::unknown_field);
  CHECK(st.error().field == "nickname");

  auto missing = good;
  missing.erase("role");
  st = api::check_params(*op, missing);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Code::invalid_argument);
  CHECK(st.error().field == "role");

  auto wrong = good;
  wrong["marketing_consent"] = "yes";
  st = api::check_params(*op, wrong);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().field == "marketing_consent");

  auto null_on_create = good;
  null_on_create["email"] = nullptr;  // nothing to clear on create
  st = api::check_params(*op, null_on_create);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().field == "email");

  const auto* update = api::find_operation("user.update");
  REQUIRE(update);
  CHECK(api::check_params(*update, {{"handle", "anna"}, {"email", nullptr}}).ok());  // null clears
  st = api::check_params(*update, {{"handle", "anna"}, {"display_name", nullptr}});  // a name cannot be cleared
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().field == "display_name");
}

TEST_CASE("text values convert to the declared parameter types") {
  api::Param i{"limit", api::Type::integer, false, "x"};
  CHECK(api::from_text(i, "42")->as_int64() == 42);
  CHECK_FALSE(api::from_text(i, "4x").ok());
  CHECK_FALSE(api::from_text(i, "").ok());
  api::Param b{"all", api::Type::boolean, false, "x"};
  CHECK(api::from_text(b, "true")->as_bool());
  CHECK_FALSE(api::from_text(b, "yes").ok());
  api::Param l{"users", api::Type::string_list, false, "x"};
  CHECK(api::from_text(l, "a,b,,c")->as_array().size() == 3);
}

TEST_CASE("docs/protocol.md lists exactly the operations served as WebSocket events") {
  auto doc = tourbus::test::source_file("docs/protocol.md");
  auto start = doc.find("\n## Events\n");
  REQUIRE(start != std::string::npos);
  auto end = doc.find("`data` holds", start);
  REQUIRE(end != std::string::npos);
  auto list = doc.substr(start, end - start);
  // The list is the bullets: "- family: `a`, `b`, ..." (the HTTP-only ones are named before it).
  auto bullets = list.substr(list.find("\n- "));
  std::regex name("`([a-z._]+)`");
  std::set<std::string> listed, served;
  for (std::sregex_iterator it(bullets.begin(), bullets.end(), name), e; it != e; ++it) listed.insert((*it)[1].str());
  for (const auto& op : api::operations())
    if (op.websocket && !op.raw_body) served.insert(std::string(op.name));
  CHECK(listed == served);
}

TEST_CASE("docs/security.md lists every operation with its roles") {
  auto doc = tourbus::test::source_file("docs/security.md");
  std::regex row("^\\| `([a-z._]+)` \\| ([a-z, ]+) \\|$", std::regex::multiline);
  std::map<std::string, std::string> listed;
  for (std::sregex_iterator it(doc.begin(), doc.end(), row), end; it != end; ++it) listed[(*it)[1].str()] = (*it)[2].str();
  CHECK(listed.size() == api::operations().size());
  for (const auto& op : api::operations()) {
    INFO(op.name);
    std::string roles;
    for (Role r : {Role::tourist, Role::guide, Role::operator_})
      if (op.allowed & mask(r)) roles += (roles.empty() ? "" : ", ") + std::string(role_name(r));
    CHECK(listed[std::string(op.name)] == roles);
  }
}
