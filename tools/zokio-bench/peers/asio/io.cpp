#include "peer.hpp"
namespace peer {
std::span<const Workload> io_workloads() {
  return {};
}
} // namespace peer
