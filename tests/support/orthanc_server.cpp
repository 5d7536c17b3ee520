// OrthancServer of orthanc_server.h.
#include "support/orthanc_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo::test {
namespace {

std::string find_first(const std::vector<std::string>& candidates) {
  for (const std::string& c : candidates)
    if (fs::exists(c)) return c;
  return "";
}

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

OrthancServer::OrthancServer(int stable_age_s) {
  binary_ = find_first({"/usr/sbin/Orthanc", "/usr/bin/Orthanc", "/usr/local/bin/Orthanc"});
  const std::string plugin = find_first({"/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                                         "/usr/lib/orthanc/libOrthancDicomWeb.so"});
  if (binary_.empty() || plugin.empty()) {
    missing_ = "Orthanc or its DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb: "
               "scripts/install-deps.sh)";
    return;
  }
  port_ = free_loopback_port();
  nlohmann::json config = {
      {"Name", "pulmo-test"},
      {"StorageDirectory", (dir_.path() / "db").string()},
      {"IndexDirectory", (dir_.path() / "db").string()},
      {"HttpPort", port_},
      {"DicomServerEnabled", false},
      {"RemoteAccessAllowed", false},
      {"AuthenticationEnabled", true},
      {"RegisteredUsers", {{kOrthancUser, kOrthancPassword}}},
      {"HttpCompressionEnabled", false},
      {"StableAge", stable_age_s},
      {"Plugins", {plugin}},
      {"DicomWeb", {{"Enable", true}, {"Root", "/dicom-web/"}, {"StudiesMetadata", "Full"}}},
  };
  std::ofstream(dir_.file("orthanc.json")) << config.dump(2);
  start();
}

OrthancServer::~OrthancServer() { stop(); }

void OrthancServer::start() {
  if (!missing_.empty() || pid_ > 0) return;
  failed_.clear();
  const std::string log = dir_.file("orthanc.log");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    if (!std::freopen(log.c_str(), "a", stdout) || !std::freopen(log.c_str(), "a", stderr)) ::_exit(126);
    ::execl(binary_.c_str(), binary_.c_str(), dir_.file("orthanc.json").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Ready when /system answers (Orthanc creates its database first).
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    try {
      if (http::perform(request("/system")).status == 200) return;
    } catch (const pulmo::Error&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  failed_ = "Orthanc did not start on port " + std::to_string(port_) + "; its log:\n" + text.str();
}

void OrthancServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(20)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pid_ = -1;
}

http::Request OrthancServer::request(const std::string& path) const {
  http::Request r;
  r.url = rest_root() + path;
  r.credentials.user = kOrthancUser;
  r.credentials.password = kOrthancPassword;
  r.connect_timeout_s = 5;
  return r;
}

nlohmann::json OrthancServer::get_json(const std::string& path) const {
  const http::Request r = request(path);
  const http::Response a = http::perform(r);
  http::check_status(a, r, "Orthanc REST");
  return nlohmann::json::parse(a.body);
}

void OrthancServer::upload(const std::string& file) const {
  http::Request r = request("/instances");
  r.method = "POST";
  r.body_file = file;
  r.headers = {"Content-Type: application/dicom"};
  http::check_status(http::perform(r), r, "uploading " + file);
}

int OrthancServer::upload_folder(const std::string& folder) const {
  int n = 0;
  for (const auto& e : fs::directory_iterator(folder)) {
    char head[132] = {};
    std::ifstream in(e.path(), std::ios::binary);
    if (e.is_regular_file() && in.read(head, sizeof head) && std::string(head + 128, 4) == "DICM") upload(e.path().string()), ++n;
  }
  return n;
}

std::string OrthancServer::series_id(const std::string& series_uid) const {
  http::Request r = request("/tools/lookup");
  r.method = "POST";
  r.body = series_uid;
  const http::Response a = http::perform(r);
  http::check_status(a, r, "looking up " + series_uid);
  for (const auto& hit : nlohmann::json::parse(a.body))
    if (hit.value("Type", "") == "Series") return hit.value("ID", "");
  return "";
}

long OrthancServer::remove(const std::string& path) const {
  http::Request r = request(path);
  r.method = "DELETE";
  return http::perform(r).status;
}

std::vector<std::string> OrthancServer::download_modality(const std::string& modality, const std::string& folder) const {
  http::Request r = request("/tools/find");
  r.method = "POST";
  r.body = nlohmann::json{{"Level", "Instance"}, {"Query", {{"Modality", modality}}}}.dump();
  const http::Response a = http::perform(r);
  http::check_status(a, r, "finding instances");
  std::vector<std::string> files;
  for (const auto& id : nlohmann::json::parse(a.body)) {
    const std::string file = (fs::path(folder) / (id.get<std::string>() + ".dcm")).string();
    const http::Response f = http::perform_to_file(request("/instances/" + id.get<std::string>() + "/file"), file);
    EXPECT_EQ(f.status, 200);
    files.push_back(file);
  }
  return files;
}

std::string OrthancServer::credentials_file(const TempDir& dir) {
  const std::string path = dir.file("pacs.cred");
  std::ofstream(path) << "# test Orthanc\nuser=" << kOrthancUser << "\npassword=" << kOrthancPassword << "\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

}  // namespace pulmo::test
