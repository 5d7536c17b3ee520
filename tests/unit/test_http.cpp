// The HTTP client (pulmo/http.h) against a one-connection-at-a-time server on loopback written here with sockets:
// what goes over the wire (method, headers, authentication, body), statuses, files, and the failures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "pulmo/dicomweb.h"
#include "pulmo/error.h"
#include "pulmo/http.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::Error;
using pulmo::ExitCode;
namespace http = pulmo::http;

namespace {

// Listens on a free loopback port; serve() answers one connection with `response` and keeps the request it read.
class OneShotServer {
 public:
  OneShotServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // Answers the next connection in a thread: reads the request (headers and Content-Length bytes of body).
  void serve(const std::string& response) {
    thread_ = std::thread([this, response] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string got;
      char buf[4096];
      size_t need = std::string::npos;
      while (true) {
        const ssize_t k = ::recv(c, buf, sizeof buf, 0);
        if (k <= 0) break;
        got.append(buf, static_cast<size_t>(k));
        const size_t end = got.find("\r\n\r\n");
        if (end != std::string::npos && need == std::string::npos) {
          size_t length = 0;
          const size_t cl = got.find("Content-Length: ");
          if (cl != std::string::npos && cl < end) length = std::stoul(got.substr(cl + 16));
          need = end + 4 + length;
        }
        if (need != std::string::npos && got.size() >= need) break;
      }
      request_ = got;
      ::send(c, response.data(), response.size(), MSG_NOSIGNAL);
      ::shutdown(c, SHUT_WR);
      ::close(c);
    });
  }
  std::string request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  int fd_ = -1, port_ = 0;
  std::thread thread_;
  std::string request_;
};

std::string reply(int status, const std::string& reason, const std::string& type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

template <typename F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no pulmo::Error thrown";
  return Error(ExitCode::Ok, "");
}

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
    else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

}  // namespace

