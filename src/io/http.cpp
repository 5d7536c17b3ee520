// The HTTP(S) client of pulmo/http.h over libcurl (the easy interface, one handle per request).
#include "pulmo/http.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/tempfile.h"
#include "pulmo/error.h"

namespace pulmo::http {
namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? std::string(v) : std::string();
}

Credentials read_credentials_file(const std::string& path, std::vector<std::string>* warnings) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ExitCode::NotFound, "credentials file '" + path + "' does not exist or cannot be read");
  std::ifstream in(path);
  if (!in) throw Error(ExitCode::NotFound, "credentials file '" + path + "' cannot be read");
  if (warnings && (st.st_mode & 077))
    warnings->push_back("credentials file '" + path + "' can be read by other users of this machine (chmod 600 it)");
  Credentials c;
  c.source = "file " + path;
  bool password_given = false;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const size_t eq = t.find('=');
    const std::string where = "credentials file '" + path + "' line " + std::to_string(number);
    if (eq == std::string::npos)
      throw Error(ExitCode::BadConfig, where + ": not KEY=VALUE (keys: user, password, token)");
    const std::string key = trim(t.substr(0, eq)), value = trim(t.substr(eq + 1));
    if (key == "user") c.user = value;
    else if (key == "password") { c.password = value; password_given = true; }
    else if (key == "token") c.bearer_token = value;
    else throw Error(ExitCode::BadConfig, where + ": unknown key '" + key + "' (keys: user, password, token)");
  }
  if (!c.bearer_token.empty() && !c.user.empty())
    throw Error(ExitCode::BadConfig, "credentials file '" + path + "': both a token and a user (give one of them)");
  if (password_given && c.user.empty())
    throw Error(ExitCode::BadConfig, "credentials file '" + path + "': a password without a user");
  if (c.empty()) throw Error(ExitCode::BadConfig, "credentials file '" + path + "' holds neither a user nor a token");
  return c;
}

void global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) throw Error(ExitCode::Internal, std::string("libcurl: ") + curl_easy_strerror(code));
}

