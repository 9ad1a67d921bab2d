// Validates the JSON report of zokio-soak (schema zokio.soak/1), for the tools' fault cases
// (fault-cases.sh): what a run wrote through the one output writer is one whole document.
//
//   soak_json_check FILE
//
// Checked: the whole file is one JSON object; schema "zokio.soak/1", tool "zokio-soak"; the build
// (git_commit a string, git_dirty a boolean); a verdict string, an integer exit_code and a
// non-empty array of criteria, each named and with a boolean pass. Exit 0 when valid, 1 when
// not, 2 on bad arguments.

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: soak_json_check FILE\n";
    return 2;
  }
  const std::string path = argv[1];
  const auto fail = [&path](const std::string& what) {
    std::cerr << "soak_json_check: " << path << ": " << what << '\n';
    return 1;
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("cannot be read");
  }
  // The whole stream: anything after the document fails too.
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded()) {
    return fail("not one JSON document");
  }
  if (!doc.is_object()) {
    return fail("not a JSON object");
  }
  if (doc.value("schema", "") != "zokio.soak/1") {
    return fail("schema is not zokio.soak/1");
  }
  if (doc.value("tool", "") != "zokio-soak") {
    return fail("tool is not zokio-soak");
  }
  if (!doc.contains("git_commit") || !doc["git_commit"].is_string()) {
    return fail("no git_commit string");
  }
  if (!doc.contains("git_dirty") || !doc["git_dirty"].is_boolean()) {
    return fail("no git_dirty boolean");
  }
  if (!doc.contains("verdict") || !doc["verdict"].is_string()) {
    return fail("no verdict string");
  }
  if (!doc.contains("exit_code") || !doc["exit_code"].is_number_integer()) {
    return fail("no integer exit_code");
  }
  if (!doc.contains("criteria") || !doc["criteria"].is_array() || doc["criteria"].empty()) {
    return fail("no criteria");
  }
  for (const auto& c : doc["criteria"]) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("pass") ||
        !c["pass"].is_boolean()) {
      return fail("a criterion without a name or a boolean pass");
    }
  }
  return 0;
}
