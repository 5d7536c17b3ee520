#include "pulmo/fileutil.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo {

void write_text_atomic(const std::string& path, const std::string& text) {
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (!fs::is_directory(folder, ec))
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': folder '" + folder.string() + "' cannot be created");
  static std::atomic<int> counter{0};
  const fs::path tmp =
      folder / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      throw Error(ExitCode::WriteFailed, "cannot write '" + path + "' (disk full or no permission?)");
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': rename failed");
  }
}

std::string temporary_path_for(const std::string& path) {
  static std::atomic<int> counter{0};
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  return (folder / ("." + target.stem().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + target.extension().string()))
      .string();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ExitCode::NotFound, "cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace pulmo
