#pragma once

#include <zokio/util/error.hpp>

// The errors of zokio::io are Zokio's own (zokio/util/error.hpp): one category for the whole
// library, so that `r.error() == zokio::io::error::eof` and `r.error() == zokio::errc::eof` are
// the same test.

namespace zokio::io {

/// `zokio::io::error::eof`: the end of the stream came where more bytes were needed.
using error = zokio::errc;

} // namespace zokio::io
