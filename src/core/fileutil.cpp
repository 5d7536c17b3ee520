#include "pulmo/fileutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/tempfile.h"
#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

// ---- the registry of live temporary files --------------------------------------------------------------
// Fixed slots, no allocation, so that the signal handler can read it: state 0 free, 1 being changed,
// 2 live (path valid).
constexpr int kSlots = 128;
constexpr size_t kPathBytes = 4096;
struct Slot {
  std::atomic<int> state{0};
  char path[kPathBytes];
};
Slot g_slots[kSlots];

void register_live(const std::string& path) {
  if (path.size() + 1 > kPathBytes) return;
  for (Slot& s : g_slots) {
    int expected = 0;
    if (s.state.compare_exchange_strong(expected, 1)) {
      std::memcpy(s.path, path.c_str(), path.size() + 1);
      s.state.store(2);
      return;
    }
  }
  // More than kSlots files written at once: this one is not removed on a signal (still never renamed).
}

void forget_live(const std::string& path) {
  for (Slot& s : g_slots) {
    int expected = 2;
    if (s.state.load() == 2 && std::strcmp(s.path, path.c_str()) == 0 && s.state.compare_exchange_strong(expected, 1)) {
      s.state.store(0);
      return;
    }
  }
}

// Folders written under a temporary name (report folders): removed whole on a signal.
constexpr int kFolderSlots = 16;
Slot g_folder_slots[kFolderSlots];

void register_in(Slot* slots, int n, const std::string& path) {
  if (path.size() + 1 > kPathBytes) return;
  for (int i = 0; i < n; ++i) {
    int expected = 0;
    if (slots[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(slots[i].path, path.c_str(), path.size() + 1);
      slots[i].state.store(2);
      return;
    }
  }
}

void forget_in(Slot* slots, int n, const std::string& path) {
  for (int i = 0; i < n; ++i) {
    int expected = 2;
    if (slots[i].state.load() == 2 && std::strcmp(slots[i].path, path.c_str()) == 0 &&
        slots[i].state.compare_exchange_strong(expected, 1)) {
      slots[i].state.store(0);
      return;
    }
  }
}

extern "C" void pulmo_on_signal(int sig) {
  for (Slot& s : g_slots)
    if (s.state.load() == 2) ::unlink(s.path);
  // fork, execve and waitpid are async-signal-safe: rm -rf removes a folder tree without allocating here.
  for (Slot& s : g_folder_slots)
    if (s.state.load() == 2) {
      const pid_t child = ::fork();
      if (child == 0) {
        char rm[] = "rm", rf[] = "-rf", dashes[] = "--";
        char* argv[] = {rm, rf, dashes, s.path, nullptr};
        char* envp[] = {nullptr};
        ::execve("/bin/rm", argv, envp);
        ::_exit(127);
      }
      if (child > 0) ::waitpid(child, nullptr, 0);
    }
  if (sig == SIGABRT) {  // a library assertion or std::terminate: clean up, then abort as before
    const char* msg = "pulmo: internal error: aborted (a library assertion?); partial outputs removed\n";
    ssize_t ignored = ::write(2, msg, std::strlen(msg));
    (void)ignored;
    ::signal(SIGABRT, SIG_DFL);
    ::raise(SIGABRT);
    return;
  }
  const char* msg = sig == SIGINT ? "pulmo: interrupted (SIGINT); partial outputs removed\n"
                                  : "pulmo: terminated (SIGTERM); partial outputs removed\n";
  ssize_t ignored = ::write(2, msg, std::strlen(msg));
  (void)ignored;
  ::_exit(128 + sig);
}

// ---- temporary names ---------------------------------------------------------------------------------
constexpr size_t kNameMax = 255;

std::string hex64(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

// FNV-1a: a stable short name for an output whose own name is too long to carry.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// ".NAME.tmp-" or, when that would make the temporary name too long, ".pulmo-HASH.tmp-".
std::string temporary_prefix(const std::string& filename, size_t suffix_bytes) {
  const std::string plain = "." + filename + ".tmp-";
  if (plain.size() + 24 + suffix_bytes <= kNameMax) return plain;  // 24: "PID-N" with room to spare
  return ".pulmo-" + hex64(fnv1a(filename)) + ".tmp-";
}

bool process_alive(long pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) == 0) return true;
  return errno != ESRCH;
}

// Temporary files of pulmo's scheme in `folder`, listed once per folder and process (so that writing
// thousands of files into one folder does not list it thousands of times).
std::mutex g_stale_mutex;
std::map<std::string, std::vector<std::string>> g_stale_by_folder;

