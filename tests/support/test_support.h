// Helpers shared by the tests: fixture paths, temporary folders, running the CLI.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace pulmo::test {

// The shared real data (never copied into the repository): $PULMO_DATA when set, else ../shared/data beside the
// checkout (PULMO_SHARED_DATA_DIR, fixed at configure time). The one place the tests resolve it.
std::string shared_data_dir();
// shared_data_dir()/relative when it exists, else "" - the test then skips (PULMO_REQUIRE_SHARED_DATA).
std::string shared_data_path(const std::string& relative);
// Why shared_data_path(relative) is "": names the folder that is missing and how to provide it.
std::string missing_shared_data(const std::string& relative);

// Skips the test, with missing_shared_data's message, when shared_data_path(relative) is absent.
#define PULMO_REQUIRE_SHARED_DATA(relative)                   \
  if (::pulmo::test::shared_data_path(relative).empty()) \
  GTEST_SKIP() << ::pulmo::test::missing_shared_data(relative)

// A small synthetic CT (128 x 128 x 32, 1.5 mm, int16 HU with noise, about 0.5 MB as .nii.gz; the same bytes each
// run), written once per process into a temporary folder when first asked for: for tests that need some valid
// image file, not a real CT.
std::string synthetic_ct_file();

// A fresh temporary folder, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Number of regular files under the folder (recursively).
  int count_files() const;

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs the built `pulmo` executable with `args` (a shell-quoted string).
RunResult run_pulmo(const std::string& args);

// Starts `pulmo ARGS...` in the background (stdout and stderr appended to `log`, or to /dev/null when it is "") and
// returns its pid; exit_status waits for it and returns its exit code (128 + the signal when a signal ended it).
pid_t spawn_pulmo(const std::vector<std::string>& args, const std::string& log = "");
int exit_status(pid_t pid);

// Runs `pulmo ARGS` and checks that it exits with `code`, that stderr holds `message_part` (after
// "pulmo: error: " when `pulmo_message`; CLI11 prints parse errors its own way), and that `out` - the
// output file or folder the command was asked to write, absent before - does not exist afterwards:
// no output, no temporary file, no folder the command created. Returns the run for further checks.
RunResult expect_refused_command(const std::string& args, int code, const std::string& message_part,
                                 const std::string& out, bool pulmo_message = true);

// Writes `bytes` to `path` as they are - no format check (write_text_atomic refuses a .png that is not one):
// for corrupt and lying fixtures.
void write_raw_file(const std::string& path, const std::string& bytes);

// Files whose name holds ".tmp-" (pulmo's temporary files) under `folder`, recursively.
int count_temporary_files(const std::filesystem::path& folder);

}  // namespace pulmo::test
