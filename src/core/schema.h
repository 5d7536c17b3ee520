// Declarative configuration schemas (internal). One declaration per options struct drives
//   reading     strict JSON -> struct: unknown keys refused with the list of valid ones, integers checked, an
//               enum's names parsed once, absent or null keys keep the struct's value;
//   writing     struct -> JSON with the same keys (nlohmann::json sorts them);
//   checking    ranges and choices of single values (Bounds, Choices), then the declared cross-field checks;
//   documenting a Markdown table of every key: type, default, allowed values, meaning (markdown_table()).
//
//   static const Schema<OptimizerOptions> s = Schema<OptimizerOptions>()
//       .enum_field("type", &OptimizerOptions::type, optimizer_types(), "the optimiser")
//       .field("lr", &OptimizerOptions::lr, "initial (peak) learning rate", Bounds().above(0));
//   s.read(json, options, SchemaContext("train.yaml", "optimizer"));
//
// A value's place is a member pointer, or member(&A::b, &B::c) for a member of a member. Messages:
//   type errors   "<where>: <section>: key '<key>' must be an integer (not 2.5)"
//   value errors  "<where>: <section>.<key> must be in [0, 1) (not 1.5)"
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "pulmo/error.h"

namespace pulmo {

// ---- enum names -----------------------------------------------------------------------------------------------

// The names of an enum's values, for parsing and writing alike.
template <class E>
using NameTable = std::vector<std::pair<E, std::string>>;

template <class E>
const std::string& name_of(const NameTable<E>& table, E value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  throw Error(ExitCode::Internal, "an option value without a name (" + std::to_string(static_cast<int>(value)) + ")");
}

// The value named `name`, or nullptr.
template <class E>
const E* find_name(const NameTable<E>& table, const std::string& name) {
  for (const auto& entry : table)
    if (entry.second == name) return &entry.first;
  return nullptr;
}

// "adam, adamw, sgd"
template <class E>
std::string names_list(const NameTable<E>& table) {
  std::string s;
  for (const auto& entry : table) s += (s.empty() ? "" : ", ") + entry.second;
  return s;
}

// The value named `name`; Error(BadConfig) "<what> must be one of a, b, c (not 'x')" otherwise.
template <class E>
E parse_name(const NameTable<E>& table, const std::string& name, const std::string& what) {
  if (const E* v = find_name(table, name)) return *v;
  throw Error(ExitCode::BadConfig, what + " must be one of " + names_list(table) + " (not '" + name + "')");
}

// ---- where a value is -----------------------------------------------------------------------------------------

class SchemaContext {
 public:
  // `where` names the source ("train.yaml"); `path` the object inside it, dotted ("network.unet"; "" = the root).
  explicit SchemaContext(std::string where, std::string path = "") : where_(std::move(where)), path_(std::move(path)) {}
  SchemaContext sub(const std::string& key) const { return SchemaContext(where_, name(key)); }
  // "network.unet.depth"
  std::string name(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // "train.yaml: network.unet" (the object, for messages about its keys)
  std::string object() const { return path_.empty() ? where_ : where_ + ": " + path_; }
  const std::string& where() const { return where_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(const std::string& message) const { throw Error(ExitCode::BadConfig, where_ + ": " + message); }
  // "<where>: <section>: key '<key>' <message>"
  [[noreturn]] void fail_key(const std::string& key, const std::string& message) const {
    throw Error(ExitCode::BadConfig, object() + ": key '" + key + "' " + message);
  }

 private:
  std::string where_, path_;
};

// ---- constraints on values ------------------------------------------------------------------------------------

// A number, as messages and tables print it: whole numbers without a point (and integers of every size exactly),
// others in the shortest form that reads back the same, NaN and infinities by name.
inline std::string schema_number_text(double v, bool integer = false) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if ((integer && std::fabs(v) < 9.2e18) || (v == std::floor(v) && std::fabs(v) < 1e15))
    return std::to_string(static_cast<int64_t>(v));
  return nlohmann::json(v).dump();
}

// Bounds of a number (each element of a list of numbers). Any bound also refuses NaN.
class Bounds {
 public:
  Bounds min(double v) const { Bounds b = *this; b.lo_ = v; b.lo_open_ = false; return b; }
  Bounds above(double v) const { Bounds b = *this; b.lo_ = v; b.lo_open_ = true; return b; }
  // `note` words the refusal "<key> <value> is more than <max> <note>" (e.g. "loader threads (pulmo's limit)").
  Bounds max(double v, std::string note = "") const {
    Bounds b = *this; b.hi_ = v; b.hi_open_ = false; b.note_ = std::move(note); return b;
  }
  Bounds below(double v) const { Bounds b = *this; b.hi_ = v; b.hi_open_ = true; return b; }
  Bounds finite() const { Bounds b = *this; b.finite_ = true; return b; }
  // [0, 1], worded "<key> is a probability and must be in [0, 1]".
  static Bounds probability() { Bounds b = Bounds().min(0).max(1); b.probability_ = true; return b; }

