// DICOMweb client of pulmo/dicomweb.h: QIDO-RS, WADO-RS (multipart streamed to files), STOW-RS.
#include "pulmo/dicomweb.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <random>
#include <sstream>

#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo::dicomweb {
namespace {

constexpr const char* kPrefix = "dicomweb+";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

http::Request request_for(const Server& s, const std::string& url) {
  http::Request q;
  q.url = url;
  q.credentials = s.credentials;
  q.ca_file = s.ca_file;
  q.connect_timeout_s = s.connect_timeout_s;
  q.stall_timeout_s = s.stall_timeout_s;
  return q;
}

// The first value of attribute `tag` ("0020000E") of a DICOM JSON object, as text; "" when absent.
std::string json_value(const nlohmann::json& object, const char* tag) {
  if (!object.is_object() || !object.contains(tag)) return "";
  const nlohmann::json& a = object[tag];
  if (!a.is_object() || !a.contains("Value") || !a["Value"].is_array() || a["Value"].empty()) return "";
  const nlohmann::json& v = a["Value"][0];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return std::to_string(v.get<double>());
  return "";
}

nlohmann::json parse_json_answer(const http::Response& r, const http::Request& q, const std::string& what) {
  try {
    return nlohmann::json::parse(r.body.empty() ? std::string("[]") : r.body);
  } catch (const nlohmann::json::exception&) {
    throw Error(ExitCode::Remote, what + ": GET " + http::redact_url(q.url) + ": the answer is not JSON (Content-Type '" +
                                      r.content_type() + "')");
  }
}

bool valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  for (char c : uid)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.')) return false;
  return true;
}

void check_uid(const std::string& uid, const char* what) {
  if (!valid_uid(uid))
    throw Error(ExitCode::Usage, std::string(what) + " '" + uid + "' is not a DICOM UID (digits and dots, at most 64)");
}

// Splits a multipart body into files as it arrives: each part's headers are read, its content streamed to a file.
class MultipartToFiles {
 public:
  MultipartToFiles(const std::string& boundary, const fs::path& folder, const std::string& url,
                   const std::function<void(int)>& progress)
      : delimiter_("\r\n--" + boundary), folder_(folder), url_(url), progress_(progress) {}
  std::string boundary() const { return delimiter_.substr(4); }

  void feed(const char* data, size_t size) {
    buffer_.append(data, size);
    while (step()) {
    }
  }

  std::vector<std::string> finish() {
    if (state_ != State::End) {
      close_part();
      if (state_ == State::Body && !files_.empty()) remove_last();
      throw Error(ExitCode::Remote, "GET " + url_ + ": the multipart answer ended early (after " +
                                        std::to_string(files_.size()) + " complete instance(s); the connection was cut?)");
    }
    return files_;
  }

 private:
  enum class State { Preamble, Headers, Body, AfterDelimiter, End };

