#pragma once

#include <atomic>

namespace zokio::detail {

/// Drops one of the references counted in `refs`; true when it was the last (the caller frees).
///
/// A holder that sees the count at 1 holds the only reference, and no other can appear (only a
/// holder adds one): it frees without the atomic decrement, which most last references are (a
/// task's handle dropped or joined before or after it finished, a oneshot's second end, a
/// channel's last handle). The acquire load pairs with the other holders' releasing decrements.
template <typename Int>
[[nodiscard]] inline bool release_ref(std::atomic<Int>& refs) noexcept {
  return refs.load(std::memory_order_acquire) == 1 ||
         refs.fetch_sub(1, std::memory_order_acq_rel) == 1;
}

} // namespace zokio::detail