TEST(Http, GetSendsItsHeadersAndReturnsStatusHeadersAndBody) {
  OneShotServer s;
  s.serve(reply(200, "OK", "application/dicom+json", "[{\"a\": 1}]"));
  http::Request q;
  q.url = s.url("/dicom-web/studies?StudyInstanceUID=1.2.3");
  q.headers = {"Accept: application/dicom+json"};
  const http::Response r = http::perform(q);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[{\"a\": 1}]");
  EXPECT_EQ(r.body_bytes, 10);
  EXPECT_EQ(r.content_type(), "application/dicom+json");
  EXPECT_EQ(r.header("content-length"), "10");
  const std::string got = s.request();
  EXPECT_EQ(got.rfind("GET /dicom-web/studies?StudyInstanceUID=1.2.3 HTTP/1.1\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Accept: application/dicom+json\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("Authorization"), std::string::npos) << got;
  EXPECT_NO_THROW(http::check_status(r, q, "searching"));
}

TEST(Http, BasicAndBearerAuthenticationGoInTheAuthorizationHeader) {
  {
    OneShotServer s;
    s.serve(reply(200, "OK", "text/plain", "ok"));
    http::Request q;
    q.url = s.url("/x");
    q.credentials.user = "pulmo";
    q.credentials.password = "s3cret";
    http::perform(q);
    EXPECT_NE(s.request().find("Authorization: Basic cHVsbW86czNjcmV0\r\n"), std::string::npos);  // base64("pulmo:s3cret")
  }
  {
    OneShotServer s;
    s.serve(reply(200, "OK", "text/plain", "ok"));
    http::Request q;
    q.url = s.url("/x");
    q.credentials.bearer_token = "abc.def";
    http::perform(q);
    EXPECT_NE(s.request().find("Authorization: Bearer abc.def\r\n"), std::string::npos);
  }
}

TEST(Http, PostSendsTheBodyFromMemoryOrFromAFile) {
  pulmo::test::TempDir t;
  {
    OneShotServer s;
    s.serve(reply(200, "OK", "application/dicom+json", "{}"));
    http::Request q;
    q.method = "POST";
    q.url = s.url("/dicom-web/studies");
    q.headers = {"Content-Type: text/plain"};
    q.body = "hello body";
    EXPECT_EQ(http::perform(q).status, 200);
    const std::string got = s.request();
    EXPECT_EQ(got.rfind("POST /dicom-web/studies HTTP/1.1\r\n", 0), 0u) << got;
    EXPECT_NE(got.find("Content-Length: 10\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.substr(got.size() - 10), "hello body");
  }
  {
    const std::string body(100000, 'x');
    write_file(t.file("body.bin"), body);
    OneShotServer s;
    s.serve(reply(200, "OK", "application/dicom+json", "{}"));
    http::Request q;
    q.method = "POST";
    q.url = s.url("/upload");
    q.body_file = t.file("body.bin");
    EXPECT_EQ(http::perform(q).status, 200);
    const std::string got = s.request();
    EXPECT_EQ(got.rfind("POST /upload HTTP/1.1\r\n", 0), 0u) << got.substr(0, 200);
    EXPECT_NE(got.find("Content-Length: 100000\r\n"), std::string::npos);
    EXPECT_EQ(got.substr(got.size() - body.size()), body);
  }
}

TEST(Http, AnErrorStatusIsRemoteWithTheStatusTheServersReasonAndNoCredentials) {
  OneShotServer s;
  s.serve(reply(401, "Unauthorized", "text/plain", "Bad credentials\nsecond line"));
  http::Request q;
  q.url = "http://someone:hunter2@127.0.0.1:" + std::to_string(s.port()) + "/dicom-web/studies";
  q.credentials.user = "someone";
  q.credentials.source = "file /etc/pulmo/pacs.cred";
  const http::Response r = http::perform(q);
  EXPECT_EQ(r.status, 401);
  const Error e = error_of([&] { http::check_status(r, q, "searching the study"); });
  EXPECT_EQ(e.code(), ExitCode::Remote);
  const std::string m = e.what();
  EXPECT_NE(m.find("searching the study: GET http://127.0.0.1:"), std::string::npos) << m;
  EXPECT_NE(m.find("HTTP 401 Unauthorized: Bad credentials"), std::string::npos) << m;
  EXPECT_NE(m.find("credentials from file /etc/pulmo/pacs.cred were refused"), std::string::npos) << m;
  EXPECT_EQ(m.find("second line"), std::string::npos) << m;
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
}

TEST(Http, AServerThatIsNotThereIsARemoteFailureNamingTheUrl) {
  int port = 0;
  {
    OneShotServer s;  // a port that was free a moment ago, closed again
    port = s.port();
  }
  http::Request q;
  q.url = "http://127.0.0.1:" + std::to_string(port) + "/dicom-web/studies";
  q.connect_timeout_s = 5;
  const Error e = error_of([&] { http::perform(q); });
  EXPECT_EQ(e.code(), ExitCode::Remote);
  EXPECT_NE(std::string(e.what()).find("GET http://127.0.0.1:" + std::to_string(port) + "/dicom-web/studies: "),
            std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("is the server running"), std::string::npos) << e.what();
}

TEST(Http, OnlyHttpAndHttpsUrlsAreFetched) {
  for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1:8042/dicom-web", ""}) {
    http::Request q;
    q.url = url;
    EXPECT_EQ(error_of([&] { http::perform(q); }).code(), ExitCode::Usage) << url;
  }
}

TEST(Http, ABodyToAFileIsWrittenOnlyForASuccessfulAnswer) {
  pulmo::test::TempDir t;
  {
    OneShotServer s;
    s.serve(reply(200, "OK", "application/octet-stream", std::string(5000, 'z')));
    http::Request q;
    q.url = s.url("/file");
    const http::Response r = http::perform_to_file(q, t.file("out.bin"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(fs::file_size(t.file("out.bin")), 5000u);
  }
  {
    OneShotServer s;
    s.serve(reply(404, "Not Found", "text/plain", "no such series"));
    http::Request q;
    q.url = s.url("/missing");
    const http::Response r = http::perform_to_file(q, t.file("missing.bin"));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, "no such series");
    EXPECT_FALSE(fs::exists(t.file("missing.bin")));
  }
  EXPECT_EQ(pulmo::test::count_temporary_files(t.path()), 0);
}

TEST(Http, ASinkThatThrowsAbortsTheTransferWithItsError) {
  OneShotServer s;
  s.serve(reply(200, "OK", "application/octet-stream", std::string(1000, 'z')));
  http::Request q;
  q.url = s.url("/x");
  const Error e = error_of([&] {
    http::perform(q, [](const char*, size_t) { throw Error(ExitCode::WriteFailed, "disk full"); });
  });
  EXPECT_EQ(e.code(), ExitCode::WriteFailed);
  EXPECT_STREQ(e.what(), "disk full");
}

TEST(HttpCredentials, FromAFileOrTheEnvironmentInThatOrder) {
  pulmo::test::TempDir t;
  ScopedEnv a("PULMO_TEST_CREDENTIALS", nullptr), b("PULMO_TEST_TOKEN", nullptr), c("PULMO_TEST_USER", nullptr),
      d("PULMO_TEST_PASSWORD", nullptr);
  EXPECT_TRUE(http::load_credentials("", "PULMO_TEST").empty());

  write_file(t.file("basic.cred"), "# the PACS account\nuser = pulmo\npassword=pa ss=word \n");
  std::vector<std::string> warnings;
  http::Credentials k = http::load_credentials(t.file("basic.cred"), "PULMO_TEST", &warnings);
  EXPECT_EQ(k.user, "pulmo");
  EXPECT_EQ(k.password, "pa ss=word");
  EXPECT_TRUE(k.bearer_token.empty());
  EXPECT_EQ(k.source, "file " + t.file("basic.cred"));
  EXPECT_TRUE(warnings.empty());

  ::setenv("PULMO_TEST_USER", "envuser", 1);
  ::setenv("PULMO_TEST_PASSWORD", "envpass", 1);
  k = http::load_credentials("", "PULMO_TEST");
  EXPECT_EQ(k.user, "envuser");
  EXPECT_EQ(k.password, "envpass");
  EXPECT_EQ(k.source, "environment PULMO_TEST_USER / PULMO_TEST_PASSWORD");

  ::setenv("PULMO_TEST_TOKEN", "tok", 1);  // a token wins over user and password
  k = http::load_credentials("", "PULMO_TEST");
  EXPECT_EQ(k.bearer_token, "tok");
  EXPECT_TRUE(k.user.empty());

  write_file(t.file("token.cred"), "token=abc\n", 0644);  // a file named by the environment wins over both
  ::setenv("PULMO_TEST_CREDENTIALS", t.file("token.cred").c_str(), 1);
  warnings.clear();
  k = http::load_credentials("", "PULMO_TEST", &warnings);
  EXPECT_EQ(k.bearer_token, "abc");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("can be read by other users"), std::string::npos);
  k = http::load_credentials(t.file("basic.cred"), "PULMO_TEST");  // and a file given explicitly over everything
  EXPECT_EQ(k.user, "pulmo");
}

TEST(HttpCredentials, BadFilesAreRefusedWithoutShowingTheirSecrets) {
  pulmo::test::TempDir t;
  EXPECT_EQ(error_of([&] { http::load_credentials(t.file("none.cred")); }).code(), ExitCode::NotFound);
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {Case{"user=a\npasswd=topsecret\n", "unknown key 'passwd'"},
                        Case{"password=topsecret\n", "a password without a user"},
                        Case{"user=a\ntoken=topsecret\n", "both a token and a user"},
                        Case{"topsecret\n", "not KEY=VALUE"}, Case{"# nothing\n", "neither a user nor a token"}}) {
    write_file(t.file("bad.cred"), c.text);
    const Error e = error_of([&] { http::load_credentials(t.file("bad.cred")); });
    EXPECT_EQ(e.code(), ExitCode::BadConfig) << c.text;
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos) << e.what();
  }
}

TEST(HttpUrls, RedactAndEncode) {
  EXPECT_EQ(http::redact_url("http://u:p@host:8042/dicom-web?x=a@b"), "http://host:8042/dicom-web?x=a@b");
  EXPECT_EQ(http::redact_url("https://host/x@y"), "https://host/x@y");
  EXPECT_EQ(http::redact_url("http://host"), "http://host");
  EXPECT_EQ(http::url_encode("1.2.840.113619.2.55"), "1.2.840.113619.2.55");
  EXPECT_EQ(http::url_encode("a b/c&d=e"), "a%20b%2Fc%26d%3De");
}

// ---- DICOMweb over the same server: multipart splitting and the protocol failures --------------------------------
namespace {

namespace dicomweb = pulmo::dicomweb;

std::string fake_dicom(size_t payload, char fill) { return std::string(128, '\0') + "DICM" + std::string(payload, fill); }

std::string multipart(const std::string& boundary, const std::vector<std::string>& parts, bool closed = true) {
  std::string body;
  for (const std::string& p : parts)
    body += "--" + boundary + "\r\nContent-Type: application/dicom\r\nMIME-Version: 1.0\r\n\r\n" + p + "\r\n";
  if (closed) body += "--" + boundary + "--\r\n";
  return body;
}

dicomweb::Server server_at(const OneShotServer& s) {
  dicomweb::Server d = dicomweb::server_from_input("dicomweb+" + s.url("/dicom-web/"));
  d.connect_timeout_s = 5;
  return d;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(DicomWeb, WadoRsPartsAreStreamedToOneFileEachByteForByte) {
  pulmo::test::TempDir t;
  // Parts larger than libcurl's chunks, one holding the boundary's first bytes ("\r\n--b") inside its data.
  const std::string b = "e1563d5b-c3f3";
  std::string tricky = fake_dicom(70000, 'a');
  tricky.replace(5000, 8, "\r\n--e156");
  const std::vector<std::string> parts = {fake_dicom(300000, 'x'), tricky, fake_dicom(10, 'z')};
  OneShotServer s;
  s.serve(reply(200, "OK", "multipart/related; type=\"application/dicom\"; boundary=" + b, multipart(b, parts)));
  int last = 0;
  const auto files = dicomweb::fetch_series(server_at(s), "1.2.3", "1.2.3.4", t.file("series"), [&](int n) { last = n; });
  ASSERT_EQ(files.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_TRUE(slurp(files[k]) == parts[k]) << "part " << k;
  EXPECT_EQ(last, 3);
  const std::string got = s.request();
  EXPECT_EQ(got.rfind("GET /dicom-web/studies/1.2.3/series/1.2.3.4 HTTP/1.1\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\n"), std::string::npos);
}

TEST(DicomWeb, ProtocolBreachesAreRemoteFailures) {
  pulmo::test::TempDir t;
  const std::string b = "bnd";
  const std::string type = "multipart/related; type=\"application/dicom\"; boundary=" + b;
  struct Case {
    std::string name, type, body, message;
  };
  const std::vector<Case> cases = {
      {"a part that is not DICOM", type, multipart(b, {fake_dicom(10, 'a'), "<html>oops</html>"}), "is not a DICOM file"},
      {"cut before the closing boundary", type, multipart(b, {fake_dicom(1000, 'a'), fake_dicom(1000, 'b')}, false).substr(0, 1500),
       "ended early"},
      {"not multipart", "application/json", "{\"error\": 1}", "not a multipart answer"},
      {"a part of another type", type,
       "--" + b + "\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--" + b + "--\r\n", "not application/dicom"},
  };
  for (const Case& c : cases) {
    OneShotServer s;
    s.serve(reply(200, "OK", c.type, c.body));
    const Error e = error_of([&] { dicomweb::fetch_series(server_at(s), "1.2.3", "1.2.3.4", t.file(c.name)); });
    EXPECT_EQ(e.code(), ExitCode::Remote) << c.name << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << c.name << ": " << e.what();
  }
  {  // the server's own error, with its message
    OneShotServer s;
    s.serve(reply(503, "Service Unavailable", "text/plain", "database locked"));
    const Error e = error_of([&] { dicomweb::fetch_series(server_at(s), "1.2.3", "1.2.3.4", t.file("503")); });
    EXPECT_EQ(e.code(), ExitCode::Remote);
    EXPECT_NE(std::string(e.what()).find("HTTP 503 Service Unavailable: database locked"), std::string::npos) << e.what();
  }
  {  // QIDO-RS: an empty answer is an unknown series; an answer that is not JSON breaks the protocol
    OneShotServer s;
    s.serve(reply(200, "OK", "application/dicom+json", "[]"));
    EXPECT_EQ(error_of([&] { dicomweb::find_series(server_at(s), "1.2.3", "1.2.3.4"); }).code(), ExitCode::NotFound);
    OneShotServer s2;
    s2.serve(reply(200, "OK", "text/html", "<html>login</html>"));
    EXPECT_EQ(error_of([&] { dicomweb::find_series(server_at(s2), "1.2.3", "1.2.3.4"); }).code(), ExitCode::Remote);
  }
}

TEST(DicomWeb, QidoRsFindsTheSeriesAndStowRsChecksTheAnswer) {
  OneShotServer s;
  s.serve(reply(200, "OK", "application/dicom+json",
                R"([{"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}, "00080060": {"vr": "CS", "Value": ["CT"]},
                    "0008103E": {"vr": "LO", "Value": ["Thorax"]}, "00201209": {"vr": "IS", "Value": [30]}}])"));
  const dicomweb::SeriesInfo i = dicomweb::find_series(server_at(s), "1.2.3", "1.2.3.4");
  EXPECT_EQ(i.modality, "CT");
  EXPECT_EQ(i.description, "Thorax");
  EXPECT_EQ(i.instances, 30);
  EXPECT_EQ(s.request().rfind("GET /dicom-web/studies/1.2.3/series?SeriesInstanceUID=1.2.3.4&", 0), 0u);

  pulmo::test::TempDir t;
  write_file(t.file("seg.dcm"), fake_dicom(100, 's'));
  OneShotServer ok;
  ok.serve(reply(200, "OK", "application/dicom+json",
                 R"({"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["9.8.7"]}}]}})"));
  EXPECT_EQ(dicomweb::store_instances(server_at(ok), {t.file("seg.dcm")}).stored, 1);
  const std::string sent = ok.request();
  EXPECT_EQ(sent.rfind("POST /dicom-web/studies HTTP/1.1\r\n", 0), 0u);
  const std::string boundary = dicomweb::multipart_boundary(sent.substr(sent.find("Content-Type: ") + 14));
  EXPECT_FALSE(boundary.empty());
  EXPECT_NE(sent.find("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + fake_dicom(100, 's') + "\r\n--" +
                      boundary + "--\r\n"),
            std::string::npos);

  OneShotServer refused;
  refused.serve(reply(200, "OK", "application/dicom+json",
                      R"({"00081198": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["9.8.7"]},
                          "00081197": {"vr": "US", "Value": [272]}}]}})"));
  const Error e = error_of([&] { dicomweb::store_instances(server_at(refused), {t.file("seg.dcm")}); });
  EXPECT_EQ(e.code(), ExitCode::Remote);
  EXPECT_NE(std::string(e.what()).find("9.8.7 (reason 272)"), std::string::npos) << e.what();
}