  // One step of the state machine; false when more bytes are needed.
  bool step() {
    switch (state_) {
      case State::Preamble: {
        // the first delimiter may come without its leading CRLF
        const std::string first = delimiter_.substr(2);
        const size_t at = buffer_.find(first);
        if (at == std::string::npos) {
          if (buffer_.size() > 65536) fail("no multipart boundary in the first 64 KiB");
          return false;
        }
        buffer_.erase(0, at + first.size());
        state_ = State::AfterDelimiter;
        return true;
      }
      case State::AfterDelimiter: {
        if (buffer_.size() < 2) return false;
        if (buffer_.compare(0, 2, "--") == 0) {
          state_ = State::End;
          buffer_.clear();
          return false;
        }
        // transport padding (spaces, tabs) then CRLF
        size_t i = 0;
        while (i < buffer_.size() && (buffer_[i] == ' ' || buffer_[i] == '\t')) ++i;
        if (buffer_.size() < i + 2) return false;
        if (buffer_.compare(i, 2, "\r\n") != 0) fail("a multipart boundary not followed by a line break");
        buffer_.erase(0, i + 2);
        state_ = State::Headers;
        return true;
      }
      case State::Headers: {
        const size_t end = buffer_.find("\r\n\r\n");
        const bool no_headers = buffer_.compare(0, 2, "\r\n") == 0;
        if (end == std::string::npos && !no_headers) {
          if (buffer_.size() > 65536) fail("multipart part headers longer than 64 KiB");
          return false;
        }
        const std::string headers = no_headers ? std::string() : buffer_.substr(0, end);
        buffer_.erase(0, no_headers ? 2 : end + 4);
        std::string type;
        std::istringstream lines(headers);
        std::string line;
        while (std::getline(lines, line)) {
          const size_t colon = line.find(':');
          if (colon != std::string::npos && lower(line.substr(0, colon)) == "content-type") {
            type = line.substr(colon + 1);
            while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front()))) type.erase(0, 1);
            while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.pop_back();
          }
        }
        const std::string media = lower(type.substr(0, type.find(';')));
        if (!type.empty() && media != "application/dicom")
          fail("part " + std::to_string(files_.size() + 1) + " is '" + type + "', not application/dicom");
        open_part();
        state_ = State::Body;
        return true;
      }
      case State::Body: {
        const size_t at = buffer_.find(delimiter_);
        if (at == std::string::npos) {
          // keep what could be the start of a delimiter
          if (buffer_.size() >= delimiter_.size()) {
            const size_t n = buffer_.size() - (delimiter_.size() - 1);
            write(buffer_.data(), n);
            buffer_.erase(0, n);
          }
          return false;
        }
        write(buffer_.data(), at);
        buffer_.erase(0, at + delimiter_.size());
        close_part();
        check_dicom(files_.back());
        if (progress_) progress_(static_cast<int>(files_.size()));
        state_ = State::AfterDelimiter;
        return true;
      }
      case State::End:
        buffer_.clear();
        return false;
    }
    return false;
  }

  void open_part() {
    std::ostringstream name;
    name << std::setw(6) << std::setfill('0') << files_.size() + 1 << ".dcm";
    files_.push_back((folder_ / name.str()).string());
    file_.reset(std::fopen(files_.back().c_str(), "wb"));
    if (!file_) throw Error(ExitCode::WriteFailed, "cannot write '" + files_.back() + "'");
    part_bytes_ = 0;
    head_.clear();
  }
  void write(const char* data, size_t n) {
    if (n == 0) return;
    if (head_.size() < 132) head_.append(data, std::min(n, 132 - head_.size()));
    if (std::fwrite(data, 1, n, file_.get()) != n) throw Error(ExitCode::WriteFailed, "cannot write '" + files_.back() + "'");
    part_bytes_ += n;
  }
  void close_part() {
    if (!file_) return;
    const int rc = std::fclose(file_.release());
    if (rc != 0) throw Error(ExitCode::WriteFailed, "cannot write '" + files_.back() + "'");
  }
  void remove_last() {
    std::error_code ec;
    fs::remove(files_.back(), ec);
    files_.pop_back();
  }
  void check_dicom(const std::string& path) {
    if (head_.size() < 132 || head_.compare(128, 4, "DICM") != 0)
      fail("part " + std::to_string(files_.size()) + " (" + std::to_string(part_bytes_) +
           " bytes) is not a DICOM file (no DICM preamble)");
  }
  [[noreturn]] void fail(const std::string& what) {
    throw Error(ExitCode::Remote, "GET " + url_ + ": not a valid DICOMweb answer: " + what);
  }

  struct FileClose {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string delimiter_;
  fs::path folder_;
  std::string url_;
  std::function<void(int)> progress_;
  std::string buffer_, head_;
  State state_ = State::Preamble;
  std::vector<std::string> files_;
  std::unique_ptr<std::FILE, FileClose> file_;
  size_t part_bytes_ = 0;
};

std::string random_boundary() {
  std::random_device rd;
  std::ostringstream os;
  os << "pulmo-" << std::hex << rd() << rd() << rd();
  return os.str();
}

}  // namespace

bool is_dicomweb_input(const std::string& input) {
  const std::string l = lower(input.substr(0, 20));
  return l.rfind("dicomweb+http://", 0) == 0 || l.rfind("dicomweb+https://", 0) == 0;
}

