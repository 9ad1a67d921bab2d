#include <zokio/fs/read_file.hpp>
#include <zokio/fs/write_file.hpp>

#include <algorithm>

namespace zokio::fs {

namespace {

// The first read of a file whose size fstat does not know (0 for /proc files, pipes).
constexpr std::size_t unknown_size_chunk = 64 * 1024;

} // namespace

task<result<std::string>> read_file(std::string path, site where) {
  result<file> opened = co_await file::open(std::move(path), open_flags::read, 0, where);
  if (!opened) {
    co_return opened.error();
  }
  file f = std::move(opened).value();
  result<std::uint64_t> size = co_await f.size(where);
  if (!size) {
    co_return size.error();
  }
  std::string data;
  // One byte more than the size: a file that grew meanwhile is still read to its end, and the
  // usual case needs no second buffer growth.
  data.resize(*size == 0 ? unknown_size_chunk : static_cast<std::size_t>(*size) + 1);
  std::size_t got = 0;
  bool seekable = true; // until pread says otherwise (ESPIPE: a pipe, a FIFO, a terminal)
  for (;;) {
    if (got == data.size()) {
      data.resize(std::max(data.size() * 2, unknown_size_chunk));
    }
    auto buf = std::as_writable_bytes(std::span<char>(data.data() + got, data.size() - got));
    result<std::size_t> n =
        seekable ? co_await f.read_at(buf, got, where) : co_await f.read(buf, where);
    if (!n && seekable && n.error() == std::errc::invalid_seek) {
      seekable = false; // pread failed before reading anything: read in order from here
      continue;
    }
    if (!n) {
      co_return n.error();
    }
    if (*n == 0) {
      break;
    }
    got += *n;
  }
  data.resize(got);
  // A failed close of a file only read loses nothing; the destructor would close it too, but
  // awaiting here keeps the descriptor count exact when the task returns.
  (void)co_await f.close(where);
  co_return data;
}

task<result<void>> write_file(std::string path, std::span<const std::byte> data, site where) {
  result<file> opened = co_await file::open(
      std::move(path), open_flags::write | open_flags::create | open_flags::truncate, 0644, where);
  if (!opened) {
    co_return opened.error();
  }
  file f = std::move(opened).value();
  std::size_t done = 0;
  bool seekable = true; // until pwrite says otherwise, as in read_file
  while (done < data.size()) {
    result<std::size_t> n = seekable ? co_await f.write_at(data.subspan(done), done, where)
                                     : co_await f.write(data.subspan(done), where);
    if (!n && seekable && n.error() == std::errc::invalid_seek) {
      seekable = false;
      continue;
    }
    if (!n) {
      co_return n.error();
    }
    if (*n == 0) {
      co_return std::errc::io_error; // a file that takes no bytes: never loop on it
    }
    done += *n;
  }
  co_return co_await f.close(where);
}

task<result<void>> write_file(std::string path, std::string_view data, site where) {
  co_return co_await write_file(std::move(path), std::as_bytes(std::span(data.data(), data.size())),
                                where);
}

} // namespace zokio::fs
