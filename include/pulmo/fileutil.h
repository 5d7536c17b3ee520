// Small file helpers shared by every writer of non-image outputs (CSV, JSON, PNG, HTML).
#pragma once

#include <string>

namespace pulmo {

// Writes `text` to `path` atomically: to a temporary name in the same folder, then renamed,
// so a failure never leaves a partial file. Creates the folder when missing.
// Throws Error(WriteFailed) naming the path.
void write_text_atomic(const std::string& path, const std::string& text);

// The two halves of an atomic write, for writers that produce the file themselves (ITK, torch::save):
// a hidden temporary path in the destination's folder (created when missing), unique in this process,
// ending in `suffix` (default: `path`'s own last extension) so that extension-driven writers pick the
// right format; then the rename onto `path`, which removes the temporary file and throws
// Error(WriteFailed) when it fails.
std::string temporary_path_for(const std::string& path, const std::string& suffix = "");
void commit_temporary(const std::string& temporary, const std::string& path);

// The whole content of a text file. Throws Error(NotFound) when it cannot be opened.
std::string read_text_file(const std::string& path);

}  // namespace pulmo
