#pragma once

// The umbrella header: everything a Zokio program uses.

#include <zokio/diag/metrics.hpp>
#include <zokio/diag/task_dump.hpp>
#include <zokio/fs/file.hpp>
#include <zokio/fs/read_file.hpp>
#include <zokio/fs/sendfile.hpp>
#include <zokio/fs/write_file.hpp>
#include <zokio/net/address.hpp>
#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/net/udp.hpp>
#include <zokio/runtime/errors.hpp>
#include <zokio/runtime/options.hpp>
#include <zokio/runtime/runtime.hpp>
#include <zokio/runtime/stats.hpp>
#include <zokio/signal/signal.hpp>
#include <zokio/sync/channel.hpp>
#include <zokio/sync/event.hpp>
#include <zokio/sync/mutex.hpp>
#include <zokio/sync/oneshot.hpp>
#include <zokio/sync/semaphore.hpp>
#include <zokio/task/join_handle.hpp>
#include <zokio/task/join_set.hpp>
#include <zokio/task/scope.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/task/spawn_blocking.hpp>
#include <zokio/task/task.hpp>
#include <zokio/task/when_all.hpp>
#include <zokio/task/yield.hpp>
#include <zokio/time/interval.hpp>
#include <zokio/time/sleep.hpp>
#include <zokio/time/timeout.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>