  bool empty() const { return !has_lo() && !has_hi() && !finite_; }
  bool ok(double v) const {
    if (empty()) return true;
    if (std::isnan(v) || (finite_ && !std::isfinite(v))) return false;
    if (has_lo() && (lo_open_ ? !(v > lo_) : !(v >= lo_))) return false;
    if (has_hi() && (hi_open_ ? !(v < hi_) : !(v <= hi_))) return false;
    return true;
  }
  // "1..7", "[0, 1)", ">= 1", "<= 256", "> 0", "finite"; "" when unbounded.
  std::string text(bool integer) const {
    auto n = [integer](double v) { return schema_number_text(v, integer); };
    if (has_lo() && has_hi()) {
      if (integer && !lo_open_ && !hi_open_) return n(lo_) + ".." + n(hi_);
      return std::string(lo_open_ ? "(" : "[") + n(lo_) + ", " + n(hi_) + (hi_open_ ? ")" : "]");
    }
    if (has_lo()) return (lo_open_ ? "> " : ">= ") + n(lo_);
    if (has_hi()) return (hi_open_ ? "< " : "<= ") + n(hi_);
    return finite_ ? "finite" : "";
  }
  std::string refusal(const std::string& name, double v, bool integer) const {
    const std::string value = schema_number_text(v, integer);
    if (probability_) return name + " is a probability and must be in [0, 1] (not " + value + ")";
    if (!note_.empty() && has_hi() && v > hi_) return name + " " + value + " is more than " + text_hi(integer) + " " + note_;
    const std::string t = text(integer);
    const bool interval = t.front() == '[' || t.front() == '(';
    return name + " must be " + (interval ? "in " : "") + t + " (not " + value + ")";
  }

