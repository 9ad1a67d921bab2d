#include "runtime/owner_lock.hpp"

#include <cstdio>
#include <cstdlib>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZOKIO_OWNER_LOCK_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define ZOKIO_OWNER_LOCK_TSAN 1
#endif

namespace zokio::detail {

namespace {

bool register_membarrier() noexcept {
#if defined(__linux__) && defined(__NR_membarrier) && !defined(ZOKIO_OWNER_LOCK_TSAN)
  const long cmds = ::syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ||
      (cmds & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
    return false;
  }
  return ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
#else
  return false;
#endif
}

} // namespace

bool asymmetric_fences() noexcept {
  static const bool registered = register_membarrier();
  return registered;
}

void heavy_fence() noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  // Cannot fail once registered (EINTR does not apply); were it to, a full fence here would not
  // be enough, so stop rather than run unprotected.
  if (::syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) != 0) {
    std::perror("zokio: membarrier");
    std::abort();
  }
#endif
}

void biased_lock_state::revoke() noexcept {
  m_lock.lock(); // revokers and, once revoked, everybody: one at a time
  if (!m_revoked.load(std::memory_order_relaxed)) {
    m_revoked.store(true, std::memory_order_relaxed);
    heavy_fence(); // the owner sees `revoked`, or this thread sees its `in`
    spin_while_set(m_owner_in);
    std::atomic_thread_fence(std::memory_order_acquire); // what the owner's sections wrote
  }
}

} // namespace zokio::detail
