#include <zokio_tools/provenance.hpp>

#include <zokio_tools/build_info.hpp> // generated at build time

#include <string>

namespace zokio::tools {

const provenance& build_provenance() noexcept {
  static const provenance p{ZOKIO_VERSION, ZOKIO_GIT_COMMIT, ZOKIO_GIT_DIRTY != 0};
  return p;
}

std::string version_line() {
  const provenance& p = build_provenance();
  const std::string commit = p.git_commit;
  return std::string(p.version) + " (" + commit.substr(0, 12) + (p.git_dirty ? "-dirty" : "") + ")";
}

} // namespace zokio::tools