 private:
  bool has_lo() const { return lo_ > -std::numeric_limits<double>::infinity(); }
  bool has_hi() const { return hi_ < std::numeric_limits<double>::infinity(); }
  std::string text_hi(bool integer) const { return schema_number_text(hi_, integer); }
  double lo_ = -std::numeric_limits<double>::infinity(), hi_ = std::numeric_limits<double>::infinity();
  bool lo_open_ = false, hi_open_ = false, finite_ = false, probability_ = false;
  std::string note_;
};

// The allowed texts of a string (each element of a list of strings).
struct Choices {
  std::vector<std::string> names;
  Choices() = default;
  Choices(std::initializer_list<std::string> n) : names(n) {}
  bool empty() const { return names.empty(); }
  bool ok(const std::string& s) const {
    for (const std::string& n : names)
      if (n == s) return true;
    return names.empty();
  }
  std::string list() const {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  }
};

// What a field allows: bounds for numbers, choices for strings.
struct Check {
  Bounds bounds;
  Choices choices;
  Check() = default;
  Check(Bounds b) : bounds(std::move(b)) {}     // NOLINT: implicit on purpose (field(..., Bounds().min(1)))
  Check(Choices c) : choices(std::move(c)) {}   // NOLINT
};

// ---- value types ----------------------------------------------------------------------------------------------

namespace schema_detail {

using nlohmann::json;

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// How a C++ type is read from JSON, written, named in tables and checked.
template <class V, class = void>
struct Codec;

template <>
struct Codec<bool> {
  static constexpr bool integer = false;
  static std::string type() { return "boolean"; }
  static std::string implied() { return ""; }
  // true/false; also the texts yes/no, on/off, true/false in any case (YAML and JSON alike).
  static bool read(const json& j, const SchemaContext& ctx, const std::string& key) {
    if (j.is_boolean()) return j.get<bool>();
    if (j.is_string()) {
      const std::string s = lower(j.get<std::string>());
      if (s == "true" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "no" || s == "off") return false;
    }
    ctx.fail_key(key, "must be a boolean: true/false, yes/no or on/off (not " + j.dump() + ")");
  }
  static json write(bool v) { return v; }
  template <class F>
  static void numbers(bool, F&&) {}
  template <class F>
  static void strings(bool, F&&) {}
};

template <class V>
struct Codec<V, std::enable_if_t<std::is_integral<V>::value && !std::is_same<V, bool>::value>> {
  static constexpr bool integer = true;
  static std::string type() { return "integer"; }
  static std::string implied() { return std::is_unsigned<V>::value ? ">= 0" : ""; }
  static V read(const json& j, const SchemaContext& ctx, const std::string& key) {
    const std::string kind = std::is_unsigned<V>::value ? "a non-negative integer" : "an integer";
    // nlohmann would turn 2.5 into 2 and -1 into 2^64-1 without a word.
    if (!j.is_number_integer() || (std::is_unsigned<V>::value && !j.is_number_unsigned() && j.get<int64_t>() < 0))
      ctx.fail_key(key, "must be " + kind + " (not " + j.dump() + ")");
    bool fits = true;
    if (j.is_number_unsigned()) {
      fits = j.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<V>::max());
    } else {
      const int64_t x = j.get<int64_t>();
      fits = x >= static_cast<int64_t>(std::numeric_limits<V>::min()) &&
             (x < 0 || static_cast<uint64_t>(x) <= static_cast<uint64_t>(std::numeric_limits<V>::max()));
    }
    if (!fits) ctx.fail_key(key, "is out of range (" + j.dump() + ")");
    return j.get<V>();
  }
  static json write(V v) { return v; }
  template <class F>
  static void numbers(V v, F&& f) { f(static_cast<double>(v), true); }
  template <class F>
  static void strings(V, F&&) {}
};

template <>
struct Codec<double> {
  static constexpr bool integer = false;
  static std::string type() { return "number"; }
  static std::string implied() { return ""; }
  static double read(const json& j, const SchemaContext& ctx, const std::string& key) {
    if (!j.is_number()) ctx.fail_key(key, "must be a number (not " + j.dump() + ")");
    return j.get<double>();
  }
  static json write(double v) { return v; }
  template <class F>
  static void numbers(double v, F&& f) { f(v, false); }
  template <class F>
  static void strings(double, F&&) {}
};

template <>
struct Codec<std::string> {
  static constexpr bool integer = false;
  static std::string type() { return "string"; }
  static std::string implied() { return ""; }
  // Text only: a bare YAML number or boolean is not taken for its spelling (quote it).
  static std::string read(const json& j, const SchemaContext& ctx, const std::string& key) {
    if (j.is_number() || j.is_boolean())
      ctx.fail_key(key, "must be a string (not " + j.dump() + "); in YAML, quote it: \"" + j.dump() + "\"");
    if (!j.is_string()) ctx.fail_key(key, "must be a string (not " + j.dump() + ")");
    return j.get<std::string>();
  }
  static json write(const std::string& v) { return v; }
  template <class F>
  static void numbers(const std::string&, F&&) {}
  template <class F>
  static void strings(const std::string& v, F&& f) { f(v); }
};

template <class X, size_t N>
struct Codec<std::array<X, N>> {
  static constexpr bool integer = Codec<X>::integer;
  static std::string type() { return "list of " + std::to_string(N) + " " + Codec<X>::type() + "s"; }
  static std::string implied() { return Codec<X>::implied(); }
  static std::array<X, N> read(const json& j, const SchemaContext& ctx, const std::string& key) {
    if (!j.is_array() || j.size() != N) ctx.fail_key(key, "must be a " + type() + " (not " + j.dump() + ")");
    std::array<X, N> out{};
    for (size_t i = 0; i < N; ++i) out[i] = Codec<X>::read(j[i], ctx, key);
    return out;
  }
  static json write(const std::array<X, N>& v) { return v; }
  template <class F>
  static void numbers(const std::array<X, N>& v, F&& f) {
    for (const X& x : v) Codec<X>::numbers(x, f);
  }
  template <class F>
  static void strings(const std::array<X, N>& v, F&& f) {
    for (const X& x : v) Codec<X>::strings(x, f);
  }
};

template <class X>
struct Codec<std::vector<X>> {
  static constexpr bool integer = Codec<X>::integer;
  static std::string type() { return "list of " + Codec<X>::type() + "s"; }
  static std::string implied() { return Codec<X>::implied(); }
  static std::vector<X> read(const json& j, const SchemaContext& ctx, const std::string& key) {
    if (!j.is_array()) ctx.fail_key(key, "must be a " + type() + " (not " + j.dump() + ")");
    std::vector<X> out;
    for (const json& e : j) out.push_back(Codec<X>::read(e, ctx, key));
    return out;
  }
  static json write(const std::vector<X>& v) { return v; }
  template <class F>
  static void numbers(const std::vector<X>& v, F&& f) {
    for (const X& x : v) Codec<X>::numbers(x, f);
  }
  template <class F>
  static void strings(const std::vector<X>& v, F&& f) {
    for (const X& x : v) Codec<X>::strings(x, f);
  }
};

template <class X>
struct Codec<std::map<std::string, X>> {
  static constexpr bool integer = Codec<X>::integer;
  static std::string type() { return "object of " + Codec<X>::type() + "s"; }
  static std::string implied() { return ""; }
  static std::map<std::string, X> read(const json& j, const SchemaContext& ctx, const std::string& key) {
    if (!j.is_object()) ctx.fail_key(key, "must be an " + type() + " (not " + j.dump() + ")");
    std::map<std::string, X> out;
    for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = Codec<X>::read(it.value(), ctx, key + "." + it.key());
    return out;
  }
  static json write(const std::map<std::string, X>& v) { return v; }
  template <class F>
  static void numbers(const std::map<std::string, X>& v, F&& f) {
    for (const auto& kv : v) Codec<X>::numbers(kv.second, f);
  }
  template <class F>
  static void strings(const std::map<std::string, X>&, F&&) {}
};

// A default or allowed value as a table cell shows it: `[1.5, 1.5, 1.5]`, `adam`, `""`.
inline std::string cell_value(const json& j) {
  if (j.is_string()) return j.get<std::string>().empty() ? "\"\"" : j.get<std::string>();
  if (j.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + cell_value(j[i]);
    return s + "]";
  }
  if (j.is_number_float()) return schema_number_text(j.get<double>());
  return j.dump();
}

}  // namespace schema_detail

// A member of a member: member(&AugmentOptions::flip, &FlipOptions::probability).
template <class T, class M, class V>
std::function<V&(T&)> member(M T::*outer, V M::*inner) {
  return [outer, inner](T& t) -> V& { return (t.*outer).*inner; };
}

// One row of a key table.
struct SchemaRow {
  std::string key, type, default_value, allowed, meaning;
};

// ---- the schema -----------------------------------------------------------------------------------------------

template <class T>
class Schema {
 public:
  using json = nlohmann::json;
  template <class V>
  using Access = std::function<V&(T&)>;

