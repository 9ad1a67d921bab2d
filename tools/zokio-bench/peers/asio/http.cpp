#include "peer.hpp"
namespace peer {
int serve_http(unsigned short, unsigned) {
  return 0;
}
} // namespace peer
