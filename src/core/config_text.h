// Configuration text -> JSON (internal): JSON as written, YAML scalars typed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace pulmo {

// YAML (yaml = true) or JSON text as JSON; a key given twice in one object is refused in both. YAML scalars are
// typed: numbers, booleans (true, True, yes / false, False, no); quoted strings stay strings. Error(BadConfig)
// naming `where` when the text does not parse.
nlohmann::json parse_yaml_or_json(const std::string& text, bool yaml, const std::string& where);

// One plain (unquoted) YAML scalar, typed.
nlohmann::json yaml_plain_scalar(const std::string& text);

}  // namespace pulmo
