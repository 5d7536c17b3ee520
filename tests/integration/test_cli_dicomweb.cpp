// pulmo quantify over DICOMweb against a real Orthanc with its DICOMweb plugin (Debian orthanc, orthanc-dicomweb),
// started here on a free loopback port with a temporary storage folder and configuration, stopped and removed
// whatever the outcome. A real CT series is uploaded (Orthanc's own REST API), quantified from the server with
// --store, and the DICOM-SEG Orthanc then holds (fetched through Orthanc's REST API, not pulmo's client) is compared
// voxel for voxel with the local run's label map and segmentation.dcm. Then what a hostile user meets: the server
// down, an unknown series, a series that is not CT, refused credentials, credentials in the address.
#include <ATen/ATen.h>
#include <gdcmReader.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "pulmo/dicom_sr.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/http.h"
#include "pulmo/io.h"
#include "support/orthanc_server.h"
#include "support/synthetic_dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::expect_refused_command;
using pulmo::test::run_pulmo;
using pulmo::test::shared_data_path;
using pulmo::test::OrthancServer;
using pulmo::test::TempDir;
namespace http = pulmo::http;

namespace {

constexpr const char* kSeries = "ct/lung-pet-ct-dx/A0002_series3";  // 30 slices of a real chest CT
constexpr const char* kUser = pulmo::test::kOrthancUser;
constexpr const char* kPassword = pulmo::test::kOrthancPassword;

std::string q(const std::string& s) { return "'" + s + "'"; }

std::string credentials_file(const TempDir& t) { return OrthancServer::credentials_file(t); }

// A lung mask the test makes itself on the CT's grid (air below -400 HU in the central half of each axial slice,
// right lung = the half at lower x): quantify then runs in seconds, and the round trip is what is tested.
void write_test_lung_mask(const std::string& ct_folder, const std::string& path) {
  const pulmo::Volume ct = pulmo::read_volume(ct_folder);
  const int64_t nz = ct.geometry.size[2], ny = ct.geometry.size[1], nx = ct.geometry.size[0];
  at::Tensor m = at::zeros({nz, ny, nx}, at::kByte);
  at::Tensor air = ct.voxels.lt(-400).to(at::kByte);
  using at::indexing::Slice;
  m.index_put_({Slice(), Slice(ny / 4, 3 * ny / 4), Slice(nx / 4, nx / 2)},
               air.index({Slice(), Slice(ny / 4, 3 * ny / 4), Slice(nx / 4, nx / 2)}));
  m.index_put_({Slice(), Slice(ny / 4, 3 * ny / 4), Slice(nx / 2, 3 * nx / 4)},
               air.index({Slice(), Slice(ny / 4, 3 * ny / 4), Slice(nx / 2, 3 * nx / 4)}) * 2);
  pulmo::write_volume(ct.with_voxels(m), path);
}

std::string sop_instance_of(const std::string& file) {
  gdcm::Reader r;
  r.SetFileName(file.c_str());
  if (!r.Read()) return "";
  const gdcm::DataElement& e = r.GetFile().GetDataSet().GetDataElement(gdcm::Tag(0x0008, 0x0018));
  if (e.IsEmpty() || !e.GetByteValue()) return "";
  std::string v(e.GetByteValue()->GetPointer(), e.GetByteValue()->GetLength());
  while (!v.empty() && (v.back() == '\0' || v.back() == ' ')) v.pop_back();
  return v;
}

struct Uids {
  std::string study, series;
};
Uids uids_of(const std::string& folder) {
  const auto series = pulmo::list_dicom_series(folder);
  EXPECT_EQ(series.size(), 1u);
  return {series.at(0).study_uid, series.at(0).series_uid};
}

// report.json without what names the input, the time or the run: the numbers and the method.
nlohmann::json numbers_of(const std::string& report_json) {
  nlohmann::json j = nlohmann::json::parse(pulmo::read_text_file(report_json));
  for (const char* key : {"case_id", "created_utc", "input", "timings", "warnings"}) j.erase(key);
  return j;
}

}  // namespace

