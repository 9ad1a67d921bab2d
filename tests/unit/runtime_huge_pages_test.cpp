#include <zokio/sync/channel.hpp>

#include "runtime/huge_pages.hpp"
#include "zokio_test.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

// The runtime's 2 MiB mappings (runtime/src/runtime/huge_pages.cpp): the frame pool's huge slabs
// and the blocks of a channel's deep backlog. Where the kernel gives transparent huge pages to a
// region that asks for them (/sys/kernel/mm/transparent_hugepage/enabled is "always" or
// "madvise"), the memory must come as huge pages: one fault per 2 MiB instead of 512, which on
// this project's machines is most of what writing fresh memory costs (docs/decisions.md, "A deep
// backlog is queued in huge pages").

namespace {

using zokio::detail::huge_page_bytes;
using zokio::detail::map_huge;
using zokio::detail::unmap_huge;

/// Why the kernel may not give huge pages to a region that asks for them; empty when it does.
std::string why_no_huge_pages() {
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  if (!std::getline(enabled, mode)) {
    return "no /sys/kernel/mm/transparent_hugepage/enabled";
  }
  if (mode.find("[never]") != std::string::npos) {
    return "transparent huge pages are off: " + mode;
  }
  return {};
}

/// The kB of AnonHugePages of the mapping of /proc/self/smaps that holds `p`; -1 if none does.
long huge_kb_of_mapping(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::string line;
  bool in_it = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0;
    unsigned long hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      in_it = lo <= addr && addr < hi; // a mapping's header line: "lo-hi perms offset ..."
      continue;
    }
    if (in_it && line.rfind("AnonHugePages:", 0) == 0) {
      return std::stol(line.substr(std::strlen("AnonHugePages:")));
    }
  }
  return -1;
}

/// The process's AnonHugePages in kB (/proc/self/smaps_rollup).
long huge_kb_of_process() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind("AnonHugePages:", 0) == 0) {
      return std::stol(line.substr(std::strlen("AnonHugePages:")));
    }
  }
  return -1;
}

TEST(huge_pages, a_mapping_is_aligned_writable_and_populated_in_huge_pages) {
  for (const std::size_t bytes : {huge_page_bytes, 2 * huge_page_bytes}) {
    void* p = map_huge(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % huge_page_bytes, 0u);
    auto* bytes_p = static_cast<unsigned char*>(p);
    EXPECT_EQ(bytes_p[0], 0); // fresh anonymous memory reads as zeros
    EXPECT_EQ(bytes_p[bytes - 1], 0);
    std::memset(p, 0xa5, bytes);
    EXPECT_EQ(bytes_p[bytes / 2], 0xa5);
    if (const std::string why = why_no_huge_pages(); why.empty()) {
      // Populated before anything touched it: the kernel gave its huge pages at the map.
      EXPECT_GT(huge_kb_of_mapping(p), 0) << bytes << " bytes at " << p;
    }
    unmap_huge(p, bytes);
  }
  if (const std::string why = why_no_huge_pages(); !why.empty()) {
    GTEST_SKIP() << "aligned and writable, huge pages not checked: " << why;
  }
}

// Three million values queued before any is received (24 MB): past the first few blocks, the
// queue grows into 2 MiB blocks mapped as huge pages, and they keep their order.
zokio::task<long> deep_backlog_huge_kb() {
  auto [tx, rx] = zokio::make_channel<std::uint64_t>(0);
  const long before = huge_kb_of_process();
  bool sent = true;
  for (std::uint64_t i = 0; i < 3'000'000; ++i) {
    sent = sent && co_await tx.send(std::uint64_t{i});
  }
  const long grown = huge_kb_of_process() - before;
  bool in_order = sent;
  for (std::uint64_t i = 0; i < 3'000'000; ++i) {
    const std::optional<std::uint64_t> v = co_await rx.recv();
    in_order = in_order && v == i;
  }
  co_return in_order ? grown : -1;
}

TEST(huge_pages, a_deep_channel_backlog_is_queued_in_huge_pages) {
  zokio::runtime rt{{.workers = 1}};
  const long grown_kb = rt.block_on(deep_backlog_huge_kb());
  zokio::testing::expect_clean_shutdown(rt);
  ASSERT_NE(grown_kb, -1) << "a value was lost or out of order";
  if (const std::string why = why_no_huge_pages(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  // 24 MB queued; the blocks below 2 MiB hold about 1.5 MiB of it.
  EXPECT_GE(grown_kb, 16 * 1024);
}

} // namespace
