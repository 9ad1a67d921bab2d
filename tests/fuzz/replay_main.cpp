// Replays committed fuzz inputs through a fuzz target's LLVMFuzzerTestOneInput, without libFuzzer:
// the regression part of fuzzing, in every build tree (GCC release too). A target fails by
// aborting (tests/fuzz/*_fuzz.cpp), so a crash, a sanitizer report or a broken promise fails the
// test. Finding no input at all is an error too: a replay of nothing proves nothing.
//
//   fuzz_<target>_replay PATH...   each PATH a file or a directory of files (not recursive)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool replay_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH...\n", argv[0]);
    return 2;
  }
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
        if (e.is_regular_file()) {
          files.push_back(e.path());
        }
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (!replay_file(f)) {
          return 2;
        }
        ++replayed;
      }
    } else if (std::filesystem::is_regular_file(path, ec)) {
      if (!replay_file(path)) {
        return 2;
      }
      ++replayed;
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "replay: no input found\n");
    return 2;
  }
  std::printf("replay: %zu inputs, all passed\n", replayed);
  return 0;
}
