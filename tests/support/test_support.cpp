#include "support/test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace fs = std::filesystem;

namespace pulmo::test {

std::string data_path(const std::string& relative) { return (fs::path(PULMO_DATA_DIR) / relative).string(); }

std::string shared_data_path(const std::string& relative) {
  const fs::path p = fs::path(PULMO_SHARED_DATA_DIR) / relative;
  return fs::exists(p) ? p.string() : std::string();
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("pulmo-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

int TempDir::count_files() const {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(path_))
    if (e.is_regular_file()) ++n;
  return n;
}

RunResult run_pulmo(const std::string& args) {
  TempDir tmp;
  const std::string out = tmp.file("stdout"), err = tmp.file("stderr");
  const std::string cmd = std::string("'") + PULMO_EXECUTABLE + "' " + args + " >'" + out + "' 2>'" + err + "' </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

pid_t spawn_pulmo(const std::vector<std::string>& args) {
  std::vector<std::string> all = {PULMO_EXECUTABLE};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, PULMO_EXECUTABLE, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int exit_status(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

RunResult expect_refused_command(const std::string& args, int code, const std::string& message_part,
                                 const std::string& out, bool pulmo_message) {
  const RunResult r = run_pulmo(args);
  EXPECT_EQ(r.exit_code, code) << "pulmo " << args << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(message_part), std::string::npos) << "expected '" << message_part << "' in stderr: " << r.err;
  if (pulmo_message) EXPECT_NE(r.err.find("pulmo: error: "), std::string::npos) << "stderr: " << r.err;
  std::error_code ec;
  EXPECT_FALSE(fs::exists(out, ec)) << "'" << out << "' was left behind";
  if (fs::is_directory(out, ec)) EXPECT_EQ(count_temporary_files(out), 0) << "a temporary file was left in " << out;
  return r;
}

void write_raw_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
  f.close();
  if (!f) throw std::runtime_error("test: cannot write '" + path + "'");
}

int count_temporary_files(const std::filesystem::path& folder) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->path().filename().string().find(".tmp-") != std::string::npos) ++n;
  return n;
}

}  // namespace pulmo::test