TEST(CliDicomweb, QuantifiesASeriesFromOrthancStoresItsSegmentationAndOrthancHoldsTheSameVoxels) {
  PULMO_REQUIRE_SHARED_DATA(kSeries);
  OrthancServer pacs;
  PULMO_REQUIRE_ORTHANC(pacs);
  const std::string folder = shared_data_path(kSeries);
  TempDir t;
  int uploaded = 0;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().extension() == ".dcm") pacs.upload(e.path().string()), ++uploaded;
  ASSERT_EQ(uploaded, 30);
  const Uids id = uids_of(folder);
  write_test_lung_mask(folder, t.file("mask.nii.gz"));
  const std::string common = " --lung-mask " + q(t.file("mask.nii.gz")) + " --no-lesions --no-html";

  // The same series quantified from the folder and from Orthanc, the second stored back (STOW-RS).
  const auto local = run_pulmo("quantify " + q(folder) + " --out " + q(t.file("local")) + common);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const auto remote = run_pulmo("quantify " + q(pacs.dicomweb()) + " --study " + id.study + " --series " + id.series +
                                " --credentials " + q(credentials_file(t)) + " --out " + q(t.file("remote")) + " --store" + common);
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  EXPECT_NE(remote.err.find("fetched 30 instances"), std::string::npos) << remote.err;
  EXPECT_NE(remote.out.find("stored: " + t.file("remote/segmentation.dcm")), std::string::npos) << remote.out;
  EXPECT_NE(remote.out.find("stored: " + t.file("remote/measurements.dcm")), std::string::npos) << remote.out;
  EXPECT_EQ(remote.err.find(kPassword), std::string::npos) << remote.err;
  // The fetched copy of the series is gone: only the report folders remain beside them.
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(t.path())) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"local", "mask.nii.gz", "pacs.cred", "remote"}));

  // The numbers are the local ones; the report names the server, the study and the series.
  EXPECT_EQ(numbers_of(t.file("remote/report.json")), numbers_of(t.file("local/report.json")));
  const auto report = nlohmann::json::parse(pulmo::read_text_file(t.file("remote/report.json")));
  EXPECT_NE(report.dump().find("/studies/" + id.study + "/series/" + id.series), std::string::npos);
  EXPECT_EQ(report["case_id"], id.series);

  // Orthanc now holds one SEG instance: fetched through its REST API, it is voxel for voxel the local result.
  fs::create_directories(t.file("from-orthanc"));
  const std::vector<std::string> segs = pacs.download_modality("SEG", t.file("from-orthanc"));
  ASSERT_EQ(segs.size(), 1u);
  const pulmo::Volume ct = pulmo::read_volume(folder);
  const pulmo::Volume lungs = pulmo::read_volume(t.file("local/lungs.nii.gz"));
  const auto stored = pulmo::read_dicom_seg(segs[0], ct.geometry);
  const auto written = pulmo::read_dicom_seg(t.file("local/segmentation.dcm"), ct.geometry);
  ASSERT_EQ(stored.size(), 2u);
  ASSERT_EQ(written.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    const int label = k == 0 ? 1 : 2;
    EXPECT_EQ(stored[k].label, k == 0 ? "Right lung" : "Left lung");
    const at::Tensor expected = lungs.voxels.eq(label).to(at::kByte);
    EXPECT_GT(expected.sum().item<int64_t>(), 1000) << stored[k].label;
    EXPECT_TRUE(stored[k].mask.voxels.equal(expected)) << stored[k].label << ": "
        << stored[k].mask.voxels.ne(expected).sum().item<int64_t>() << " voxels differ";
    EXPECT_TRUE(stored[k].mask.voxels.equal(written[k].mask.voxels)) << stored[k].label;
    EXPECT_EQ(stored[k].source_instances, written[k].source_instances) << stored[k].label;
  }
  // The SEG stored is the remote run's segmentation.dcm, byte for byte.
  EXPECT_EQ(pulmo::read_text_file(segs[0]), pulmo::read_text_file(t.file("remote/segmentation.dcm")));
  // And one SR: the TID 1500 report of the remote run, its volumes those of report.json, about the stored SEG.
  fs::create_directories(t.file("sr-from-orthanc"));
  const std::vector<std::string> srs = pacs.download_modality("SR", t.file("sr-from-orthanc"));
  ASSERT_EQ(srs.size(), 1u);
  const auto groups = pulmo::read_measurement_report_sr(srs[0]);
  ASSERT_EQ(groups.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const double ml = report["regions"][k == 0 ? "right" : "left"]["lung_ml"].get<double>();
    EXPECT_EQ(groups[k].tracking_id, stored[k].label);
    EXPECT_EQ(groups[k].segment_number, stored[k].number);
    EXPECT_EQ(groups[k].referenced_sop_instance, sop_instance_of(segs[0]));
    ASSERT_FALSE(groups[k].measurements.empty());
    EXPECT_EQ(groups[k].measurements[0].concept, "Volume");
    EXPECT_NEAR(groups[k].measurements[0].value, ml, 1e-5 * ml);
  }
  // Still 30 CT instances on the server: nothing but the SEG and the SR was added.
  fs::create_directories(t.file("ct-after"));
  EXPECT_EQ(pacs.download_modality("CT", t.file("ct-after")).size(), 30u);
}

