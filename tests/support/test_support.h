// Helpers shared by the tests: fixture paths, temporary folders, running the CLI.
#pragma once

#include <filesystem>
#include <string>

namespace pulmo::test {

// data/ of the repository (small real fixtures, always present).
std::string data_path(const std::string& relative);
// ../shared/data (larger real data): "" when absent - tests then GTEST_SKIP with a message.
std::string shared_data_path(const std::string& relative);

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

}  // namespace pulmo::test
