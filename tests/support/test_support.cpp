#include "support/test_support.h"

#include <ATen/ATen.h>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include "pulmo/io.h"
#include "pulmo/volume.h"

extern char** environ;

namespace fs = std::filesystem;

namespace pulmo::test {

std::string shared_data_dir() {
  const char* env = std::getenv("PULMO_DATA");
  return (env && *env) ? std::string(env) : fs::path(PULMO_SHARED_DATA_DIR).lexically_normal().string();
}

std::string shared_data_path(const std::string& relative) {
  const fs::path p = fs::path(shared_data_dir()) / relative;
  std::error_code ec;
  return fs::exists(p, ec) ? p.string() : std::string();
}

std::string missing_shared_data(const std::string& relative) {
  // The first folder along the path that does not exist.
  fs::path p = shared_data_dir();
  std::error_code ec;
  if (fs::exists(p, ec))
    for (const auto& part : fs::path(relative)) {
      p /= part;
      if (!fs::exists(p, ec)) break;
    }
  return "skipped: '" + p.string() + "' is missing (the shared real data, needed for '" + relative +
         "'; put it at ../shared/data beside the checkout or set PULMO_DATA)";
}

std::string synthetic_ct_file() {
  static const TempDir dir;
  static const std::string path = [] {
    Geometry g;
    g.size = {128, 128, 32};
    g.spacing_mm = {1.5, 1.5, 1.5};
    std::vector<int16_t> v(size_t(128) * 128 * 32);
    std::mt19937 rng(12345);
    std::normal_distribution<double> noise(0.0, 20.0);
    size_t i = 0;
    for (int z = 0; z < 32; ++z)
      for (int y = 0; y < 128; ++y)
        for (int x = 0; x < 128; ++x, ++i) {
          const double bx = (x - 63.5) / 57.0, by = (y - 63.5) / 44.0;                  // the body
          const double lx = (std::abs(x - 63.5) - 27.0) / 19.0, ly = (y - 63.5) / 31.0;  // two lungs
          const double hu = bx * bx + by * by > 1 ? -1000 : (lx * lx + ly * ly < 1 ? -850 : 40);
          v[i] = static_cast<int16_t>(std::lround(hu + noise(rng)));
        }
    Volume ct = Volume::filled(g, 0.0, at::kShort);
    ct.voxels.copy_(at::from_blob(v.data(), {32, 128, 128}, at::kShort));
    const std::string p = dir.file("synthetic_ct.nii.gz");
    write_volume(ct, p);
    return p;
  }();
  return path;
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

pid_t spawn_pulmo(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {PULMO_EXECUTABLE};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (log.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
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
