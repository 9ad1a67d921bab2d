#pragma once

#include <zokio/fs/file.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace zokio::fs {

/// Writes `data` to the file at `path`, creating it (mode 0644) or truncating it first, then
/// closes it and reports close(2)'s error too. Each step is a request off the loop thread (see
/// file.hpp). A file that cannot seek (a FIFO, a character device) is written in order; opening a
/// FIFO waits for a reader, and one whose reader leaves gives `errc::broken_pipe`. `data` is not
/// copied: it must stay valid until the returned task completes.
///
/// Thread-safety: await it from a task. Cancellation: returns `errc::operation_canceled`; the
/// file may then hold part of `data`.
task<result<void>> write_file(std::string path, std::span<const std::byte> data,
                              site where = site::current());

/// As above, for text.
task<result<void>> write_file(std::string path, std::string_view data,
                              site where = site::current());

} // namespace zokio::fs
