#include "dashboard/dashboard.h"

namespace reel::dashboard {

const Asset* FindAsset(std::string_view path) {
  for (const Asset& a : Assets())
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace reel::dashboard
