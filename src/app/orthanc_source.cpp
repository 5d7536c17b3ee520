// The Orthanc source of `pulmo serve`: Orthanc's change feed (REST /changes), each stable series looked up over the
// REST API, fetched and stored back over DICOMweb (pulmo/dicomweb.h) by quantify and publish().
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "app/names.h"
#include "app/series_kind.h"
#include "app/series_source.h"
#include "pulmo/dicomweb.h"
#include "pulmo/error.h"
#include "pulmo/http.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

class OrthancSource : public SeriesSource {
 public:
  OrthancSource(const OrthancSourceOptions& o, SeriesQueue& queue, std::vector<std::string>* warnings)
      : options_(o), queue_(queue) {
    // The same checks as a DICOMweb input of quantify: http(s) only, no credentials in the address.
    for (const std::string& url : {o.rest_root, o.dicomweb_root})
      if (!url.empty() && url[0] != '/' && url.compare(0, 7, "http://") != 0 && url.compare(0, 8, "https://") != 0)
        throw Error(ExitCode::Usage, "'" + http::redact_url(url) + "' is not an http:// or https:// address (--orthanc, "
                                     "--dicomweb-root)");
    rest_ = dicomweb::server_from_input("dicomweb+" + o.rest_root);
    const std::string root = o.dicomweb_root.empty() ? "/dicom-web" : o.dicomweb_root;
    web_ = dicomweb::server_from_input("dicomweb+" + (root[0] == '/' ? rest_.base_url + root : root));
    // Loaded once here for the REST calls (errors at start, not at the first series); quantify loads them again from
    // the same file or environment for each series.
    rest_.credentials = http::load_credentials(o.credentials_file, "PULMO_DICOMWEB", warnings);
    web_.credentials = rest_.credentials;
    rest_.ca_file = web_.ca_file = o.ca_file;
    auto https = [](const std::string& url) { return url.compare(0, 8, "https://") == 0; };
    if (!o.ca_file.empty() && !(https(rest_.base_url) && https(web_.base_url)))
      throw Error(ExitCode::Usage, "--ca-file is for an https:// server");
    if (warnings && !rest_.credentials.empty())
      for (const std::string& url : {rest_.base_url, web_.base_url}) {
        if (https(url)) continue;
        const std::string host = url.substr(7, url.find_first_of(":/", 7) - 7);
        if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
          warnings->push_back("credentials sent to " + host + " without encryption (http://): use https://");
          break;
        }
      }
    rest_.connect_timeout_s = 10;
    rest_.stall_timeout_s = 60;
    if (o.since != "now") {
      try {
        size_t used = 0;
        since_ = std::stoll(o.since, &used);
        if (used != o.since.size() || since_ < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw Error(ExitCode::Usage, "--since '" + o.since + "' is neither 'now' nor a change index (0, 1, 2, ...)");
      }
    }
    cursor_name_ = "orthanc " + rest_.base_url;
  }

  std::string describe() const override {
    return "Orthanc " + rest_.base_url + " (change feed; series over DICOMweb " + web_.base_url + ")";
  }

  // Reads the feed page by page until it found series or reached the feed's end (at most 20 pages a look).
  std::vector<SeriesItem> poll() override {
    if (!position_) start();
    pending_ = position_;
    std::vector<SeriesItem> items;
    for (int pages = 0; pages < 20 && items.empty(); ++pages) {
      bool done = true;
      read_page(*pending_, items, done);
      settling_ = !done;
      if (done) break;
    }
    return items;
  }