TEST(DicomWeb, AddressesAndBoundaries) {
  EXPECT_TRUE(dicomweb::is_dicomweb_input("dicomweb+http://h:1/x"));
  EXPECT_TRUE(dicomweb::is_dicomweb_input("DICOMweb+https://h/x"));
  EXPECT_FALSE(dicomweb::is_dicomweb_input("http://h/x"));
  EXPECT_FALSE(dicomweb::is_dicomweb_input("/data/dicomweb+http"));
  EXPECT_EQ(dicomweb::server_from_input("dicomweb+http://127.0.0.1:8042/dicom-web//").base_url,
            "http://127.0.0.1:8042/dicom-web");
  const Error e = error_of([] { dicomweb::server_from_input("dicomweb+https://u:secret@h/dicom-web"); });
  EXPECT_EQ(e.code(), ExitCode::Usage);
  EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  EXPECT_EQ(error_of([] { dicomweb::server_from_input("dicomweb+http:///x"); }).code(), ExitCode::Usage);
  EXPECT_EQ(dicomweb::multipart_boundary("multipart/related; type=\"application/dicom\"; boundary=abc-1"), "abc-1");
  EXPECT_EQ(dicomweb::multipart_boundary("multipart/related;boundary=\"a b;c\";type=x"), "a b;c");
  EXPECT_EQ(dicomweb::multipart_boundary("multipart/related; xboundary=1"), "");
  EXPECT_EQ(dicomweb::multipart_boundary("application/dicom"), "");
}
