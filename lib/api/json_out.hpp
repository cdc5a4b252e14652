// JSON shapes of the entities, as documented in docs/api.md.
#pragma once

#include <boost/json/object.hpp>

#include "store/tokens.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::api {

boost::json::object to_json(const store::User& u);
boost::json::object to_json(const store::Token& t, std::int64_t now);
boost::json::object to_json(const store::Tour& t);

}  // namespace tourbus::api
