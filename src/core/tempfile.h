// The temporary files of atomic writes (internal to libpulmo; the public half is pulmo/fileutil.h): the two halves
// of an atomic write for writers that produce the file themselves, the completeness checks, temporary folders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pulmo/fileutil.h"

namespace pulmo {

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

// Temporary folders in `parent` left by a pulmo run that was killed (SIGKILL, power loss): named PREFIX + PID +
// SUFFIX (the PID in decimal), whose process no longer exists, and - when `marker` is not empty - that hold the
// file `marker` or nothing at all (killed before the marker was written). Removes them and returns their paths.
// A folder whose PID runs (that run, or another process that reuses the number) is left alone.
std::vector<std::string> remove_stale_temporary_folders(const std::string& parent, const std::string& prefix,
                                                        const std::string& suffix, const std::string& marker = "");

// Result of decompressing a whole gzip file (every member), which checks each member's CRC32 and length.
struct GzipCheck {
  bool ok = false;            // the whole file decompressed and every CRC and length matched
  bool is_gzip = false;       // the file starts with the gzip magic bytes
  uint64_t content_bytes = 0; // decompressed bytes read
  std::string problem;        // zlib's message when !ok
};
GzipCheck check_gzip_file(const std::string& path);

}  // namespace pulmo
