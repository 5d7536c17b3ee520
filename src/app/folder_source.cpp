// The folder source of `pulmo serve`: each entry of the watched folder is a DICOM series folder or an image file.
#include <gdcmReader.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>

#include "app/names.h"
#include "app/series_kind.h"
#include "app/series_source.h"
#include "core/hash.h"
#include "pulmo/error.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

// What changes when a file is added, grows or is rewritten: count, bytes, newest inode change (ctime: set by the
// kernel at each write or rename, even by `cp -p`, which keeps the old mtime).
struct Signature {
  int64_t files = 0, bytes = 0, newest_ns = 0;
  bool operator==(const Signature& o) const { return files == o.files && bytes == o.bytes && newest_ns == o.newest_ns; }
  bool operator!=(const Signature& o) const { return !(*this == o); }
};

void add_file(Signature& s, const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return;
  ++s.files;
  s.bytes += st.st_size;
  const int64_t c = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  const int64_t m = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.newest_ns = std::max({s.newest_ns, c, m});
}

// The Manufacturer (0008,0070) of a DICOM file ("" when it has none or cannot be read).
std::string manufacturer_of(const std::string& file) {
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  const gdcm::Tag tag(0x0008, 0x0070);
  if (!reader.ReadSelectedTags({tag})) return "";
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  if (!ds.FindDataElement(tag)) return "";
  const gdcm::ByteValue* v = ds.GetDataElement(tag).GetByteValue();
  if (!v) return "";
  std::string text(v->GetPointer(), v->GetLength());
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return text;
}

Signature signature_of(const fs::path& entry) {
  Signature s;
  std::error_code ec;
  if (fs::is_directory(entry, ec)) {
    for (auto it = fs::recursive_directory_iterator(entry, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) add_file(s, it->path());
  } else {
    add_file(s, entry);
  }
  return s;
}

// A short hash naming the files of a folder (relative names and sizes), for a folder that is not one DICOM series.
std::string listing_hash(const fs::path& folder) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec))
      lines.push_back(fs::relative(it->path(), folder, ec).string() + " " + std::to_string(it->file_size(ec)));
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  return sha256_hex(all).substr(0, 16);
}

class FolderSource : public SeriesSource {
 public:
  FolderSource(std::string folder, double settle) : folder_(std::move(folder)), settle_(settle) {}

  std::string describe() const override { return "folder " + folder_; }

  std::vector<SeriesItem> poll() override {
    std::error_code ec;
    if (!fs::is_directory(folder_, ec)) throw Error(ExitCode::NotFound, "the watched folder '" + folder_ + "' is gone");
    std::vector<fs::path> entries;
    for (auto it = fs::directory_iterator(folder_, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      entries.push_back(it->path());
    if (ec) throw Error(ExitCode::NotFound, "cannot list the watched folder '" + folder_ + "': " + ec.message());
    std::sort(entries.begin(), entries.end());
    const auto now = Clock::now();
    const int64_t wall_ns = int64_t(std::time(nullptr)) * 1000000000;
    std::map<std::string, Seen> still;
    std::vector<SeriesItem> items;
    settling_ = false;
    for (const fs::path& p : entries) {
      const std::string name = p.filename().string();
      if (name.empty() || name[0] == '.') continue;
      std::string stem = name;
      const bool dir = fs::is_directory(p, ec);
      if (!dir && !(fs::is_regular_file(p, ec) && strip_volume_extension(stem))) continue;  // not an image: ignored
      Seen s = seen_.count(name) ? seen_[name] : Seen{};
      const Signature sig = signature_of(p);
      if (sig.files == 0) continue;  // an empty folder: nothing to wait for yet
      if (!s.known || sig != s.sig) s = Seen{true, sig, now, false};
      const double unchanged = std::chrono::duration<double>(now - s.since).count();
      const double since_change = double(wall_ns - sig.newest_ns) / 1e9;
      if (!s.reported) {
        if (unchanged >= settle_ && since_change >= settle_) {
          try {
            for (SeriesItem& item : describe_entry(p, dir, stem)) items.push_back(std::move(item));
            s.reported = true;
          } catch (const Error&) {
            settling_ = true;  // gone or unreadable while being looked at: looked at again at the next poll
          }
        } else {
          settling_ = true;
        }
      }
      still[name] = s;
    }
    seen_.swap(still);
    return items;
  }

  bool settling() const override { return settling_; }

  std::string input_for(const QueueRow& row, QuantifyJobOptions&) override { return row.locator; }

 private:
  struct Seen {
    bool known = false;
    Signature sig;
    Clock::time_point since;
    bool reported = false;
  };

  std::vector<SeriesItem> describe_entry(const fs::path& p, bool dir, const std::string& stem) const {
    const std::string locator = fs::absolute(p).lexically_normal().string();
    const std::string name = p.filename().string();
    if (!dir) return {{"file:" + name + ":" + sha256_file(locator), locator, "", safe_id(stem), "", ""}};
    const char* no_dicom = "no DICOM image in the folder (image files go directly into the watched folder)";
    std::vector<DicomSeriesInfo> series;
    try {
      series = list_dicom_series(locator);
    } catch (const Error& e) {
      // no DICOM image: skipped; any other problem: queued, so that quantify's own error is recorded and retried
      return {{"folder:" + name + ":" + listing_hash(p), locator, "", safe_id(name), e.code() == ExitCode::NoData ? no_dicom : "", ""}};
    }
    if (series.empty()) return {{"folder:" + name + ":" + listing_hash(p), locator, "", safe_id(name), no_dicom, ""}};
    std::vector<SeriesItem> items;
    for (const DicomSeriesInfo& s : series) {
      SeriesItem item;
      item.locator = locator;
      item.series_uid = s.series_uid;
      item.key = s.series_uid.empty() ? "folder:" + name + ":" + listing_hash(p) : "dicom:" + s.series_uid;
      item.name = safe_id(series.size() > 1 ? name + "_" + s.series_uid : name);
      const bool result_like = s.modality == "SEG" || s.modality == "SR";  // (only then is the Manufacturer read)
      const SeriesVerdict verdict = judge_series(s.modality, result_like ? manufacturer_of(s.files.front()) : "");
      (verdict.kind == SeriesKind::PulmoResult ? item.ignore_reason : item.skip_reason) = verdict.reason;
      items.push_back(item);
    }
    return items;
  }

  std::string folder_;
  double settle_;
  std::map<std::string, Seen> seen_;
  bool settling_ = false;
};

}  // namespace

std::unique_ptr<SeriesSource> make_folder_source(const std::string& folder, double settle_seconds) {
  return std::make_unique<FolderSource>(folder, settle_seconds);
}

}  // namespace pulmo
