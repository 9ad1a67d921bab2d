#pragma once

// What a tool's output says about the build that produced it. The commit and the dirty flag are
// taken when the tool is built (cmake/zokio-build-info.cmake runs on every build and rewrites
// its header only when they change), not when the build is configured.

#include <string>

namespace zokio::tools {

struct provenance {
  const char* version;    ///< the project's version, X.Y.Z
  const char* git_commit; ///< full hash of HEAD at build time, or "unknown"
  bool git_dirty;         ///< tracked files differed from HEAD at build time
};

const provenance& build_provenance() noexcept;

/// "0.1.0 (0123456789ab)" or "0.1.0 (0123456789ab-dirty)", as --version prints it.
std::string version_line();

} // namespace zokio::tools