struct Transfer {
  const BodySink* sink = nullptr;
  Response* response = nullptr;
  int64_t max_memory = 0;
  std::exception_ptr error;  // thrown by the sink: the transfer is aborted, perform rethrows it
  bool too_large = false;
  bool new_response = true;  // the next header line starts a new response (a redirect, a 100 Continue)
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  Transfer& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  try {
    if (*t.sink) {
      (*t.sink)(data, bytes);
    } else {
      if (static_cast<int64_t>(t.response->body.size() + bytes) > t.max_memory) {
        t.too_large = true;
        return 0;
      }
      t.response->body.append(data, bytes);
    }
  } catch (...) {
    t.error = std::current_exception();
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t.response->body_bytes += static_cast<int64_t>(bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  Transfer& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  const std::string line = trim(std::string(data, bytes));
  if (line.compare(0, 5, "HTTP/") == 0) {
    t.response->headers.clear();  // only the last response's headers are kept
  } else if (!line.empty()) {
    const size_t colon = line.find(':');
    if (colon != std::string::npos) t.response->headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return bytes;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

const char* reason_phrase(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

}  // namespace

Credentials load_credentials(const std::string& file, const std::string& env_prefix, std::vector<std::string>* warnings) {
  if (!file.empty()) return read_credentials_file(file, warnings);
  const std::string named = env(env_prefix + "_CREDENTIALS");
  if (!named.empty()) {
    try {
      return read_credentials_file(named, warnings);
    } catch (const Error& e) {
      throw e.with_context(env_prefix + "_CREDENTIALS");
    }
  }
  Credentials c;
  c.bearer_token = env(env_prefix + "_TOKEN");
  if (!c.bearer_token.empty()) {
    c.source = "environment " + env_prefix + "_TOKEN";
    return c;
  }
  c.user = env(env_prefix + "_USER");
  if (!c.user.empty()) {
    c.password = env(env_prefix + "_PASSWORD");
    c.source = "environment " + env_prefix + "_USER / " + env_prefix + "_PASSWORD";
  }
  return c;
}

std::string Response::header(const std::string& name) const {
  const std::string want = lower(name);
  for (const auto& h : headers)
    if (lower(h.first) == want) return h.second;
  return "";
}

std::string redact_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t host = scheme + 3;
  const size_t end = url.find_first_of("/?#", host);
  const size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

std::string url_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Response perform(const Request& q, const BodySink& sink) {
  const std::string shown = redact_url(q.url);
  const std::string lower_url = lower(q.url);
  if (lower_url.compare(0, 7, "http://") != 0 && lower_url.compare(0, 8, "https://") != 0)
    throw Error(ExitCode::Usage, "'" + shown + "' is not an http:// or https:// URL");
  global_init();
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) throw Error(ExitCode::Internal, "libcurl: cannot create a handle");
  CURL* h = curl.get();
  Response response;
  Transfer t;
  t.sink = &sink;
  t.response = &response;
  t.max_memory = q.max_memory_body_bytes;
  char error_text[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, CurlFree> headers;
  for (const std::string& line : q.headers) headers.reset(curl_slist_append(headers.release(), line.c_str()));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));  // no 100-continue round trip before a body
  if (!q.credentials.bearer_token.empty())
    headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + q.credentials.bearer_token).c_str()));

  curl_easy_setopt(h, CURLOPT_URL, q.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "pulmo");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(q.connect_timeout_s * 1000));
  if (q.timeout_s > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(q.timeout_s * 1000));
  if (q.stall_timeout_s > 0) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(q.stall_timeout_s + 0.5));
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, q.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, q.verify_tls ? 2L : 0L);
  if (!q.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, q.ca_file.c_str());
  if (!q.credentials.user.empty() && q.credentials.bearer_token.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, q.credentials.user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, q.credentials.password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);  // no credentials to another host after a redirect

  const std::string method = q.method;
  std::FILE* upload = nullptr;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> upload_guard(nullptr, std::fclose);
  if (method == "GET" || method == "HEAD") {
    if (method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (q.follow_redirects) {
      curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    }
  } else if (method == "POST" || method == "PUT") {
    if (!q.body_file.empty()) {
      upload = std::fopen(q.body_file.c_str(), "rb");
      if (!upload) throw Error(ExitCode::NotFound, "cannot open '" + q.body_file + "' to send it to " + shown);
      upload_guard.reset(upload);
      struct stat st {};
      ::fstat(fileno(upload), &st);
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READDATA, upload);  // libcurl's default read function: fread
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(st.st_size));
      if (method == "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
    } else if (method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, q.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, q.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
    }
  } else if (method == "DELETE") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    throw Error(ExitCode::Usage, "HTTP method '" + method + "' is not supported");
  }

  const CURLcode rc = curl_easy_perform(h);
  if (t.error) std::rethrow_exception(t.error);
  if (t.too_large)
    throw Error(ExitCode::Remote, method + " " + shown + ": the answer is larger than " +
                                      std::to_string(q.max_memory_body_bytes >> 20) + " MiB");
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective = nullptr;
  curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective);
  response.url = redact_url(effective ? effective : q.url);
  if (rc != CURLE_OK) {
    std::string reason = error_text[0] ? std::string(error_text) : std::string(curl_easy_strerror(rc));
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    std::string hint;
    if (rc == CURLE_COULDNT_CONNECT) hint = " (is the server running, and is this its address and port?)";
    else if (rc == CURLE_COULDNT_RESOLVE_HOST) hint = " (unknown host name)";
    else if (rc == CURLE_OPERATION_TIMEDOUT) hint = " (timed out)";
    else if (rc == CURLE_PARTIAL_FILE) hint = " (the answer is shorter than its Content-Length: the connection was cut, or the server's length lies)";
    else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CONNECT_ERROR)
      hint = " (the server's certificate could not be verified: give its CA bundle, e.g. --ca-file)";
    throw Error(ExitCode::Remote, method + " " + shown + ": " + reason + hint);
  }
  return response;
}

Response perform_to_file(const Request& q, const std::string& path) {
  const std::string tmp = temporary_path_for(path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(tmp.c_str(), "wb"), std::fclose);
  if (!f) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "'");
  }
  std::string head;  // the first bytes, kept for an error message
  BodySink sink = [&](const char* data, size_t size) {
    if (head.size() < 2048) head.append(data, std::min(size, 2048 - head.size()));
    if (std::fwrite(data, 1, size, f.get()) != size) throw Error(ExitCode::WriteFailed, "cannot write '" + path + "'");
  };
  Response r;
  try {
    r = perform(q, sink);
  } catch (...) {
    f.reset();
    discard_temporary(tmp);
    throw;
  }
  const int closed = std::fclose(f.release());
  if (r.status < 200 || r.status > 299) {
    discard_temporary(tmp);
    r.body = head;
    return r;
  }
  if (closed != 0) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "'");
  }
  commit_temporary(tmp, path, r.body_bytes);
  return r;
}

void check_status(const Response& r, const Request& q, const std::string& context) {
  if (r.status >= 200 && r.status <= 299) return;
  std::string message = context + ": " + q.method + " " + redact_url(q.url) + ": HTTP " + std::to_string(r.status);
  if (*reason_phrase(r.status)) message += std::string(" ") + reason_phrase(r.status);
  std::string first = r.body.substr(0, r.body.find('\n'));
  if (first.size() > 300) first = first.substr(0, 300) + "...";
  first = trim(first);
  if (!first.empty() && first.find('\0') == std::string::npos) message += ": " + first;
  if (r.status == 401 || r.status == 403)
    message += q.credentials.empty() ? " (no credentials were given: see PULMO_DICOMWEB_USER / _PASSWORD / _TOKEN or "
                                       "a credentials file)"
                                     : " (credentials from " + q.credentials.source + " were refused)";
  throw Error(ExitCode::Remote, message);
}

}  // namespace pulmo::http
