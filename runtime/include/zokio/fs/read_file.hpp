#pragma once

#include <zokio/fs/file.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <string>

namespace zokio::fs {

/// Reads the whole file at `path` (open, read until end of file, close), each step a request on
/// libuv's thread pool. A missing file is `errc::no_such_file_or_directory`.
///
/// Thread-safety: await it from a task. Cancellation: returns `errc::operation_canceled` (a step
/// a pool thread already runs is waited for first); the file is closed.
task<result<std::string>> read_file(std::string path, site where = site::current());

} // namespace zokio::fs
