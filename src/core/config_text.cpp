#include "core/config_text.h"

#include <yaml-cpp/yaml.h>

#include <set>
#include <vector>

#include "pulmo/error.h"

using nlohmann::json;

namespace pulmo {
namespace {

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& kv : n) {
        const std::string key = kv.first.as<std::string>();
        if (j.contains(key))
          throw Error(ExitCode::BadConfig, "duplicate key '" + key + "' (line " + std::to_string(kv.first.Mark().line + 1) +
                                               "): which value was meant is unclear");
        j[key] = yaml_to_json(kv.second);
      }
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& v : n) j.push_back(yaml_to_json(v));
      return j;
    }
    case YAML::NodeType::Scalar:
      if (n.Tag() == "!") return n.Scalar();  // quoted
      return yaml_plain_scalar(n.Scalar());
    default: return nullptr;
  }
}

// nlohmann keeps the last of two equal keys without a word: refuse duplicates in every object.
json parse_json_without_duplicates(const std::string& text) {
  std::vector<std::set<std::string>> keys;
  json::parser_callback_t cb = [&keys](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    else if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    else if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
      throw Error(ExitCode::BadConfig, "duplicate key '" + parsed.get<std::string>() + "': which value was meant is unclear");
    return true;
  };
  return json::parse(text, cb);
}

}  // namespace

json yaml_plain_scalar(const std::string& s) {
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  try {
    size_t used = 0;
    const long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
    const double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

json parse_yaml_or_json(const std::string& text, bool yaml, const std::string& where) {
  try {
    return yaml ? yaml_to_json(YAML::Load(text)) : parse_json_without_duplicates(text);
  } catch (const Error& e) {
    throw e.with_context(where);
  } catch (const YAML::Exception& e) {
    throw Error(ExitCode::BadConfig, where + ": not valid YAML: " + e.what());
  } catch (const json::parse_error& e) {
    throw Error(ExitCode::BadConfig, where + ": not valid JSON: " + e.what());
  }
}

}  // namespace pulmo
