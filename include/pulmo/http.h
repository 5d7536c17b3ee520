// A small HTTP(S) client (libcurl underneath, kept out of this header): what pulmo needs to talk to a PACS over
// DICOMweb - GET and POST with headers, the body to memory, to a callback or to a file, timeouts, HTTPS with the
// server's certificate checked, basic or bearer authentication read from a file or the environment.
//
//   pulmo::http::Request q;
//   q.url = "http://127.0.0.1:8042/dicom-web/studies?StudyInstanceUID=1.2.3";
//   q.headers = {"Accept: application/dicom+json"};
//   q.credentials = pulmo::http::load_credentials("");   // PULMO_DICOMWEB_TOKEN, or _USER and _PASSWORD, or none
//   pulmo::http::Response r = pulmo::http::perform(q);    // throws Error(Remote) when the server cannot be reached
//   pulmo::http::check_status(r, q, "searching the study"); // throws Error(Remote) for a status outside 200..299
//
// Credentials never come from the command line (any user of the machine can read a process's arguments) and never
// appear in a message: URLs are shown without their user-info part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace pulmo::http {

struct Credentials {
  std::string user, password;  // HTTP basic authentication when `user` is not empty
  std::string bearer_token;    // "Authorization: Bearer TOKEN" when not empty (used instead of user and password)
  std::string source;          // where they were read ("file /etc/pulmo/pacs.cred", "environment ..."), for messages
  bool empty() const { return user.empty() && bearer_token.empty(); }
};

// The credentials for a server, from the first of:
//   1. `file` when not empty;
//   2. the file named by $<PREFIX>_CREDENTIALS;
//   3. $<PREFIX>_TOKEN (a bearer token);
//   4. $<PREFIX>_USER and $<PREFIX>_PASSWORD (basic authentication; the password may be empty);
//   5. none (an empty Credentials).
// A credentials file holds lines "user=NAME", "password=SECRET", "token=TOKEN" (# starts a comment line; spaces
// around '=' and at the ends are ignored, the value is the rest of the line). A file that does not exist or cannot be
// read is Error(NotFound); an unknown key, a password without a user, or both a token and a user is Error(BadConfig).
// `warnings` (optional) receives a warning when the file can be read by other users of the machine (mode & 077).
Credentials load_credentials(const std::string& file, const std::string& env_prefix = "PULMO_DICOMWEB",
                             std::vector<std::string>* warnings = nullptr);

struct Request {
  std::string method = "GET";            // GET, POST, PUT, DELETE, HEAD
  std::string url;                       // http:// or https:// only (other schemes are refused with Error(Usage))
  std::vector<std::string> headers;      // "Name: value" each
  std::string body;                      // sent with POST / PUT
  std::string body_file;                 // when not empty: the body is this file, streamed (instead of `body`)
  Credentials credentials;
  double connect_timeout_s = 15;         // to establish the connection
  double timeout_s = 0;                  // the whole transfer; 0 = no limit (the stall limit below still applies)
  double stall_timeout_s = 60;           // abort when fewer than 1 byte/s arrive for this long; 0 = never
  std::string ca_file;                   // HTTPS: a CA bundle (PEM) to verify the server with; "" = the system's
  bool verify_tls = true;                // HTTPS: check the certificate chain and the host name (keep it on)
  int64_t max_memory_body_bytes = int64_t(512) << 20;  // a body kept in memory above this is Error(Remote)
  bool follow_redirects = true;          // GET / HEAD only; at most 5, to http/https; credentials never follow to
                                         // another host
};

struct Response {
  long status = 0;                       // the HTTP status code of the last response
  std::vector<std::pair<std::string, std::string>> headers;  // of the last response, in order
  std::string body;                      // when no sink or file received it
  int64_t body_bytes = 0;                // bytes received
  std::string url;                       // the URL finally fetched (after redirects), without user-info
  // The value of header `name` (case-insensitive), or "" when absent.
  std::string header(const std::string& name) const;
  std::string content_type() const { return header("Content-Type"); }
};

// Receives the body as it arrives (for large bodies); throw pulmo::Error to abort the transfer: perform rethrows it.
using BodySink = std::function<void(const char* data, size_t size)>;

// Performs the request. Any HTTP status is returned (see check_status). The body goes to `sink` when given, else to
// Response::body. Throws Error(Remote) when the server cannot be reached or the transfer fails: connection refused,
// unknown host, TLS handshake or certificate verification failed, a timeout, a connection cut; the message names
// the URL (without user-info) and curl's reason. Error(Usage) for a URL that is not http:// or https://.
Response perform(const Request& request, const BodySink& sink = nullptr);

// perform() with the body written to `path` atomically (a temporary name, then renamed only when the status is
// 2xx and the transfer ended complete; otherwise nothing is left and the body's first bytes are in the Response).
Response perform_to_file(const Request& request, const std::string& path);

// Throws Error(Remote) when `response.status` is not 2xx: "CONTEXT: METHOD URL: HTTP 503 Service Unavailable:
// <the first line of the body>", with a hint for 401 / 403 (the credentials and where they came from).
void check_status(const Response& response, const Request& request, const std::string& context);

// `url` without its user-info part ("http://u:p@host/x" -> "http://host/x"), for messages.
std::string redact_url(const std::string& url);

// Percent-encodes `text` for a URL path segment or query value (RFC 3986 unreserved characters kept).
std::string url_encode(const std::string& text);

}  // namespace pulmo::http
