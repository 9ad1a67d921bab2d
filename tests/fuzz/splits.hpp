#pragma once

// The ways the framing fuzz targets (http_request, http_response) cut a stream into reads, as a
// network may: in two at every byte (streams up to 192 bytes), one byte per read (up to 4 KiB),
// and four sets of pseudo-random 1-64 byte pieces from a seed taken from the stream itself.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace zokio::fuzz {

/// Calls `deliver(cuts, how)` for each way to cut [data, data + size): `cuts` ascending offsets
/// strictly inside it, `how` a description for a failure message.
template <class Deliver>
void for_each_split(const std::uint8_t* data, std::size_t size, Deliver&& deliver) {
  if (size < 2) {
    return;
  }
  std::vector<std::size_t> cuts;
  if (size <= 192) {
    for (std::size_t k = 1; k < size; ++k) {
      deliver(std::vector<std::size_t>{k}, "in two at byte " + std::to_string(k));
    }
  }
  if (size <= 4096) {
    for (std::size_t k = 1; k < size; ++k) {
      cuts.push_back(k);
    }
    deliver(cuts, std::string("one byte per read"));
  }
  std::uint32_t x = 2166136261u;
  for (std::size_t i = 0; i < size; ++i) {
    x = (x ^ data[i]) * 16777619u;
  }
  for (int round = 0; round < 4; ++round) {
    cuts.clear();
    for (std::size_t k = 0;;) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      k += 1 + x % 64;
      if (k >= size) {
        break;
      }
      cuts.push_back(k);
    }
    deliver(cuts, std::string("in pieces of 1 to 64 bytes"));
  }
}

} // namespace zokio::fuzz
