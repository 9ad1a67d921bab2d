#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace zokio {

/// Thrown when a task is spawned or a runtime operation is awaited where no runtime runs.
/// Zokio never falls back to running an await synchronously.
class no_runtime_error : public std::logic_error {
public:
  explicit no_runtime_error(const std::string& what) : std::logic_error(what) {}
};

/// Thrown by `runtime::block_on` when called on a thread that already drives a worker: blocking
/// there would stop the loop that must make progress.
class nested_block_on_error : public std::logic_error {
public:
  explicit nested_block_on_error(const std::string& what) : std::logic_error(what) {}
};

/// Thrown by awaits that do not return a `result` once their task is cancelled, and by awaiting
/// the handle of a cancelled task. It unwinds the task normally.
class operation_cancelled : public std::exception {
public:
  const char* what() const noexcept override { return "zokio: operation cancelled"; }
};

/// Thrown by `runtime::block_on` when the runtime can provably make no more progress: every task
/// waits on another task and nothing external (timer, I/O, blocking job, wake from another
/// thread) is pending. `what()` holds the wait-for edges and the task dump.
class deadlock_error : public std::runtime_error {
public:
  explicit deadlock_error(const std::string& what) : std::runtime_error(what) {}
};

} // namespace zokio
