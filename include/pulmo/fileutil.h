// Small file helpers shared by every writer (volumes, CSV, JSON, PNG, HTML, weights, checkpoints):
// the one atomic-write mechanism, its completeness checks, and the clean-up of temporary files.
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

// The two halves of an atomic write, for writers that produce the file themselves (ITK, torch::save):
// a hidden temporary path in the destination's folder (created when missing), unique in this process,
// ending in `suffix` (default: `path`'s own last extension) so that extension-driven writers pick the
// right format. The name is ".NAME.tmp-PID-N.EXT", or ".pulmo-HASH.tmp-PID-N.EXT" when NAME is so long
// that the temporary name would pass 255 bytes. The temporary path is registered as live: a SIGINT or
// SIGTERM removes it (install_signal_cleanup). Stale temporaries of the same output left by a pulmo
// process that no longer runs (SIGKILL, power loss) are removed here.
std::string temporary_path_for(const std::string& path, const std::string& suffix = "");

// Checks that the temporary file is complete, then renames it onto `path`. Complete means: a non-empty
// regular file, synced to disk (fsync), of exactly `expected_bytes` when given (>= 0), and by `path`'s
// extension: .gz a gzip stream whose CRC and length check out (of `expected_gzip_content_bytes`
// decompressed bytes when given), .png ending in its IEND chunk, .pt a zip archive with its end record.
// On any failure the temporary file is removed and Error(WriteFailed) names `path`.
void commit_temporary(const std::string& temporary, const std::string& path, int64_t expected_bytes = -1,
                      int64_t expected_gzip_content_bytes = -1);

// Removes a temporary file after a failed write (never throws) and forgets it.
void discard_temporary(const std::string& temporary) noexcept;

// A folder being written under a temporary name (a report folder before its rename): SIGINT/SIGTERM remove it
// whole (rm -rf in a child process: async-signal-safe). Forget it once renamed or removed.
void register_temporary_folder(const std::string& path);
void forget_temporary_folder(const std::string& path);

// Installs SIGINT/SIGTERM handlers that unlink every live temporary file (async-signal-safe: unlink
// and write only) and exit with 128 + the signal number (130, 143); on SIGABRT (a library assertion,
// std::terminate) the same clean-up, then the abort goes on.
void install_signal_cleanup();

// Result of decompressing a whole gzip file (every member), which checks each member's CRC32 and length.
struct GzipCheck {
  bool ok = false;            // the whole file decompressed and every CRC and length matched
  bool is_gzip = false;       // the file starts with the gzip magic bytes
  uint64_t content_bytes = 0; // decompressed bytes read
  std::string problem;        // zlib's message when !ok
};
GzipCheck check_gzip_file(const std::string& path);

// The whole content of a text file. Throws Error(NotFound) when it cannot be opened.
std::string read_text_file(const std::string& path);

// Flushes std::cout and checks it: Error(WriteFailed) when standard output could not be written
// (a full disk, a closed pipe, /dev/full).
void check_stdout_written();

}  // namespace pulmo