Server server_from_input(const std::string& input) {
  if (!is_dicomweb_input(input))
    throw Error(ExitCode::Usage, "'" + input + "' is not a DICOMweb address (dicomweb+http://HOST:PORT/PATH or "
                                 "dicomweb+https://...)");
  Server s;
  s.base_url = input.substr(std::string(kPrefix).size());
  const size_t host = s.base_url.find("://") + 3;
  const size_t end = s.base_url.find_first_of("/?#", host);
  const std::string authority = s.base_url.substr(host, end == std::string::npos ? std::string::npos : end - host);
  if (authority.find('@') != std::string::npos)
    throw Error(ExitCode::Usage, "'" + http::redact_url(input) + "': credentials do not go in the address (any user of "
                                 "the machine can read a command line); use a credentials file or PULMO_DICOMWEB_USER / "
                                 "_PASSWORD / _TOKEN (docs/integration.md)");
  if (authority.empty()) throw Error(ExitCode::Usage, "'" + input + "' names no host");
  if (s.base_url.find_first_of("?#") != std::string::npos)
    throw Error(ExitCode::Usage, "'" + input + "': a DICOMweb root has no query or fragment");
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  return s;
}

std::string multipart_boundary(const std::string& content_type) {
  const std::string l = lower(content_type);
  size_t at = 0;
  while ((at = l.find("boundary", at)) != std::string::npos) {
    size_t i = at + 8;
    const bool starts_parameter = at == 0 || l[at - 1] == ';' || std::isspace(static_cast<unsigned char>(l[at - 1]));
    while (i < l.size() && l[i] == ' ') ++i;
    if (!starts_parameter || i >= l.size() || l[i] != '=') {
      at = i;
      continue;
    }
    ++i;
    while (i < l.size() && l[i] == ' ') ++i;
    if (i < content_type.size() && content_type[i] == '"') {
      const size_t close = content_type.find('"', i + 1);
      return close == std::string::npos ? "" : content_type.substr(i + 1, close - i - 1);
    }
    const size_t stop = content_type.find_first_of("; \t\r\n", i);
    return content_type.substr(i, stop == std::string::npos ? std::string::npos : stop - i);
  }
  return "";
}

SeriesInfo find_series(const Server& server, const std::string& study_uid, const std::string& series_uid) {
  check_uid(study_uid, "--study");
  check_uid(series_uid, "--series");
  http::Request q = request_for(server, server.base_url + "/studies/" + study_uid + "/series?SeriesInstanceUID=" +
                                            series_uid + "&includefield=0008103E&includefield=00080070&includefield=00201209");
  q.headers = {"Accept: application/dicom+json"};
  const std::string what = "searching series " + series_uid + " of study " + study_uid;
  http::Response r;
  try {
    r = http::perform(q);
  } catch (const Error& e) {
    throw e.with_context(what);
  }
  if (r.status == 404 || r.status == 204)
    throw Error(ExitCode::NotFound, what + ": the server " + server.base_url + " has no such series in that study");
  http::check_status(r, q, what);
  const nlohmann::json answer = parse_json_answer(r, q, what);
  if (!answer.is_array())
    throw Error(ExitCode::Remote, what + ": GET " + http::redact_url(q.url) + ": the answer is not a JSON array");
  for (const nlohmann::json& item : answer) {
    if (json_value(item, "0020000E") != series_uid) continue;
    SeriesInfo s;
    s.study_uid = study_uid;
    s.series_uid = series_uid;
    s.modality = json_value(item, "00080060");
    s.description = json_value(item, "0008103E");
    s.manufacturer = json_value(item, "00080070");
    const std::string n = json_value(item, "00201209");
    if (!n.empty()) s.instances = std::atoi(n.c_str());
    return s;
  }
  throw Error(ExitCode::NotFound, what + ": the server " + server.base_url + " has no such series in that study");
}

