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

