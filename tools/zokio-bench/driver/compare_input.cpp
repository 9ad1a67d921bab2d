#include "compare_input.hpp"

#include <nlohmann/json.hpp>

namespace zokio::bench {

namespace {

/// A benchmark's name as JSON spells it, quoted: an error stays one line whatever the name holds.
std::string quoted(const nlohmann::json& name) {
  return name.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

std::map<std::string, compare_entry> parse_compare_input(std::string_view text,
                                                         const std::string& name) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    throw compare_input_error(name + ": not valid JSON");
  }
  // Every field is checked for its type before it is read: nlohmann's value() and get() throw
  // a type_error for a field of another type, which named neither the file nor the field (found
  // by tests/fuzz/bench_compare_fuzz.cpp).
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
      j["schema"].get<std::string>() != "zokio.bench/1") {
    throw compare_input_error(name + ": not a zokio-bench report (\"schema\" is not "
                                     "\"zokio.bench/1\")");
  }
  if (!j.contains("benchmarks") || !j["benchmarks"].is_array()) {
    throw compare_input_error(name + ": \"benchmarks\" is missing or not an array");
  }
  std::map<std::string, compare_entry> out;
  for (const auto& b : j["benchmarks"]) {
    if (!b.is_object() || !b.contains("name") || !b["name"].is_string() || !b.contains("value") ||
        !b["value"].is_number() || !b.contains("samples") || !b["samples"].is_array() ||
        !b.contains("peer") || !b["peer"].is_string()) {
      throw compare_input_error(name + ": a benchmark entry lacks name, peer, value or samples");
    }
    const std::string bench = quoted(b["name"]);
    if (b.contains("unit") && !b["unit"].is_string()) {
      throw compare_input_error(name + ": " + bench + ": \"unit\" is not a string");
    }
    if (b.contains("bigger_is_better") && !b["bigger_is_better"].is_boolean()) {
      throw compare_input_error(name + ": " + bench +
                                ": \"bigger_is_better\" is not true or false");
    }
    compare_entry e;
    e.peer = b["peer"].get<std::string>();
    e.unit = b.value("unit", "");
    e.bigger_is_better = b.value("bigger_is_better", false);
    e.value = b["value"].get<double>();
    for (const auto& s : b["samples"]) {
      if (!s.is_number()) {
        throw compare_input_error(name + ": " + bench + ": a sample is not a number");
      }
      e.samples.push_back(s.get<double>());
    }
    out[b["name"].get<std::string>()] = e;
  }
  return out;
}

} // namespace zokio::bench