TEST(CliDicomweb, HostileServersAndSeriesHaveTheirExitCodesMessagesAndLeaveNothing) {
  for (const char* v : {"PULMO_DICOMWEB_CREDENTIALS", "PULMO_DICOMWEB_TOKEN", "PULMO_DICOMWEB_USER", "PULMO_DICOMWEB_PASSWORD"})
    ::unsetenv(v);
  OrthancServer pacs;
  PULMO_REQUIRE_ORTHANC(pacs);
  TempDir t;
  // A series that is not CT (a synthetic MR series), uploaded to the server.
  pulmo::test::write_synthetic_series(t.file("mr"), pulmo::test::axial_stack(4, 2.0));
  for (const auto& e : fs::directory_iterator(t.file("mr"))) pulmo::test::set_dicom_tag(e.path().string(), 0x0008, 0x0060, "MR");
  for (const auto& e : fs::directory_iterator(t.file("mr"))) pacs.upload(e.path().string());
  const Uids mr = uids_of(t.file("mr"));
  const std::string cred = " --credentials " + q(credentials_file(t));
  const std::string out = t.file("out");

  // Not CT: refused before anything is fetched.
  const auto mr_run = expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study " + mr.study + " --series " +
                                                 mr.series + cred + " --out " + q(out),
                                             8, "not CT: pulmo quantifies chest CT", out);
  EXPECT_NE(mr_run.err.find("is MR ('pulmo synthetic series')"), std::string::npos) << mr_run.err;
  // An unknown series, in a known and in an unknown study.
  expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study " + mr.study + " --series 1.2.3.4.5" + cred +
                             " --out " + q(out),
                         3, "has no such series", out);
  expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study 1.2.3.4 --series " + mr.series + cred +
                             " --out " + q(out),
                         3, "has no such series", out);
  // No credentials, and wrong ones (from the environment): the server's 401, with where the credentials came from.
  const auto none = expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study " + mr.study + " --series " +
                                               mr.series + " --out " + q(out),
                                           14, "HTTP 401", out);
  EXPECT_NE(none.err.find("no credentials were given"), std::string::npos) << none.err;
  ::setenv("PULMO_DICOMWEB_USER", kUser, 1);  // the child pulmo inherits the environment
  ::setenv("PULMO_DICOMWEB_PASSWORD", "wrong-secret", 1);
  const auto wrong = expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study " + mr.study + " --series " +
                                                mr.series + " --out " + q(out),
                                            14, "environment PULMO_DICOMWEB_USER / PULMO_DICOMWEB_PASSWORD were refused", out);
  ::unsetenv("PULMO_DICOMWEB_USER");
  ::unsetenv("PULMO_DICOMWEB_PASSWORD");
  EXPECT_EQ(wrong.err.find("wrong-secret"), std::string::npos) << wrong.err;
  // Credentials in the address are refused (a command line is visible to every user of the machine).
  const std::string with_user = "dicomweb+http://" + std::string(kUser) + ":" + kPassword + "@127.0.0.1:" +
                                std::to_string(pacs.port()) + "/dicom-web";
  const auto in_url = expect_refused_command("quantify " + q(with_user) + " --study " + mr.study + " --series " +
                                                 mr.series + " --out " + q(out),
                                             2, "credentials do not go in the address", out);
  EXPECT_EQ(in_url.err.find(kPassword), std::string::npos) << in_url.err;
  // Missing UIDs, a UID that is not one, --store without a DICOMweb input.
  expect_refused_command("quantify " + q(pacs.dicomweb()) + " --series " + mr.series + cred + " --out " + q(out), 2,
                         "needs --study and --series", out);
  expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study '1.2;rm' --series " + mr.series + cred +
                             " --out " + q(out),
                         2, "is not a DICOM UID", out);
  expect_refused_command("quantify " + q(t.file("mr")) + " --store --out " + q(out), 2, "is for a DICOMweb input", out);

  // The server down: a clear message naming the address, exit 14, nothing written.
  pacs.stop();
  const auto down = expect_refused_command("quantify " + q(pacs.dicomweb()) + " --study " + mr.study + " --series " +
                                               mr.series + cred + " --out " + q(out),
                                           14, "is the server running", out);
  EXPECT_NE(down.err.find("127.0.0.1:" + std::to_string(pacs.port())), std::string::npos) << down.err;
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(t.path())) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"mr", "pacs.cred"}));
}

// ---- WADO-RS answers that break in transit or lie, from a fake server (python3, no Orthanc needed) ----------------