  // One page of changes after `from`: the stable series into `items`, the new position into pending_.
  void read_page(int64_t from, std::vector<SeriesItem>& items, bool& done) {
    const nlohmann::json page = get("/changes?since=" + std::to_string(from) + "&limit=" + std::to_string(options_.page),
                                    "reading the change feed");
    if (!page.is_object() || !page.contains("Changes") || !page["Changes"].is_array() || !page.contains("Last") ||
        !page["Last"].is_number_integer())
      throw Error(ExitCode::Remote, "GET " + rest_.base_url + "/changes: not Orthanc's answer (no Changes and Last)");
    const int64_t last = page["Last"].get<int64_t>();
    done = page.value("Done", true);
    if (page["Changes"].empty() && from > 0) {
      // Nothing new (Orthanc then answers Last = since): does the feed still reach the position read? When it ends
      // before it, Orthanc's database was replaced or reset: read it from its start again. Series queued before are
      // not queued again (the queue knows their SeriesInstanceUID).
      const int64_t end = feed_end();
      if (end < from) {
        say("Orthanc's change feed ends at " + std::to_string(end) + ", before the position read (" +
            std::to_string(from) + "): its database was replaced; reading the feed again from its start");
        pending_ = 0;
        done = false;
        return;
      }
    }
    for (const nlohmann::json& c : page["Changes"]) {
      if (!c.is_object() || c.value("ChangeType", "") != "StableSeries" || !c.contains("ID") || !c["ID"].is_string()) continue;
      SeriesItem item;
      if (describe_series(c["ID"].get<std::string>(), item)) items.push_back(item);
    }
    pending_ = std::max(last, from);
  }

  void acknowledge() override {
    if (!pending_ || !position_ || *pending_ == *position_) return;
    queue_.set_cursor(cursor_name_, *pending_);
    position_ = pending_;
  }

  bool settling() const override { return settling_; }

  std::string input_for(const QueueRow& row, QuantifyJobOptions& job) override {
    job.study = study_of(row);
    job.credentials_file = options_.credentials_file;
    job.ca_file = options_.ca_file;
    return "dicomweb+" + web_.base_url;
  }

  bool publishes() const override { return options_.store; }

  std::string publish(const QueueRow& row, const std::string& folder) override {
    if (!options_.store) return "";
    std::vector<std::string> files;
    for (const char* name : {"segmentation.dcm", "measurements.dcm"}) {
      std::error_code ec;
      const fs::path f = fs::path(folder) / name;
      if (fs::is_regular_file(f, ec)) files.push_back(f.string());
    }
    if (files.empty())
      throw Error(ExitCode::Mismatch, "the report folder '" + folder + "' holds no segmentation.dcm to store (see its warnings)");
    dicomweb::Server web = web_;
    web.credentials = http::load_credentials(options_.credentials_file, "PULMO_DICOMWEB");
    try {
      // A series deleted from the server since it was fetched: its results are not stored into the study (the
      // report folder stays; the row fails, then is parked, with this error).
      dicomweb::find_series(web, study_of(row), row.series_uid);
    } catch (const Error& e) {
      if (e.code() != ExitCode::NotFound) throw;
      throw e.with_context("the report folder '" + folder + "' is written, but the series is no longer on " + web.base_url +
                           " (deleted since it was fetched?): its results are not stored");
    }
    try {
      dicomweb::store_instances(web, files);
    } catch (const Error& e) {
      throw e.with_context("the report folder '" + folder + "' is written, but storing its DICOM results on " + web.base_url + " failed");
    }
    return "stored " + std::to_string(files.size()) + " DICOM result(s) on " + web.base_url;
  }

  bool reachable() override {
    http::Request q = request("/system");
    q.connect_timeout_s = 5;
    q.timeout_s = 10;
    try {
      return http::perform(q).status != 0;
    } catch (const Error&) {
      return false;
    }
  }

 private:
  http::Request request(const std::string& path) const {
    http::Request q;
    q.url = rest_.base_url + path;
    q.credentials = rest_.credentials;
    q.ca_file = rest_.ca_file;
    q.connect_timeout_s = rest_.connect_timeout_s;
    q.stall_timeout_s = rest_.stall_timeout_s;
    q.timeout_s = 120;
    return q;
  }

  // GET path as JSON; `status` (when given) receives a 404 instead of an error.
  nlohmann::json get(const std::string& path, const std::string& what, long* status = nullptr) const {
    const http::Request q = request(path);
    http::Response r;
    try {
      r = http::perform(q);
    } catch (const Error& e) {
      throw e.with_context(what);
    }
    if (status) {
      *status = r.status;
      if (r.status == 404) return nullptr;
    }
    http::check_status(r, q, what);
    try {
      return nlohmann::json::parse(r.body);
    } catch (const nlohmann::json::exception&) {
      throw Error(ExitCode::Remote, what + ": GET " + http::redact_url(q.url) + ": the answer is not JSON");
    }
  }

