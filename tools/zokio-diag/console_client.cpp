#include "console_client.hpp"

#include <zokio_tools/cli_parse.hpp>
#include <zokio_tools/exit_codes.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

namespace zokio::diag_tool {

namespace {

using zokio::tools::code;
using zokio::tools::exit_status;
using json = nlohmann::json;

/// The console's answer to one request: a JSON document, or why there is none.
struct answer {
  std::optional<json> doc;
  std::string error;
  int exit = 0; // when !doc: 2 (cannot connect), 4 (a broken answer)
};

/// Connects to the console at `path`, sends `request`, reads one line back.
answer ask(const std::string& path, const std::string& request) {
  answer a;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    a.error = "--socket " + path + ": longer than a Unix socket address allows";
    a.exit = code(exit_status::usage);
    return a;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    a.error = std::string("socket: ") + std::strerror(errno);
    a.exit = code(exit_status::usage);
    return a;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    a.error = "cannot connect to the console at " + path + ": " + std::strerror(errno) +
              " (is the program running with ZOKIO_CONSOLE=" + path + "?)";
    a.exit = code(exit_status::usage);
    ::close(fd);
    return a;
  }
  const std::string line = request + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[65536];
  while (in.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) {
      a.error = "the console at " + path + " did not answer within 10 s";
      break;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      a.error = "the console at " + path + " closed the connection without an answer";
      break;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (in.find('\n') == std::string::npos) {
    a.exit = code(exit_status::tool_error);
    return a;
  }
  try {
    a.doc = json::parse(in.substr(0, in.find('\n')));
  } catch (const std::exception& e) {
    a.error = std::string("the console's answer is not JSON: ") + e.what();
    a.exit = code(exit_status::tool_error);
  }
  if (a.doc && (!a.doc->is_object() || a.doc->value("schema", "") != "zokio.console/1")) {
    a.doc.reset();
    a.error = "the console's answer is not a zokio.console/1 snapshot";
    a.exit = code(exit_status::tool_error);
  }
  return a;
}

std::string ms(std::int64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", static_cast<double>(ns) / 1e6);
  return b;
}

std::string cut(std::string s, std::size_t n) {
  if (s.size() > n) {
    s = s.substr(0, n - 1) + "~";
  }
  return s;
}

/// The site "file:line" with the file cut to its last path component.
std::string site_of(const json& t, const char* file, const char* line) {
  const std::string f = t.value(file, "");
  const unsigned l = t.value(line, 0U);
  if (l == 0) {
    return "-";
  }
  return f.substr(f.find_last_of('/') == std::string::npos ? 0 : f.find_last_of('/') + 1) + ":" +
         std::to_string(l);
}

/// The snapshot as text: the view `top` refreshes and `dump` prints. `sort`: busy or wait.
std::string render(const json& d, const std::string& sort, std::size_t max_tasks) {
  std::ostringstream os;
  const json& st = d.at("stats");
  os << "zokio console: runtime '" << d.value("runtime", "") << "' pid " << d.value("pid", 0)
     << ", " << d.value("workers", 0) << " worker(s); tasks live " << st.value("tasks_live", 0)
     << ", spawned " << st.value("tasks_spawned", 0) << "; stalls " << st.value("stalls", 0)
     << ", deadlocks " << st.value("deadlocks_detected", 0) << ", lost wake-ups "
     << st.value("lost_wakeups", 0) << "\n\n";
  char line[512];
  os << "WORKER  TASKS  LOOP_ITER   RESUMES   AWAITS  TIMERS  HANDLES  HANDLE TYPES\n";
  const json& hw = d.at("handles").at("workers");
  const json& ws = st.at("workers");
  for (std::size_t i = 0; i < ws.size(); ++i) {
    const json& w = ws[i];
    std::string types = "?";
    if (i < hw.size()) {
      if (hw[i].value("answered", false)) {
        types.clear();
        for (const auto& [k, v] : hw[i].at("by_type").items()) {
          types += (types.empty() ? "" : " ") + k + "=" + std::to_string(v.get<std::uint64_t>());
        }
      } else {
        types = "(did not answer)";
      }
    }
    std::snprintf(line, sizeof line, "%6zu %6llu %10llu %9llu %8llu %7llu %8llu  %s\n", i,
                  static_cast<unsigned long long>(w.value("tasks_live", 0ULL)),
                  static_cast<unsigned long long>(w.value("loop_iterations", 0ULL)),
                  static_cast<unsigned long long>(w.value("resumes_from_loop", 0ULL) +
                                                  w.value("resumes_from_task", 0ULL) +
                                                  w.value("resumes_cross_thread", 0ULL)),
                  static_cast<unsigned long long>(w.value("awaits", 0ULL)),
                  static_cast<unsigned long long>(w.value("timers_pending", 0ULL)),
                  static_cast<unsigned long long>(w.value("handles_active", 0ULL)), types.c_str());
    os << line;
  }

  std::vector<json> tasks(d.at("tasks").begin(), d.at("tasks").end());
  const bool by_wait = sort == "wait";
  std::stable_sort(tasks.begin(), tasks.end(), [by_wait](const json& a, const json& b) {
    const char* k = by_wait ? "wait_ns" : "busy_ns";
    return a.value(k, 0LL) > b.value(k, 0LL);
  });
  os << "\nTASKS (by " << (by_wait ? "wait" : "busy") << " time)\n";
  os << "    ID W NAME                 STATE      WAITING    WAIT_MS    BUSY_MS  RESUMES SELF_WK%  "
        "AWAIT AT               SPAWNED AT\n";
  std::size_t shown = 0;
  for (const json& t : tasks) {
    if (shown++ == max_tasks) {
      os << "  ... " << (tasks.size() - max_tasks) << " more\n";
      break;
    }
    std::string waiting = t.value("waiting_on", "");
    if (t.value("waits_for_task", 0ULL) != 0) {
      waiting += "(" + std::to_string(t.value("waits_for_task", 0ULL)) + ")";
    }
    // The share of the task's wakes it issued itself (woken_without_progress); "-" before any.
    const auto wakes = t.value("wakes", 0ULL);
    const std::string self_pct =
        wakes == 0 ? "-" : std::to_string(t.value("self_wakes", 0ULL) * 100 / wakes);
    std::snprintf(line, sizeof line, "%6llu %1u %-20s %-10s %-10s %7s %10s %8llu %8s  %-22s %s\n",
                  static_cast<unsigned long long>(t.value("id", 0ULL)), t.value("worker", 0U),
                  cut(t.value("name", ""), 20).c_str(), t.value("state", "").c_str(),
                  cut(waiting.empty() ? "-" : waiting, 10).c_str(),
                  t.contains("wait_ns") ? ms(t.value("wait_ns", 0LL)).c_str() : "-",
                  ms(t.value("busy_ns", 0LL)).c_str(),
                  static_cast<unsigned long long>(t.value("resumes", 0ULL)), self_pct.c_str(),
                  cut(site_of(t, "await_file", "await_line"), 22).c_str(),
                  site_of(t, "spawn_file", "spawn_line").c_str());
    os << line;
  }

  os << "\nSTALLS (" << d.at("stalls").size() << ")\n";
  for (const json& s : d.at("stalls")) {
    os << "  " << s.value("text", "").substr(0, s.value("text", "").find('\n')) << "\n";
  }
  os << "\nDEADLOCK CYCLES (" << d.at("deadlocks").size() << ")\n";
  for (const json& c : d.at("deadlocks")) {
    os << "  cycle:";
    for (const json& t : c.at("tasks")) {
      os << " " << t.value("id", 0ULL) << " '" << t.value("name", "") << "' ("
         << t.value("waiting_on", "") << " at " << site_of(t, "await_file", "await_line") << ") ->";
    }
    os << " back to " << c.at("tasks").at(0).value("id", 0ULL) << "\n";
  }
  os << "\nLOST WAKE-UPS (" << d.at("lost_wakeups").size() << ")\n";
  for (const json& l : d.at("lost_wakeups")) {
    const json& t = l.at("task");
    os << "  task " << t.value("id", 0ULL) << " '" << t.value("name", "")
       << "': " << l.value("why", "") << "\n";
  }
  os << "\nLINTS (" << d.at("lints").size() << ")\n";
  for (const json& l : d.at("lints")) {
    os << "  " << l.value("lint", "") << ": " << l.value("message", "") << "\n";
  }
  return os.str();
}

/// Restores the terminal's settings when `top` ends.
class raw_terminal {
public:
  raw_terminal() {
    if (::tcgetattr(STDIN_FILENO, &m_saved) == 0) {
      termios raw = m_saved;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      m_ok = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
  }
  ~raw_terminal() {
    if (m_ok) {
      ::tcsetattr(STDIN_FILENO, TCSANOW, &m_saved);
    }
  }
  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

private:
  termios m_saved{};
  bool m_ok = false;
};

int fail(const answer& a) {
  std::fprintf(stderr, "zokio-diag: %s\n", zokio::tools::usage_line(a.error).c_str());
  return a.exit;
}

std::string request_of(long long long_wait_s) {
  return "snapshot long_wait_ms=" + std::to_string(long_wait_s * 1000);
}

int top(const std::string& path, std::string sort, double interval_s, long long long_wait_s) {
  if (::isatty(STDOUT_FILENO) == 0) {
    // Not a terminal: the plain table, once.
    const answer a = ask(path, request_of(long_wait_s));
    if (!a.doc) {
      return fail(a);
    }
    std::fputs(render(*a.doc, sort, 1000).c_str(), stdout);
    return 0;
  }
  raw_terminal term;
  for (;;) {
    const answer a = ask(path, request_of(long_wait_s));
    if (!a.doc) {
      std::fputs("\033[2J\033[H", stdout);
      std::fflush(stdout);
      return fail(a);
    }
    std::string screen = "\033[2J\033[H" + render(*a.doc, sort, 40);
    screen += "\n[q] quit  [s] sort by " + std::string(sort == "busy" ? "wait" : "busy") +
              "  (refresh every " + std::to_string(interval_s).substr(0, 4) + " s)\n";
    std::fputs(screen.c_str(), stdout);
    std::fflush(stdout);
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(interval_s * 1000)) > 0) {
      char c = 0;
      while (::read(STDIN_FILENO, &c, 1) == 1) {
        if (c == 'q' || c == 'Q' || c == 3 /* ^C */) {
          return 0;
        }
        if (c == 's' || c == 'S') {
          sort = sort == "busy" ? "wait" : "busy";
        }
      }
    }
  }
}

} // namespace