  // A value: bool, integers, double, std::string, std::array / std::vector of those, std::map<std::string, X>.
  template <class V>
  Schema& field(const std::string& key, V T::*m, const std::string& doc, Check check = {}) {
    return field<V>(key, Access<V>([m](T& t) -> V& { return t.*m; }), doc, std::move(check));
  }
  template <class V>
  Schema& field(const std::string& key, Access<V> access, const std::string& doc, Check check = {}) {
    return add(std::make_shared<ValueEntry<V>>(key, std::move(access), doc, std::move(check)));
  }
  // An enum, read and written by the names of `table`.
  template <class E>
  Schema& enum_field(const std::string& key, E T::*m, const NameTable<E>& table, const std::string& doc) {
    return enum_field<E>(key, Access<E>([m](T& t) -> E& { return t.*m; }), table, doc);
  }
  template <class E>
  Schema& enum_field(const std::string& key, Access<E> access, const NameTable<E>& table, const std::string& doc) {
    return add(std::make_shared<EnumEntry<E>>(key, std::move(access), table, doc));
  }
  // A nested object `key` holding the keys of `schema`.
  template <class S>
  Schema& section(const std::string& key, S T::*m, const Schema<S>& schema) {
    return section<S>(key, Access<S>([m](T& t) -> S& { return t.*m; }), schema);
  }
  template <class S>
  Schema& section(const std::string& key, Access<S> access, const Schema<S>& schema) {
    return add(std::make_shared<SectionEntry<S>>(key, std::move(access), schema));
  }
  // A nested object `key` holding more keys of T itself (model.json "input").
  Schema& group(const std::string& key, const Schema<T>& schema) {
    return section<T>(key, Access<T>([](T& t) -> T& { return t; }), schema);
  }
  // The keys of `schema` at this level (the HU window keys inside the training configuration's data).
  template <class S>
  Schema& embed(S T::*m, const Schema<S>& schema) {
    return add(std::make_shared<EmbedEntry<S>>(Access<S>([m](T& t) -> S& { return t.*m; }), schema));
  }
  // Anything else: `read` gets the JSON value (not null), `write` gives it back.
  Schema& custom(const std::string& key, std::function<void(T&, const json&, const SchemaContext&)> read,
                 std::function<json(const T&)> write, const std::string& type, const std::string& doc) {
    return add(std::make_shared<CustomEntry>(key, std::move(read), std::move(write), type, doc));
  }
  // The last entry is written only when `when` holds (an absent key reads as the default).
  Schema& write_if(std::function<bool(const T&)> when) {
    entries_.back()->when = std::move(when);
    return *this;
  }
  // A check of several fields, after the single values are checked; `ctx` names this object.
  Schema& check(std::function<void(const T&, const SchemaContext&)> f) {
    checks_.push_back(std::move(f));
    return *this;
  }
  // This schema with only `keys` (the chest X-ray trainer reads three of the optimiser's keys).
  Schema only(const std::set<std::string>& keys) const {
    Schema s;
    for (const auto& e : entries_)
      if (keys.count(e->key)) s.entries_.push_back(e);
    return s;
  }