  // The first position: the queue's (a restart), else --since ("now": the feed's current end, recorded at once so
  // that what arrives before the first series is not skipped by a restart).
  void start() {
    if (const auto stored = queue_.cursor(cursor_name_)) {
      position_ = *stored;
      return;
    }
    int64_t first = since_;
    if (options_.since == "now") first = feed_end();
    queue_.set_cursor(cursor_name_, first);
    position_ = first;
    say("first start on this queue: reading Orthanc's change feed from change " + std::to_string(first) +
        (options_.since == "now" ? " (its end: series that become stable from now on; --since 0 for all)" : ""));
  }

  // The index of the last change in Orthanc's feed (0 when empty).
  int64_t feed_end() const {
    const nlohmann::json last = get("/changes?last", "reading the end of the change feed");
    if (!last.is_object() || !last.contains("Last") || !last["Last"].is_number_integer())
      throw Error(ExitCode::Remote, "GET " + rest_.base_url + "/changes?last: not Orthanc's answer (no Last)");
    return last["Last"].get<int64_t>();
  }

  void say(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  static std::string tag(const nlohmann::json& resource, const char* name) {
    if (!resource.is_object() || !resource.contains("MainDicomTags") || !resource["MainDicomTags"].is_object()) return "";
    const nlohmann::json& t = resource["MainDicomTags"];
    return t.contains(name) && t[name].is_string() ? t[name].get<std::string>() : "";
  }

  // A stable series as a queue item; false when Orthanc no longer has it (deleted since the change).
  bool describe_series(const std::string& id, SeriesItem& item) const {
    if (id.find_first_of("/?#%") != std::string::npos) return false;
    long status = 0;
    const nlohmann::json series = get("/series/" + id, "looking up series " + id, &status);
    if (status == 404) {
      say("Orthanc series " + id + " was deleted before it could be looked at: nothing to queue");
      return false;
    }
    const std::string study_id = series.value("ParentStudy", "");
    if (study_id.empty() || study_id.find_first_of("/?#%") != std::string::npos)
      throw Error(ExitCode::Remote, "GET " + rest_.base_url + "/series/" + id + ": no ParentStudy");
    const nlohmann::json study = get("/studies/" + study_id, "looking up the study of series " + id, &status);
    if (status == 404) return false;
    const std::string study_uid = tag(study, "StudyInstanceUID"), series_uid = tag(series, "SeriesInstanceUID");
    if (study_uid.empty() || series_uid.empty())
      throw Error(ExitCode::Remote, "Orthanc series " + id + " has no StudyInstanceUID or SeriesInstanceUID");
    const std::string modality = tag(series, "Modality");
    item.key = "dicom:" + series_uid;
    item.series_uid = series_uid;
    item.locator = web_.base_url + "/studies/" + study_uid + "/series/" + series_uid;
    item.name = safe_id(series_uid);
    const SeriesVerdict verdict = judge_series(modality, tag(series, "Manufacturer"));
    (verdict.kind == SeriesKind::PulmoResult ? item.ignore_reason : item.skip_reason) = verdict.reason;
    return true;
  }

  // The StudyInstanceUID in a row's locator (BASE/studies/STUDY/series/SERIES).
  static std::string study_of(const QueueRow& row) {
    const std::string& l = row.locator;
    const size_t s = l.rfind("/studies/"), e = l.rfind("/series/");
    if (s == std::string::npos || e == std::string::npos || e < s)
      throw Error(ExitCode::BadConfig, "queue row " + row.output + ": '" + l + "' is not a DICOMweb series address");
    return l.substr(s + 9, e - s - 9);
  }

  OrthancSourceOptions options_;
  SeriesQueue& queue_;
  dicomweb::Server rest_, web_;
  std::string cursor_name_;
  int64_t since_ = 0;
  std::optional<int64_t> position_, pending_;
  bool settling_ = false;
};

}  // namespace

std::unique_ptr<SeriesSource> make_orthanc_source(const OrthancSourceOptions& options, SeriesQueue& queue,
                                                  std::vector<std::string>* warnings) {
  return std::make_unique<OrthancSource>(options, queue, warnings);
}

}  // namespace pulmo