namespace {

// A DICOMweb server in python3 (http.server) answering QIDO-RS with one CT series and WADO-RS with the broken
// answer its address names: http://127.0.0.1:PORT/CASE/dicom-web/... The WADO parts are the DICOM files in the
// folder given on its command line. It writes its port into `port_file` once it listens.
constexpr const char* kFakeServer = R"PY(
import http.server, os, socketserver, sys
folder, port_file = sys.argv[1], sys.argv[2]
parts = [open(os.path.join(folder, f), 'rb').read() for f in sorted(os.listdir(folder))]
B = b'pulmo-fake-7f3a'
def multipart(ps, boundary=B, close=True):
    body = b''.join(b'--' + boundary + b'\r\nContent-Type: application/dicom\r\n\r\n' + p + b'\r\n' for p in ps)
    return body + (b'--' + boundary + b'--\r\n' if close else b'')
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def send(self, body, ctype, length=None, cut=None):
        self.send_response(200)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body) if length is None else length))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True
    def do_GET(self):
        case = self.path.split('/')[1]
        if '/series?' in self.path:
            return self.send(b'[{"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}, "00080060": {"vr": "CS", "Value": ["CT"]}}]',
                             'application/dicom+json')
        rel = 'multipart/related; type="application/dicom"; boundary=' + B.decode()
        whole = multipart(parts)
        if case == 'truncated':        # the connection ends halfway through the promised body
            return self.send(whole, rel, cut=len(whole) // 2)
        if case == 'lying-length':     # Content-Length promises more than is sent
            return self.send(whole, rel, length=len(whole) + 100000)
        if case == 'short-length':     # Content-Length says less than the body: the client stops there
            return self.send(whole, rel, length=len(whole) - len(parts[-1]) // 2)
        if case == 'no-boundary':      # multipart/related without a boundary, a bare DICOM file as the body
            return self.send(parts[0], 'multipart/related; type="application/dicom"')
        if case == 'other-boundary':   # the body's boundary is not the one its Content-Type declares
            return self.send(multipart(parts, b'another-boundary'), rel)
        if case == 'no-closing':       # every part whole, the closing boundary missing
            return self.send(multipart(parts, close=False), rel)
        if case == 'not-dicom':        # a part that is an HTML page
            return self.send(multipart(parts[:1] + [b'<html><body>session expired</body></html>']), rel)
        self.send_error(404)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(('127.0.0.1', 0), H)
with open(port_file + '.tmp', 'w') as f: f.write(str(s.server_address[1]))
os.rename(port_file + '.tmp', port_file)
s.serve_forever()
)PY";

class FakeDicomwebServer {
 public:
  FakeDicomwebServer(const std::string& parts_folder, const TempDir& dir) {
    if (std::system("python3 -c 'import http.server' >/dev/null 2>&1") != 0) {
      missing_ = "python3 with http.server is not installed";
      return;
    }
    std::ofstream(dir.file("fake_server.py")) << kFakeServer;
    const std::string script = dir.file("fake_server.py"), port_file = dir.file("port");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("python3", "python3", script.c_str(), parts_folder.c_str(), port_file.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(port_file) >> port_;
    if (port_ <= 0) missing_ = "the fake DICOMweb server did not start";
  }
  ~FakeDicomwebServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  const std::string& missing() const { return missing_; }
  std::string address(const std::string& c) const {
    return "dicomweb+http://127.0.0.1:" + std::to_string(port_) + "/" + c + "/dicom-web";
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string missing_;
};

}  // namespace

TEST(CliDicomweb, BrokenOrLyingWadoRsAnswersAreNetworkFailuresThatLeaveNothing) {
  for (const char* v : {"PULMO_DICOMWEB_CREDENTIALS", "PULMO_DICOMWEB_TOKEN", "PULMO_DICOMWEB_USER", "PULMO_DICOMWEB_PASSWORD"})
    ::unsetenv(v);
  TempDir t;
  TempDir server_dir;
  // The parts: a 12-slice synthetic CT series (valid DICOM files), outside `t` so that `t` holds only what pulmo left.
  pulmo::test::write_synthetic_series(server_dir.file("series"), pulmo::test::axial_stack(12, 2.0));
  FakeDicomwebServer server(server_dir.file("series"), server_dir);
  if (!server.missing().empty()) GTEST_SKIP() << server.missing();
  const std::string out = t.file("out");
  struct Case {
    const char* name;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"truncated", "shorter than its Content-Length"},
      {"lying-length", "shorter than its Content-Length"},
      {"short-length", "ended early"},
      {"no-boundary", "not a multipart answer"},
      {"other-boundary", "is not the multipart/related the body is"},
      {"no-closing", "ended early"},
      {"not-dicom", "is not a DICOM file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = expect_refused_command("quantify " + q(server.address(c.name)) + " --study 1.2.3 --series 1.2.3.4 --out " +
                                              q(out),
                                          14, c.message, out);
    EXPECT_NE(r.err.find("127.0.0.1"), std::string::npos) << r.err;  // the message names the server
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(t.path())) left.push_back(e.path().filename().string());
    EXPECT_TRUE(left.empty()) << "left behind: " << left.front();  // no download folder, no report
  }
}
