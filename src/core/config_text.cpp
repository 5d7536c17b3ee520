#include "core/config_text.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <set>
#include <vector>

#include "pulmo/error.h"

using nlohmann::json;

namespace pulmo {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// An integer written in base `base` (sign already removed): int64, uint64 when larger, else a double.
json integer(const std::string& digits, int base, bool negative) {
  errno = 0;
  const unsigned long long u = std::strtoull(digits.c_str(), nullptr, base);
  if (errno == ERANGE) {
    const double d = std::strtod(digits.c_str(), nullptr);
    return negative ? -d : d;
  }
  if (!negative) {
    if (u <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) return static_cast<int64_t>(u);
    return static_cast<uint64_t>(u);
  }
  if (u <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) return -static_cast<int64_t>(u);
  if (u == static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()) + 1ull) return std::numeric_limits<int64_t>::min();
  return -static_cast<double>(u);
}

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
      // "?": a plain scalar without a tag; "!": quoted or block; anything else: an explicit tag (!!str ...).
      return n.Tag() == "?" ? yaml_plain_scalar(n.Scalar()) : json(n.Scalar());
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
  // YAML 1.2.2, 10.3.2 (core schema), booleans and null in any case as pulmo documents.
  static const std::regex decimal("[-+]?[0-9]+"), octal("0o[0-7]+"), hex("0x[0-9a-fA-F]+"),
      real("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?"), inf("[-+]?\\.(inf|Inf|INF)"), nan("\\.(nan|NaN|NAN)");
  const std::string l = lower(s);
  if (s.empty() || s == "~" || l == "null") return nullptr;
  if (l == "true") return true;
  if (l == "false") return false;
  if (std::regex_match(s, decimal)) {
    const bool negative = s[0] == '-';
    return integer(s.substr(s[0] == '-' || s[0] == '+' ? 1 : 0), 10, negative);
  }
  if (std::regex_match(s, octal)) return integer(s.substr(2), 8, false);
  if (std::regex_match(s, hex)) return integer(s.substr(2), 16, false);
  if (std::regex_match(s, real)) return std::strtod(s.c_str(), nullptr);
  if (std::regex_match(s, inf)) return s[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (std::regex_match(s, nan)) return std::numeric_limits<double>::quiet_NaN();
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
