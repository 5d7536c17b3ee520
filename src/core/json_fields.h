// Strict reading of JSON objects for configurations and model folders (internal), and json_number() for writing.
// Every key read is remembered; finish() refuses the keys nobody read, listing the valid ones.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "pulmo/error.h"

namespace pulmo {

// A number for JSON output: NaN and infinities become null (JSON has no such numbers).
template <class Json = nlohmann::json>
Json json_number(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

namespace json_fields_detail {
template <class T, class = void>
struct is_sequence : std::false_type {};
template <class T>
struct is_sequence<T, std::void_t<typename T::value_type, decltype(std::declval<T>().begin())>>
    : std::bool_constant<!std::is_same<T, std::string>::value> {};
}  // namespace json_fields_detail

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
    if (!integers_ok<T>(*it))
      throw Error(ExitCode::BadConfig, where_ + ": key '" + key + "' must be " +
                                           (std::is_unsigned<T>::value ? "a non-negative integer" : "an integer") +
                                           " (not " + it->dump() + ")");
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
  // nlohmann converts 2.5 to an integer 2 and -1 to an unsigned 2^64-1 without a word: refuse both,
  // for plain integers and for arrays of them.
  template <class T>
  static bool integers_ok(const nlohmann::json& j) {
    if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
      if (!j.is_number()) return true;  // the type error is reported by get()
      if (!j.is_number_integer()) return false;
      return !std::is_unsigned<T>::value || j.is_number_unsigned() || j.get<int64_t>() >= 0;
    } else if constexpr (json_fields_detail::is_sequence<T>::value) {
      if (!j.is_array()) return true;
      for (const auto& e : j)
        if (!integers_ok<typename T::value_type>(e)) return false;
      return true;
    } else {
      return true;
    }
  }
  nlohmann::json j_;  // a copy: callers pass temporaries
  std::string where_;
  std::vector<std::string> valid_;
};

}  // namespace pulmo
