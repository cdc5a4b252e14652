#include <catch2/catch.hpp>

#include "net/router.hpp"

using namespace tourbus;

TEST_CASE("requests are routed to operations with their path, query and body parameters") {
  auto r = net::route("GET", "/v1/users/anna", "");
  REQUIRE(r.ok());
  CHECK(r->op->name == "user.show");
  CHECK(r->params.at("handle").as_string() == "anna");

  r = net::route("DELETE", "/v1/tokens/17", "");
  REQUIRE(r.ok());
  CHECK(r->op->name == "token.revoke");
  CHECK(r->params.at("id").as_int64() == 17);

  r = net::route("GET", "/v1/users?role=guide&disabled=false&limit=5", "");
  REQUIRE(r.ok());
  CHECK(r->op->name == "user.list");
  CHECK(r->params.at("disabled").as_bool() == false);
  CHECK(r->params.at("limit").as_int64() == 5);

  r = net::route("POST", "/v1/tours/3/join", R"({"users":["anna","bob"]})");
  REQUIRE(r.ok());
  CHECK(r->op->name == "tour.join");
  CHECK(r->params.at("id").as_int64() == 3);
  CHECK(r->params.at("users").as_array().size() == 2);

  r = net::route("GET", "/v1/users/z%C3%B6e", "");  // percent-encoded segments are decoded
  REQUIRE(r.ok());
  CHECK(r->params.at("handle").as_string() == "zöe");
}

TEST_CASE("routing errors carry stable codes") {
  auto r = net::route("GET", "/v1/nothing", "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::not_found);

  r = net::route("PUT", "/v1/users", "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::method_not_allowed);

  r = net::route("GET", "/v1/tours/abc", "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(r.error().field == "id");

  r = net::route("GET", "/v1/users?colour=red", "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::unknown_field);

  r = net::route("POST", "/v1/users", "{not json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_json);

  r = net::route("POST", "/v1/users", "[1,2]");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_json);

  r = net::route("PATCH", "/v1/users/anna", R"({"handle":"bob"})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(r.error().field == "handle");
}

TEST_CASE("a malformed request target is a bad request, not an unknown route") {
  for (const char* target : {"/v1/users/%zz", "/v1/users?role=%g1", "v1/users"}) {
    INFO(target);
    auto r = net::route("GET", target, "");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::bad_request);
  }
}
