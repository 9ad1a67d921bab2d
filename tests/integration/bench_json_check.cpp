// Validates the JSON of a Zokio benchmark tool (Google Benchmark's JSON, written by bench_main).
//
//   bench_json_check FILE
//
// Checked: the whole file is one JSON document; its context names the build (zokio_version
// X.Y.Z, zokio_git_commit a full hash or "unknown", zokio_git_dirty "true" or "false") and the
// host (host_name, num_cpus, date); "benchmarks" is a non-empty array of named runs, none of them
// errored. Exit 0 when valid, 1 when not, 2 on bad arguments.

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: bench_json_check FILE\n";
    return 2;
  }
  const std::string path = argv[1];
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "bench_json_check: " << path << " is not one JSON document: " << e.what() << "\n";
    return 1;
  }
  std::vector<std::string> problems;
  const nlohmann::json ctx = doc.value("context", nlohmann::json::object());
  const auto matches = [&ctx](const char* key, const char* re) {
    return ctx.contains(key) && ctx[key].is_string() &&
           std::regex_match(ctx[key].get<std::string>(), std::regex(re));
  };
  if (!matches("zokio_version", R"(\d+\.\d+\.\d+)")) {
    problems.push_back("context.zokio_version is not X.Y.Z");
  }
  if (!matches("zokio_git_commit", "[0-9a-f]{40}|unknown")) {
    problems.push_back("context.zokio_git_commit is not a full commit hash");
  }
  if (!matches("zokio_git_dirty", "true|false")) {
    problems.push_back("context.zokio_git_dirty is not \"true\" or \"false\"");
  }
  if (!ctx.contains("host_name") || !ctx.contains("num_cpus") || !ctx.contains("date")) {
    problems.push_back("context lacks host_name, num_cpus or date");
  }
  if (!doc.contains("benchmarks") || !doc["benchmarks"].is_array() || doc["benchmarks"].empty()) {
    problems.push_back("benchmarks is missing or empty");
  } else {
    for (const nlohmann::json& b : doc["benchmarks"]) {
      if (!b.contains("name") || !b["name"].is_string()) {
        problems.push_back("a benchmark has no name");
      } else if (b.value("error_occurred", false)) {
        problems.push_back(b["name"].get<std::string>() + " errored");
      }
    }
  }
  for (const std::string& p : problems) {
    std::cerr << "bench_json_check: " << path << ": " << p << "\n";
  }
  if (problems.empty()) {
    std::cout << "bench_json_check: " << path << ": valid benchmark JSON\n";
  }
  return problems.empty() ? 0 : 1;
}
