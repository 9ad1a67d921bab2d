#pragma once

#include <zokio/fs/file.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <string>

namespace zokio::fs {

/// Reads the whole file at `path` (open, read until end of file, close), each step a request off
/// the loop thread (see file.hpp). A missing file is `errc::no_such_file_or_directory`. A file
/// that cannot seek (a FIFO, a character device such as a terminal) is read in order until its
/// end of file (for a FIFO: until every writer has closed it); opening a FIFO waits for a writer.
///
/// Thread-safety: await it from a task. Cancellation: returns `errc::operation_canceled` (a step
/// a pool thread already runs is waited for first); the file is closed.
task<result<std::string>> read_file(std::string path, site where = site::current());

} // namespace zokio::fs
