// A real Orthanc (Debian orthanc) with its DICOMweb plugin (orthanc-dicomweb), started by a test on a free loopback
// port with a temporary storage folder and configuration, basic authentication (kOrthancUser / kOrthancPassword);
// stopped (SIGTERM, then SIGKILL after 20 s) and its folder removed when the object dies, whatever the outcome.
//
//   pulmo::test::OrthancServer pacs;                  // or OrthancServer pacs(1): StableAge 1 s (change feed tests)
//   PULMO_REQUIRE_ORTHANC(pacs);                      // skips when Orthanc is not installed, fails when it did not start
//   pacs.upload("slice.dcm");
//   auto series = pacs.get_json("/series");           // Orthanc's REST API
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pulmo/http.h"
#include "support/test_support.h"

namespace pulmo::test {

constexpr const char* kOrthancUser = "pulmo-test";
constexpr const char* kOrthancPassword = "pw-4711";

class OrthancServer {
 public:
  // `stable_age_s`: Orthanc's StableAge (seconds without a new instance before a series is stable; its default 60).
  explicit OrthancServer(int stable_age_s = 60);
  ~OrthancServer();
  OrthancServer(const OrthancServer&) = delete;
  OrthancServer& operator=(const OrthancServer&) = delete;

  // Stops Orthanc (its storage kept); start() starts it again on the same port with the same storage.
  void stop();
  void start();

  const std::string& missing() const { return missing_; }  // why it cannot run here ("" when it can)
  const std::string& failed() const { return failed_; }    // why it did not start ("" when it did)
  int port() const { return port_; }
  std::string rest_root() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string dicomweb() const { return "dicomweb+" + rest_root() + "/dicom-web"; }
  // A request to Orthanc's REST API (`path` from its root) with the test credentials.
  http::Request request(const std::string& path) const;
  nlohmann::json get_json(const std::string& path) const;
  void upload(const std::string& file) const;
  // Every DICOM file of `folder` (a Part 10 file: "DICM" after its preamble) uploaded; returns how many.
  int upload_folder(const std::string& folder) const;
  // Orthanc's ID of the series with this SeriesInstanceUID ("" when it has none).
  std::string series_id(const std::string& series_uid) const;
  // DELETE path (e.g. /series/ID); returns the HTTP status.
  long remove(const std::string& path) const;
  // The instances Orthanc holds whose Modality is `modality`, as files in `folder`.
  std::vector<std::string> download_modality(const std::string& modality, const std::string& folder) const;
  // A credentials file for the server (mode 600) in `dir`.
  static std::string credentials_file(const TempDir& dir);

 private:
  TempDir dir_;
  std::string binary_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string missing_, failed_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_loopback_port();

#define PULMO_REQUIRE_ORTHANC(server)                                  \
  if (!(server).missing().empty()) GTEST_SKIP() << (server).missing(); \
  ASSERT_TRUE((server).failed().empty()) << (server).failed()

}  // namespace pulmo::test
