// Small file helpers shared by every writer of non-image outputs (CSV, JSON, PNG, HTML).
#pragma once

#include <string>

namespace pulmo {

// Writes `text` to `path` atomically: to a temporary name in the same folder, then renamed,
// so a failure never leaves a partial file. Creates the folder when missing.
// Throws Error(WriteFailed) naming the path.
void write_text_atomic(const std::string& path, const std::string& text);

// A temporary path next to `path` (same folder, hidden, unique in this process) that keeps
// `path`'s extension, for writers that pick the format from the extension (ITK, torch::save).
// Write there, then rename onto `path`.
std::string temporary_path_for(const std::string& path);

// The whole content of a text file. Throws Error(NotFound) when it cannot be opened.
std::string read_text_file(const std::string& path);

}  // namespace pulmo
