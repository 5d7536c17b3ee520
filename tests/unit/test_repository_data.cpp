// The repository holds no copy of the shared real data (../shared/data/README.md, first paragraph): no tracked
// file is byte-identical to a file under the shared data folder. Sizes first, then the bytes of equal-sized pairs.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `git ls-files -z` of the checkout; false when git or the repository is not there (a source tarball).
bool tracked_files(std::vector<std::string>* files) {
  const std::string cmd = "git -C '" + std::string(PULMO_SOURCE_DIR) + "' ls-files -z 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return false;
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (::pclose(p) != 0) return false;
  for (size_t at = 0; at < out.size();) {
    const size_t end = out.find('\0', at);
    files->push_back(out.substr(at, end - at));
    at = end == std::string::npos ? out.size() : end + 1;
  }
  return !files->empty();
}

}  // namespace

TEST(RepositoryData, NoTrackedFileIsACopyOfASharedDataFile) {
  const std::string shared = pulmo::test::shared_data_path("");
  if (shared.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data("");
  std::vector<std::string> tracked;
  if (!tracked_files(&tracked)) GTEST_SKIP() << "skipped: " << PULMO_SOURCE_DIR << " is not a git checkout (git ls-files failed)";

  // Every non-empty shared file by size.
  std::multimap<uintmax_t, fs::path> by_size;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(shared, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && it->file_size(ec) > 0) by_size.emplace(it->file_size(ec), it->path());
  ASSERT_FALSE(by_size.empty()) << shared << " holds no file";

  int compared = 0;
  for (const std::string& name : tracked) {
    const fs::path p = fs::path(PULMO_SOURCE_DIR) / name;
    if (!fs::is_regular_file(p, ec)) continue;  // deleted in the working tree, or a submodule
    const auto range = by_size.equal_range(fs::file_size(p, ec));
    if (range.first == range.second) continue;
    const std::string bytes = slurp(p);
    for (auto it = range.first; it != range.second; ++it) {
      ++compared;
      EXPECT_NE(bytes, slurp(it->second)) << name << " is a copy of " << it->second.string()
                                          << ": refer to the shared data by path instead of committing it";
    }
  }
  std::cout << tracked.size() << " tracked files, " << by_size.size() << " shared files, " << compared
            << " equal-sized pairs compared\n";
}