  // Reads the object `j` into `value` (absent and null keys keep their value), then checks the whole of `value`.
  void read(const json& j, T& value, const SchemaContext& ctx) const {
    read_object(j, value, ctx);
    check_value(value, ctx);
  }
  void read_object(const json& j, T& value, const SchemaContext& ctx) const {
    if (!j.is_object()) ctx.fail(ctx.path().empty() ? "expected an object" : ctx.path() + " must be an object");
    std::vector<std::string> known;
    read_keys(j, value, ctx, known);
    std::string unknown;
    const std::set<std::string> valid(known.begin(), known.end());
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!valid.count(it.key())) unknown += (unknown.empty() ? "'" : ", '") + it.key() + "'";
    if (unknown.empty()) return;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(ExitCode::BadConfig, ctx.object() + ": unknown key(s) " + unknown + " (valid keys: " + list + ")");
  }
  json write(const T& value) const {
    json j = json::object();
    write_keys(value, j);
    return j;
  }
  // Bounds and choices of every value, then the cross-field checks (sections first).
  void check_value(const T& value, const SchemaContext& ctx) const {
    for (const auto& e : entries_) e->check(value, ctx);
    for (const auto& c : checks_) c(value, ctx);
  }
  // Every key (dotted below `prefix`) with its type, default (from `defaults`), allowed values and meaning.
  std::vector<SchemaRow> rows(const T& defaults, const std::string& prefix = "") const {
    std::vector<SchemaRow> out;
    for (const auto& e : entries_) e->rows(defaults, prefix, out);
    return out;
  }
  std::string markdown_table(const T& defaults) const {
    auto esc = [](const std::string& s) {
      std::string o;
      for (char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
      return o;
    };
    auto code = [&](const std::string& s) { return s.empty() ? std::string() : "`" + esc(s) + "`"; };
    std::string t = "| key | type | default | allowed | meaning |\n| --- | --- | --- | --- | --- |\n";
    for (const SchemaRow& r : rows(defaults))
      t += "| " + code(r.key) + " | " + esc(r.type) + " | " + code(r.default_value) + " | " + esc(r.allowed) + " | " +
           esc(r.meaning) + " |\n";
    return t;
  }

 private:
  struct Entry {
    std::string key, doc;
    std::function<bool(const T&)> when;
    Entry(std::string k, std::string d) : key(std::move(k)), doc(std::move(d)) {}
    virtual ~Entry() = default;
    // Reads its key(s) of `j`; appends the keys it knows to `known`.
    virtual void read(const json& j, T& t, const SchemaContext& ctx, std::vector<std::string>& known) const {
      known.push_back(key);
      auto it = j.find(key);
      if (it != j.end() && !it->is_null()) read_value(*it, t, ctx);
    }
    virtual void read_value(const json& v, T& t, const SchemaContext& ctx) const {}
    virtual void write(const T& t, json& j) const {
      if (!when || when(t)) j[key] = value(t);
    }
    virtual json value(const T& t) const = 0;
    virtual void check(const T& t, const SchemaContext& ctx) const {}
    virtual void rows(const T& d, const std::string& prefix, std::vector<SchemaRow>& out) const = 0;
    std::string dotted(const std::string& prefix) const { return prefix.empty() ? key : prefix + "." + key; }
  };

  template <class V>
  struct ValueEntry : Entry {
    Access<V> access;
    Check chk;
    ValueEntry(std::string k, Access<V> a, std::string d, Check c)
        : Entry(std::move(k), std::move(d)), access(std::move(a)), chk(std::move(c)) {}
    const V& get(const T& t) const { return access(const_cast<T&>(t)); }
    void read_value(const json& v, T& t, const SchemaContext& ctx) const override {
      access(t) = schema_detail::Codec<V>::read(v, ctx, this->key);
    }
    json value(const T& t) const override { return schema_detail::Codec<V>::write(get(t)); }
    void check(const T& t, const SchemaContext& ctx) const override {
      const std::string name = ctx.name(this->key);
      schema_detail::Codec<V>::numbers(get(t), [&](double x, bool integer) {
        if (!chk.bounds.ok(x)) ctx.fail(chk.bounds.refusal(name, x, integer));
      });
      schema_detail::Codec<V>::strings(get(t), [&](const std::string& s) {
        if (!chk.choices.ok(s)) ctx.fail(name + " must be one of " + chk.choices.list() + " (not '" + s + "')");
      });
    }
    void rows(const T& d, const std::string& prefix, std::vector<SchemaRow>& out) const override {
      std::string allowed = chk.choices.empty() ? chk.bounds.text(schema_detail::Codec<V>::integer) : chk.choices.list();
      if (allowed.empty()) allowed = schema_detail::Codec<V>::implied();
      out.push_back({this->dotted(prefix), schema_detail::Codec<V>::type(), schema_detail::cell_value(value(d)), allowed,
                     this->doc});
    }
  };

  template <class E>
  struct EnumEntry : Entry {
    Access<E> access;
    NameTable<E> table;
    EnumEntry(std::string k, Access<E> a, const NameTable<E>& t, std::string d)
        : Entry(std::move(k), std::move(d)), access(std::move(a)), table(t) {}
    void read_value(const json& v, T& t, const SchemaContext& ctx) const override {
      const E* e = v.is_string() ? find_name(table, v.get<std::string>()) : nullptr;
      if (!e)
        ctx.fail(ctx.name(this->key) + " must be one of " + names_list(table) + " (not " +
                 (v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump()) + ")");
      access(t) = *e;
    }
    json value(const T& t) const override { return name_of(table, access(const_cast<T&>(t))); }
    void rows(const T& d, const std::string& prefix, std::vector<SchemaRow>& out) const override {
      out.push_back({this->dotted(prefix), "string", value(d).template get<std::string>(), names_list(table), this->doc});
    }
  };

  template <class S>
  struct SectionEntry : Entry {
    Access<S> access;
    Schema<S> schema;
    SectionEntry(std::string k, Access<S> a, const Schema<S>& s) : Entry(std::move(k), ""), access(std::move(a)), schema(s) {}
    const S& get(const T& t) const { return access(const_cast<T&>(t)); }
    void read_value(const json& v, T& t, const SchemaContext& ctx) const override {
      if (!v.is_object()) ctx.fail_key(this->key, "must be an object (not " + std::string(v.type_name()) + ")");
      schema.read_object(v, access(t), ctx.sub(this->key));
    }
    json value(const T& t) const override { return schema.write(get(t)); }
    void check(const T& t, const SchemaContext& ctx) const override { schema.check_value(get(t), ctx.sub(this->key)); }
    void rows(const T& d, const std::string& prefix, std::vector<SchemaRow>& out) const override {
      for (SchemaRow& r : schema.rows(get(d), this->dotted(prefix))) out.push_back(std::move(r));
    }
  };

  template <class S>
  struct EmbedEntry : Entry {
    Access<S> access;
    Schema<S> schema;
    EmbedEntry(Access<S> a, const Schema<S>& s) : Entry("", ""), access(std::move(a)), schema(s) {}
    const S& get(const T& t) const { return access(const_cast<T&>(t)); }
    void read(const json& j, T& t, const SchemaContext& ctx, std::vector<std::string>& known) const override {
      schema.read_keys(j, access(t), ctx, known);
    }
    void write(const T& t, json& j) const override { schema.write_keys(get(t), j); }
    json value(const T& t) const override { return schema.write(get(t)); }
    void check(const T& t, const SchemaContext& ctx) const override { schema.check_value(get(t), ctx); }
    void rows(const T& d, const std::string& prefix, std::vector<SchemaRow>& out) const override {
      for (SchemaRow& r : schema.rows(get(d), prefix)) out.push_back(std::move(r));
    }
  };

  struct CustomEntry : Entry {
    std::function<void(T&, const json&, const SchemaContext&)> reader;
    std::function<json(const T&)> writer;
    std::string type;
    CustomEntry(std::string k, std::function<void(T&, const json&, const SchemaContext&)> r, std::function<json(const T&)> w,
                std::string ty, std::string d)
        : Entry(std::move(k), std::move(d)), reader(std::move(r)), writer(std::move(w)), type(std::move(ty)) {}
    void read_value(const json& v, T& t, const SchemaContext& ctx) const override { reader(t, v, ctx); }
    json value(const T& t) const override { return writer(t); }
    void rows(const T& d, const std::string& prefix, std::vector<SchemaRow>& out) const override {
      out.push_back({this->dotted(prefix), type, "", "", this->doc});
    }
  };

  template <class U>
  friend class Schema;

  Schema& add(std::shared_ptr<Entry> e) {
    entries_.push_back(std::move(e));
    return *this;
  }
  void read_keys(const json& j, T& value, const SchemaContext& ctx, std::vector<std::string>& known) const {
    for (const auto& e : entries_) e->read(j, value, ctx, known);
  }
  void write_keys(const T& value, json& j) const {
    for (const auto& e : entries_) e->write(value, j);
  }

  std::vector<std::shared_ptr<Entry>> entries_;
  std::vector<std::function<void(const T&, const SchemaContext&)>> checks_;
};

}  // namespace pulmo
