// Configuration text -> JSON (internal): JSON as written, YAML typed as the YAML 1.2 core schema says.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace pulmo {

// YAML (yaml = true) or JSON text as JSON; a key given twice in one object is refused in both. YAML scalars keep
// the type they are written with: a plain scalar is a number only when it is one in the YAML 1.2 core schema
// (12, -3, 0x1f, 0o17, 1.5, 1e-5, .5, .inf, .nan), a boolean only for true / false (any case), null for null, ~ or
// nothing; anything else (yes, no, on, off, 1_000, 2024-01-01) is a string, and quoted or block scalars are always
// strings. (A boolean field of a schema also takes yes/no/on/off: core/schema.h.) Error(BadConfig) naming `where`
// when the text does not parse.
nlohmann::json parse_yaml_or_json(const std::string& text, bool yaml, const std::string& where);

// One plain (unquoted, untagged) YAML scalar as the core schema types it.
nlohmann::json yaml_plain_scalar(const std::string& text);

}  // namespace pulmo
