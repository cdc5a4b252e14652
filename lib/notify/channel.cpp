#include "notify/channel.hpp"

#include <algorithm>

namespace tourbus::notify {

void Catalog::add(const Descriptor& d) {
  list_.push_back(&d);
  // Automatic channels by rank; the others after them, in the order added.
  std::stable_sort(list_.begin(), list_.end(), [](const Descriptor* a, const Descriptor* b) {
    auto rank = [](const Descriptor* x) { return x->auto_rank > 0 ? x->auto_rank : INT32_MAX; };
    return rank(a) < rank(b);
  });
}

const Descriptor* Catalog::find(std::string_view name) const {
  for (const auto* d : list_)
    if (d->name == name) return d;
  return nullptr;
}

std::string Catalog::names() const {
  std::string out;
  for (const auto* d : list_) out += (out.empty() ? "" : ", ") + std::string(d->name);
  return out;
}

}  // namespace tourbus::notify
