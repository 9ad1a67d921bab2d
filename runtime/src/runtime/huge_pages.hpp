#pragma once

#include <cstddef>

// Memory the runtime maps for itself in 2 MiB pieces: the frame pool's huge slabs and the blocks
// of a channel's deep backlog (docs/decisions.md, "Frames come from slabs" and "A deep backlog
// is queued in huge pages").

namespace zokio::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// Maps `bytes` (a multiple of huge_page_bytes) aligned to huge_page_bytes, marked for
/// transparent huge pages (MADV_HUGEPAGE) and populated in one call (MADV_POPULATE_WRITE, Linux
/// 5.14; where the kernel refuses it the pages fault in as they are used). Where transparent
/// huge pages are off, the same call populates 4 KiB pages. Null when the system has no memory
/// to map, or off Linux.
void* map_huge(std::size_t bytes) noexcept;
/// Unmaps what map_huge returned, with the same `bytes`.
void unmap_huge(void* p, std::size_t bytes) noexcept;

} // namespace zokio::detail