std::vector<std::string> fetch_series(const Server& server, const std::string& study_uid, const std::string& series_uid,
                                      const std::string& folder, const std::function<void(int)>& progress) {
  check_uid(study_uid, "--study");
  check_uid(series_uid, "--series");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (!fs::is_directory(folder, ec)) throw Error(ExitCode::WriteFailed, "cannot create the folder '" + folder + "'");
  http::Request q = request_for(server, server.base_url + "/studies/" + study_uid + "/series/" + series_uid);
  q.headers = {"Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=*"};
  const std::string shown = http::redact_url(q.url);
  const std::string what = "fetching series " + series_uid;
  // libcurl hands the body to the sink without its headers, so the parts are split with the boundary of the body's
  // own first line (RFC 2046: a multipart body starts with "--boundary"); the Content-Type is checked at the end. A
  // body that does not start so (an error page) is kept, up to 2 KiB, for the message.
  std::unique_ptr<MultipartToFiles> parts;
  std::string start;
  bool not_multipart = false;
  http::BodySink sink = [&](const char* data, size_t size) {
    if (parts) return parts->feed(data, size);
    if (not_multipart) {
      if (start.size() < 2048) start.append(data, std::min(size, 2048 - start.size()));
      return;
    }
    start.append(data, size);
    if (start.size() >= 2 && start.compare(0, 2, "--") != 0) {
      not_multipart = true;
      start.resize(std::min<size_t>(start.size(), 2048));
      return;
    }
    const size_t eol = start.find("\r\n");
    if (eol == std::string::npos) {
      if (start.size() > 4096) throw Error(ExitCode::Remote, what + ": GET " + shown + ": a multipart boundary line longer than 4 KiB");
      return;
    }
    std::string boundary = start.substr(2, eol - 2);
    while (!boundary.empty() && (boundary.back() == ' ' || boundary.back() == '\t')) boundary.pop_back();
    parts = std::make_unique<MultipartToFiles>(boundary, fs::path(folder), shown, progress);
    std::string pending;
    pending.swap(start);
    parts->feed(pending.data(), pending.size());
  };
  http::Response r;
  try {
    r = http::perform(q, sink);
  } catch (const Error& e) {
    throw e.with_context(what);
  }
  if (r.status < 200 || r.status > 299) {
    if (r.status == 404)
      throw Error(ExitCode::NotFound, what + ": the server " + server.base_url + " has no such series in study " + study_uid);
    r.body = start;
    http::check_status(r, q, what);
  }
  if (!parts) {
    if (r.body_bytes == 0 || r.status == 204) throw Error(ExitCode::NotFound, what + ": the server sent no instance");
    throw Error(ExitCode::Remote, what + ": GET " + shown + ": not a multipart answer (Content-Type '" + r.content_type() + "')");
  }
  std::vector<std::string> files = parts->finish();
  const std::string declared = multipart_boundary(r.content_type());
  if (lower(r.content_type()).rfind("multipart/related", 0) != 0 || (!declared.empty() && declared != parts->boundary()))
    throw Error(ExitCode::Remote, what + ": GET " + shown + ": Content-Type '" + r.content_type() +
                                      "' is not the multipart/related the body is");
  if (files.empty()) throw Error(ExitCode::NotFound, what + ": the server sent no instance");
  return files;
}

StoreResult store_instances(const Server& server, const std::vector<std::string>& files) {
  const std::string boundary = random_boundary();
  std::string body;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw Error(ExitCode::NotFound, "cannot read '" + f + "' to store it");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + bytes.str() + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  http::Request q = request_for(server, server.base_url + "/studies");
  q.method = "POST";
  q.body = std::move(body);
  q.headers = {"Content-Type: multipart/related; type=\"application/dicom\"; boundary=" + boundary,
               "Accept: application/dicom+json"};
  const std::string what = "storing " + std::to_string(files.size()) + " instance(s)";
  http::Response r;
  try {
    r = http::perform(q);
  } catch (const Error& e) {
    throw e.with_context(what);
  }
  http::check_status(r, q, what);
  StoreResult result;
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(r.body.empty() ? std::string("{}") : r.body);
  } catch (const nlohmann::json::exception&) {
    throw Error(ExitCode::Remote, what + ": POST " + http::redact_url(q.url) + ": the answer is not JSON");
  }
  auto items = [&](const char* tag) {
    std::vector<nlohmann::json> out;
    if (answer.is_object() && answer.contains(tag) && answer[tag].contains("Value") && answer[tag]["Value"].is_array())
      for (const auto& v : answer[tag]["Value"]) out.push_back(v);
    return out;
  };
  result.stored = static_cast<int>(items("00081199").size());
  for (const auto& f : items("00081198"))
    result.failed.push_back(json_value(f, "00081155") + " (reason " + json_value(f, "00081197") + ")");
  if (!result.failed.empty()) {
    std::string list;
    for (const std::string& s : result.failed) list += "\n  " + s;
    throw Error(ExitCode::Remote, what + ": POST " + http::redact_url(q.url) + ": the server refused " +
                                      std::to_string(result.failed.size()) + " instance(s):" + list);
  }
  if (result.stored != static_cast<int>(files.size()))
    throw Error(ExitCode::Remote, what + ": POST " + http::redact_url(q.url) + ": the server lists " +
                                      std::to_string(result.stored) + " instance(s) as stored, not " +
                                      std::to_string(files.size()));
  return result;
}

}  // namespace pulmo::dicomweb
