// Small file helpers shared by every writer (volumes, CSV, JSON, PNG, HTML, weights, checkpoints): atomic writes
// and the clean-up of their temporary files on SIGINT/SIGTERM. (The temporary-file mechanism itself is internal:
// src/core/tempfile.h.)
#pragma once

#include <cstdint>
#include <string>

namespace pulmo {

// Writes `text` to `path` atomically: to a temporary name in the same folder, then renamed,
// so a failure never leaves a partial file. Creates the folder when missing.
// Throws Error(WriteFailed) naming the path.
void write_text_atomic(const std::string& path, const std::string& text);
// The same for any bytes (serialised archives): checked writes, completeness checks by extension.
inline void write_bytes_atomic(const std::string& path, const std::string& bytes) { write_text_atomic(path, bytes); }

// Installs SIGINT/SIGTERM handlers that unlink every live temporary file (async-signal-safe: unlink
// and write only) and exit with 128 + the signal number (130, 143); on SIGABRT (a library assertion,
// std::terminate) the same clean-up, then the abort goes on.
void install_signal_cleanup();

// The whole content of a text file. Throws Error(NotFound) when it cannot be opened.
std::string read_text_file(const std::string& path);

// Flushes std::cout and checks it: Error(WriteFailed) when standard output could not be written
// (a full disk, a closed pipe, /dev/full).
void check_stdout_written();

}  // namespace pulmo