void remove_stale_temporaries(const fs::path& folder, const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_stale_mutex);
  const std::string key = folder.string();
  auto it = g_stale_by_folder.find(key);
  if (it == g_stale_by_folder.end()) {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto d = fs::directory_iterator(folder, ec); !ec && d != fs::directory_iterator(); d.increment(ec)) {
      const std::string n = d->path().filename().string();
      if (n.size() > 1 && n[0] == '.' && n.find(".tmp-") != std::string::npos) names.push_back(n);
    }
    it = g_stale_by_folder.emplace(key, std::move(names)).first;
  }
  std::vector<std::string>& names = it->second;
  for (auto n = names.begin(); n != names.end();) {
    if (n->compare(0, prefix.size(), prefix) != 0) {
      ++n;
      continue;
    }
    // PID: the digits after the prefix, up to '-'.
    const std::string rest = n->substr(prefix.size());
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (end == rest.c_str() || *end != '-' || pid == ::getpid() || process_alive(pid)) {
      ++n;
      continue;
    }
    std::error_code ec;
    fs::remove(folder / *n, ec);
    n = names.erase(n);
  }
}

// Folders a write created (deepest, topmost), by temporary path: a failed write removes them again.
std::mutex g_created_mutex;
std::map<std::string, std::pair<fs::path, fs::path>> g_created;

// Removes `deepest` and its parents up to `topmost` while they are empty (another write may use them).
void remove_created_folders(const fs::path& deepest, const fs::path& topmost) {
  if (topmost.empty()) return;
  std::error_code ec;
  for (fs::path p = deepest; !p.empty(); p = p.parent_path()) {
    if (!fs::remove(p, ec) || ec) return;  // not empty (or gone): stop
    if (p == topmost) return;
  }
}

[[noreturn]] void fail(const std::string& temporary, const std::string& path, const std::string& why) {
  discard_temporary(temporary);
  throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + why);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The last `n` bytes of a file ("" when shorter).
std::string tail_bytes(const std::string& path, uint64_t size, size_t n) {
  if (size < n) return "";
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(size - n));
  std::string out(n, '\0');
  in.read(&out[0], static_cast<std::streamsize>(n));
  return in ? out : "";
}

}  // namespace

GzipCheck check_gzip_file(const std::string& path) {
  GzipCheck r;
  {
    std::ifstream in(path, std::ios::binary);
    unsigned char magic[2] = {0, 0};
    in.read(reinterpret_cast<char*>(magic), 2);
    r.is_gzip = in && magic[0] == 0x1f && magic[1] == 0x8b;
  }
  if (!r.is_gzip) {
    r.problem = "not a gzip stream";
    return r;
  }
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) {
    r.problem = "cannot open";
    return r;
  }
  gzbuffer(gz, 1 << 17);
  std::vector<char> buf(1 << 20);
  int n;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0) r.content_bytes += static_cast<uint64_t>(n);
  int errnum = Z_OK;
  const char* msg = gzerror(gz, &errnum);
  if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
    r.problem = msg && *msg ? msg : "corrupt compressed data";
  } else {
    r.ok = true;
  }
  gzclose(gz);  // a stream cut short reads as "unexpected end of file"; a bad CRC as "incorrect data check"
  return r;
}

std::string temporary_path_for(const std::string& path, const std::string& suffix) {
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  // The topmost folder this write creates: removed again (when empty) if the write fails.
  fs::path created;
  for (fs::path p = folder; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    created = p;
    if (p == p.parent_path()) break;
  }
  fs::create_directories(folder, ec);
  if (!fs::is_directory(folder, ec)) {
    remove_created_folders(folder, created);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': folder '" + folder.string() + "' cannot be created");
  }
  const std::string ext = suffix.empty() ? target.extension().string() : suffix;
  const std::string prefix = temporary_prefix(target.filename().string(), ext.size());
  remove_stale_temporaries(folder, prefix);
  static std::atomic<int> counter{0};
  const std::string tmp =
      (folder / (prefix + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ext)).string();
  register_live(fs::absolute(tmp, ec).string());
  if (!created.empty()) {
    std::lock_guard<std::mutex> lock(g_created_mutex);
    g_created[tmp] = {folder, created};
  }
  return tmp;
}

void discard_temporary(const std::string& temporary) noexcept {
  std::error_code ec;
  fs::remove(temporary, ec);
  try {
    forget_live(fs::absolute(temporary, ec).string());
    std::pair<fs::path, fs::path> folders;
    {
      std::lock_guard<std::mutex> lock(g_created_mutex);
      auto it = g_created.find(temporary);
      if (it == g_created.end()) return;
      folders = it->second;
      g_created.erase(it);
    }
    remove_created_folders(folders.first, folders.second);
  } catch (...) {
  }
}

