// Strict reading of JSON objects for configurations and model folders (internal), and json_number() for writing.
// Every key read is remembered; finish() refuses the keys nobody read, listing the valid ones.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "pulmo/error.h"

namespace pulmo {

// A number for JSON output: NaN and infinities become null (JSON has no such numbers).
template <class Json = nlohmann::json>
Json json_number(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

class JsonFields {
 public:
  // `where` names the object in messages ("train config: optimizer").
  JsonFields(const nlohmann::json& object, std::string where) : j_(object), where_(std::move(where)) {
    if (!j_.is_object()) throw Error(ExitCode::BadConfig, where_ + ": expected an object");
  }

  template <class T>
  void get(const std::string& key, T& value) {
    valid_.push_back(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return;
    try {
      value = it->get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(ExitCode::BadConfig, where_ + ": key '" + key + "' has the wrong type (" + it->dump() + ")");
    }
  }

  // The sub-object at `key`, or an empty object when absent.
  nlohmann::json object(const std::string& key) {
    valid_.push_back(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nlohmann::json::object();
    if (!it->is_object()) throw Error(ExitCode::BadConfig, where_ + ": key '" + key + "' must be an object");
    return *it;
  }

  bool has(const std::string& key) const { return j_.contains(key); }
  const std::string& where() const { return where_; }

  // Throws Error(BadConfig) for keys that were never read.
  void finish() const {
    std::set<std::string> known(valid_.begin(), valid_.end());
    std::string unknown;
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!known.count(it.key())) unknown += (unknown.empty() ? "'" : ", '") + it.key() + "'";
    if (unknown.empty()) return;
    std::string list;
    for (const auto& k : valid_) list += (list.empty() ? "" : ", ") + k;
    throw Error(ExitCode::BadConfig, where_ + ": unknown key(s) " + unknown + " (valid keys: " + list + ")");
  }

 private:
  nlohmann::json j_;  // a copy: callers pass temporaries
  std::string where_;
  std::vector<std::string> valid_;
};

}  // namespace pulmo