bool is_console_command(int argc, char** argv) {
  return argc >= 2 && (std::strcmp(argv[1], "top") == 0 || std::strcmp(argv[1], "dump") == 0);
}

int run_console_command(int argc, char** argv) {
  const std::string command = argv[1];
  CLI::App app{command == "top" ? "zokio-diag top: a refreshing view of a running program's console"
                                : "zokio-diag dump: one snapshot of a running program's console",
               "zokio-diag " + command};
  app.footer(zokio::tools::exit_code_help());
  std::string socket;
  bool as_json = false;
  std::string sort = "busy";
  double interval = 1.0;
  long long long_wait = 60;
  app.add_option("--socket", socket,
                 "The console's Unix socket (the program's runtime_options::console or "
                 "ZOKIO_CONSOLE)")
      ->required()
      ->type_name("PATH");
  app.add_option("--long-wait", long_wait,
                 "The long-wait lint: a task waiting on the same thing for longer than this, as "
                 "the console has seen it (default 60)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0LL, 86400LL));
  if (command == "dump") {
    app.add_flag("--json", as_json, "Print the snapshot as one JSON document (zokio.console/1)");
  } else {
    app.add_option("--sort", sort, "Sort tasks by busy or wait time (default busy; 's' toggles)")
        ->check(CLI::IsMember({"busy", "wait"}));
    app.add_option("--interval", interval, "Seconds between refreshes (default 1)")
        ->check(CLI::Range(0.1, 3600.0));
  }
  const zokio::tools::cli_parse_outcome parsed =
      zokio::tools::parse_cli_args(app, argc - 1, argv + 1);
  if (parsed.what == zokio::tools::cli_parse_outcome::kind::exit) {
    std::fputs(parsed.text.c_str(), stdout);
    return parsed.exit_code;
  }
  if (parsed.what == zokio::tools::cli_parse_outcome::kind::usage) {
    std::fprintf(stderr, "zokio-diag %s: %s (see --help)\n", command.c_str(), parsed.text.c_str());
    return parsed.exit_code;
  }
  if (command == "top") {
    return top(socket, sort, interval, long_wait);
  }
  const answer a = ask(socket, request_of(long_wait));
  if (!a.doc) {
    return fail(a);
  }
  const std::string out = as_json ? a.doc->dump() + "\n" : render(*a.doc, "busy", 100000);
  std::fputs(out.c_str(), stdout);
  return std::fflush(stdout) == 0 ? 0 : code(exit_status::usage);
}

} // namespace zokio::diag_tool
