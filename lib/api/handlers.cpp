#include "api/handlers.hpp"

#include <array>
#include <unordered_map>

namespace tourbus::api {

namespace handlers {
std::span<const std::span<const Binding>> families() {
  static const std::array<std::span<const Binding>, 9> all = {
      system_handlers(),       user_handlers(),  token_handlers(),  tour_handlers(), conversation_handlers(),
      message_handlers(),      live_handlers(),  notify_handlers(), file_handlers()};
  return all;
}
}  // namespace handlers

Handler handler_of(const Operation& op) {
  // Built once from the families' constant lists.
  static const auto by_name = [] {
    std::unordered_map<std::string_view, Handler> m;
    for (auto family : handlers::families())
      for (const auto& b : family) m.emplace(b.operation, b.handler);
    return m;
  }();
  auto it = by_name.find(op.name);
  return it == by_name.end() ? nullptr : it->second;
}

}  // namespace tourbus::api
