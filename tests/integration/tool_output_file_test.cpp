#include <zokio_tools/output_file.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// The one output writer of the tools (tools/common): each kind of path it is given, with real
// files, links, FIFOs, pipes and devices.

namespace fs = std::filesystem;
using zokio::tools::output_error;
using zokio::tools::output_file;

namespace {

class output_file_test : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zokio-output-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { fs::remove_all(m_dir); }

  std::string path(const std::string& name) const { return (m_dir / name).string(); }

  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// How many names the directory holds: a temporary file left behind shows up here.
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(m_dir), {}));
  }

  fs::path m_dir;
};

mode_t mode_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode;
}

ino_t inode_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_ino;
}

} // namespace

TEST_F(output_file_test, new_regular_file_is_written_without_leftovers) {
  const std::string p = path("report.json");
  output_file out = output_file::open(p);
  EXPECT_EQ(entries(), 0u) << "the check before the work must not leave a file";
  out.write("{\"a\": 1}\n");
  EXPECT_EQ(read(p), "{\"a\": 1}\n");
  EXPECT_TRUE(S_ISREG(mode_of(p)));
  EXPECT_EQ(entries(), 1u) << "a temporary file was left beside the report";
  EXPECT_FALSE(out.is_stdout());
}

TEST_F(output_file_test, existing_file_is_replaced_and_keeps_its_permissions) {
  const std::string p = path("report.json");
  std::ofstream(p) << "old contents, longer than the new ones\n";
  ASSERT_EQ(::chmod(p.c_str(), 0640), 0);
  const ino_t before = inode_of(p);
  output_file out = output_file::open(p);
  out.write("new\n");
  EXPECT_EQ(read(p), "new\n");
  EXPECT_NE(inode_of(p), before) << "the file was rewritten in place, not replaced atomically";
  EXPECT_EQ(mode_of(p) & 07777, 0640u);
  EXPECT_EQ(entries(), 1u);
}

TEST_F(output_file_test, root_replacing_a_users_file_keeps_its_owner) {
  const std::string p = path("report.json");
  std::ofstream(p) << "old\n";
  if (::geteuid() != 0 || ::chown(p.c_str(), 65534, 65534) != 0) {
    GTEST_SKIP() << "needs root (to give the file to another user)";
  }
  output_file::open(p).write("new\n");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(read(p), "new\n");
}

TEST_F(output_file_test, symlink_keeps_the_link_and_replaces_its_target) {
  fs::create_directory(m_dir / "sub");
  const std::string target = path("sub/target.json");
  std::ofstream(target) << "old\n";
  const std::string link = path("link.json");
  fs::create_symlink("sub/target.json", link);
  output_file out = output_file::open(link);
  out.write("via link\n");
  EXPECT_TRUE(fs::is_symlink(link)) << "the link was replaced by a file";
  EXPECT_EQ(fs::read_symlink(link), "sub/target.json");
  EXPECT_EQ(read(target), "via link\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(m_dir / "sub"), {}), 1);
}

TEST_F(output_file_test, dangling_symlink_creates_its_target) {
  const std::string link = path("link.json");
  fs::create_symlink("made.json", link);
  output_file::open(link).write("made\n");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read(path("made.json")), "made\n");
}

TEST_F(output_file_test, fifo_with_a_reader_gets_the_data_and_stays_a_fifo) {
  const std::string p = path("report.fifo");
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = read(p); }); // blocks in open() until the writer comes
  output_file out = output_file::open(p);
  out.write("through the fifo\n");
  reader.join();
  EXPECT_EQ(got, "through the fifo\n");
  EXPECT_TRUE(S_ISFIFO(mode_of(p))) << "the FIFO was replaced";
}

TEST_F(output_file_test, dev_fd_of_a_pipe_writes_to_the_pipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    output_file out = output_file::open("/dev/fd/" + std::to_string(fds[1]));
    out.write("piped\n");
  }
  ::close(fds[1]);
  char buf[64] = {};
  const ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "piped\n");
}

TEST_F(output_file_test, dev_fd_open_for_reading_only_is_refused_up_front) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string p = "/dev/fd/" + std::to_string(fds[0]);
  try {
    (void)output_file::open(p);
    ADD_FAILURE() << "a read-only descriptor was accepted";
  } catch (const output_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(p + ": ", 0), 0u) << e.what();
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(output_file_test, character_device_is_written_through_not_replaced) {
  output_file out = output_file::open("/dev/null");
  out.write("discarded\n");
  EXPECT_TRUE(S_ISCHR(mode_of("/dev/null")));
}

TEST_F(output_file_test, missing_directory_fails_at_open_naming_the_users_path) {
  const std::string p = path("no/such/dir/report.json");
  try {
    (void)output_file::open(p);
    ADD_FAILURE() << "a path in a missing directory was accepted";
  } catch (const output_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(p + ": ", 0), 0u) << what;
    EXPECT_EQ(what.find("XXXXXX"), std::string::npos) << what;
    EXPECT_EQ(what.find(".tmp"), std::string::npos) << what;
  }
}

TEST_F(output_file_test, directory_is_refused) {
  EXPECT_THROW((void)output_file::open(m_dir.string()), output_error);
}

TEST_F(output_file_test, failure_at_write_names_the_users_path) {
  fs::create_directory(m_dir / "gone");
  const std::string p = path("gone/report.json");
  output_file out = output_file::open(p);
  fs::remove(m_dir / "gone"); // the directory disappears while the work runs
  try {
    out.write("lost\n");
    ADD_FAILURE() << "writing into a removed directory succeeded";
  } catch (const output_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(p + ": ", 0), 0u) << what;
    EXPECT_EQ(what.find("XXXXXX"), std::string::npos) << what;
  }
}

TEST_F(output_file_test, dash_is_standard_output) {
  EXPECT_TRUE(output_file::open("-").is_stdout());
  EXPECT_TRUE(output_file::open("/dev/stdout").is_stdout());
  EXPECT_TRUE(output_file::open("/dev/fd/1").is_stdout());
}
