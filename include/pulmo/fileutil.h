// Small file helpers shared by every writer of non-image outputs (CSV, JSON, PNG, HTML).
#pragma once

#include <string>

namespace pulmo {

// Writes `text` to `path` atomically: to a temporary name in the same folder, then renamed,
// so a failure never leaves a partial file. Creates the folder when missing.
// Throws Error(WriteFailed) naming the path.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace pulmo