void commit_temporary(const std::string& temporary, const std::string& path, int64_t expected_bytes,
                      int64_t expected_gzip_content_bytes) {
  struct stat st {};
  if (::stat(temporary.c_str(), &st) != 0) fail(temporary, path, "the written file vanished");
  if (!S_ISREG(st.st_mode)) fail(temporary, path, "the written file is not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size == 0) fail(temporary, path, "nothing was written (disk full?)");
  if (expected_bytes >= 0 && size != static_cast<uint64_t>(expected_bytes))
    fail(temporary, path, "only " + std::to_string(size) + " of " + std::to_string(expected_bytes) +
                              " bytes were written (disk full?)");
  {
    const int fd = ::open(temporary.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(temporary, path, std::string("cannot reopen the written file: ") + std::strerror(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0 && err != EINVAL && err != EROFS)
      fail(temporary, path, std::string("the data did not reach the disk: ") + std::strerror(err));
  }
  const std::string lpath = lower(path);
  if (ends_with(lpath, ".gz")) {
    const GzipCheck g = check_gzip_file(temporary);
    if (!g.ok) fail(temporary, path, "the compressed file is incomplete (" + g.problem + "; disk full?)");
    if (expected_gzip_content_bytes >= 0 && g.content_bytes != static_cast<uint64_t>(expected_gzip_content_bytes))
      fail(temporary, path, "the compressed file holds " + std::to_string(g.content_bytes) + " of " +
                                std::to_string(expected_gzip_content_bytes) + " bytes (disk full?)");
  } else if (ends_with(lpath, ".png")) {
    static const std::string iend("\0\0\0\0IEND\xae\x42\x60\x82", 12);
    if (tail_bytes(temporary, size, 12) != iend) fail(temporary, path, "the PNG file is incomplete (disk full?)");
  } else if (ends_with(lpath, ".pt")) {
    // A zip archive without a comment ends with its 22-byte end-of-central-directory record.
    const std::string end = tail_bytes(temporary, size, 22);
    if (end.size() != 22 || end.compare(0, 4, "PK\x05\x06") != 0)
      fail(temporary, path, "the archive is incomplete (disk full?)");
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) fail(temporary, path, ec.message());
  forget_live(fs::absolute(temporary, ec).string());
  std::lock_guard<std::mutex> lock(g_created_mutex);
  g_created.erase(temporary);
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = temporary_path_for(path);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(tmp, path, std::string(std::strerror(errno)));
  const size_t wrote = text.empty() ? 0 : std::fwrite(text.data(), 1, text.size(), f);
  const int err_write = errno;
  const bool flushed = std::fflush(f) == 0;
  const int err_flush = errno;
  const bool closed = std::fclose(f) == 0;
  const int err_close = errno;
  if (wrote != text.size() || !flushed || !closed)
    fail(tmp, path, std::string(std::strerror(wrote != text.size() ? err_write : !flushed ? err_flush : err_close)) +
                        " (disk full or no permission?)");
  if (text.empty()) {  // an empty text is a legitimate output: skip the non-empty check
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) fail(tmp, path, ec.message());
    forget_live(fs::absolute(tmp, ec).string());
    std::lock_guard<std::mutex> lock(g_created_mutex);
    g_created.erase(tmp);
    return;
  }
  commit_temporary(tmp, path, static_cast<int64_t>(text.size()));
}

void register_temporary_folder(const std::string& path) { register_in(g_folder_slots, kFolderSlots, path); }
void forget_temporary_folder(const std::string& path) { forget_in(g_folder_slots, kFolderSlots, path); }

std::vector<std::string> remove_stale_temporary_folders(const std::string& parent, const std::string& prefix,
                                                        const std::string& suffix, const std::string& marker) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (auto d = fs::directory_iterator(parent, ec); !ec && d != fs::directory_iterator(); d.increment(ec)) {
    const std::string n = d->path().filename().string();
    if (n.size() <= prefix.size() + suffix.size() || n.compare(0, prefix.size(), prefix) != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string digits = n.substr(prefix.size(), n.size() - prefix.size() - suffix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(digits.c_str(), nullptr, 10);
    std::error_code e2;
    if (pid <= 0 || pid == ::getpid() || process_alive(pid) || fs::is_symlink(d->path(), e2) ||
        !fs::is_directory(d->path(), e2))
      continue;
    if (!marker.empty() && !fs::is_regular_file(d->path() / marker, e2) && !fs::is_empty(d->path(), e2)) continue;
    fs::remove_all(d->path(), e2);
    if (!e2) removed.push_back(d->path().string());
  }
  return removed;
}

void install_signal_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = pulmo_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGABRT, &sa, nullptr);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ExitCode::NotFound, "cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_stdout_written() {
  std::cout.flush();
  const bool ok_stream = static_cast<bool>(std::cout);
  const bool ok_c = std::fflush(stdout) == 0 && !std::ferror(stdout);
  if (!ok_stream || !ok_c)
    throw Error(ExitCode::WriteFailed, "cannot write to standard output (disk full or closed pipe?)");
}

}  // namespace pulmo
