#include "pulmo/fileutil.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo {

std::string temporary_path_for(const std::string& path, const std::string& suffix) {
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (!fs::is_directory(folder, ec))
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': folder '" + folder.string() + "' cannot be created");
  static std::atomic<int> counter{0};
  return (folder / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + (suffix.empty() ? target.extension().string() : suffix)))
      .string();
}

void commit_temporary(const std::string& temporary, const std::string& path) {
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + ec.message());
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = temporary_path_for(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(ExitCode::WriteFailed, "cannot write '" + path + "' (disk full or no permission?)");
    }
  }
  commit_temporary(tmp, path);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ExitCode::NotFound, "cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace pulmo
