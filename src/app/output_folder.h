// Report folders pulmo writes (internal to src/app): the marker file that says pulmo wrote a folder, and the checks
// that keep an output away from every input. `--overwrite` replaces only a folder holding the marker; it never
// touches an input, a folder holding an input, or a file (docs/quantify.md, docs/exit-codes.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pulmo/error.h"

namespace pulmo {

// The file every report folder (and every batch output folder) pulmo writes holds.
inline constexpr const char* kOutputMarker = ".pulmo-output";
inline const char* output_marker_text() {
  return "This folder was written by pulmo. `pulmo quantify --overwrite` replaces only folders holding this file.\n";
}

// `p` made absolute with links resolved where the path exists (weakly canonical), without a trailing separator.
inline std::filesystem::path resolved_path(const std::string& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  if (ec) r = fs::absolute(p, ec).lexically_normal();
  if (r.filename().empty() && r.has_parent_path()) r = r.parent_path();
  return r;
}

// Whether `inner` is `outer` or lies inside it (both resolved).
inline bool path_is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return true;
}

// Whether `folder` is a real folder (not a link) holding pulmo's marker file.
inline bool is_pulmo_output_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  return !fs::is_symlink(folder, ec) && fs::is_directory(folder, ec) &&
         fs::is_regular_file(fs::path(folder) / kOutputMarker, ec);
}

// Throws unless `folder` may become a report folder: it must not be, hold, or lie inside an input folder
// (Error Usage), must not be a file or a link (WriteFailed), and when it exists: `overwrite` must be given and the
// folder must hold the marker (WriteFailed). Nothing is changed.
inline void check_output_folder(const std::string& folder, bool overwrite, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path out = resolved_path(folder);
  for (const std::string& input : inputs) {
    if (input.empty()) continue;
    const fs::path in = resolved_path(input);
    if (path_is_within(in, out))
      throw Error(ExitCode::Usage, "the output folder '" + folder + "' " + (in == out ? "is" : "holds") + " the input '" +
                                       input + "': pulmo never writes over its inputs (choose another --out)");
    if (fs::is_directory(in, ec) && path_is_within(out, in))
      throw Error(ExitCode::Usage, "the output folder '" + folder + "' lies inside the input folder '" + input +
                                       "': pulmo never writes into its inputs (choose another --out)");
  }
  if (fs::is_symlink(folder, ec))
    throw Error(ExitCode::WriteFailed, "the output '" + folder + "' is a link: pulmo writes a report folder only where "
                                       "nothing exists, or over a report folder it wrote (nothing was changed)");
  if (!fs::exists(folder, ec)) return;
  if (!fs::is_directory(folder, ec))
    throw Error(ExitCode::WriteFailed, "the output '" + folder + "' is a file, not a folder: pulmo never replaces a "
                                       "file with a report folder (nothing was changed)");
  if (!overwrite)
    throw Error(ExitCode::WriteFailed, "output folder '" + folder + "' exists (use --overwrite to replace a report "
                                       "folder pulmo wrote)");
  if (!is_pulmo_output_folder(folder))
    throw Error(ExitCode::WriteFailed, "output folder '" + folder + "' exists and was not written by pulmo (it holds no " +
                                           std::string(kOutputMarker) + " file): --overwrite replaces only pulmo's "
                                           "report folders (nothing was changed)");
}

}  // namespace pulmo
