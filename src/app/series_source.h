// Where `pulmo serve` finds its series (internal to src/app): a source says which series became stable and gives an
// input for one queued series. Two sources: a folder (make_folder_source) and Orthanc's change feed
// (make_orthanc_source: /changes, the series fetched over DICOMweb, the results stored back).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/queue.h"
#include "pulmo/job.h"

namespace pulmo {

class SeriesSource {
 public:
  virtual ~SeriesSource() = default;
  virtual std::string describe() const = 0;
  // Looks at the source once: the series that became stable since the last look (a series queued before may come
  // again: the queue keeps the first). Throws Error when the source cannot be read (the service says so, waits with
  // a growing delay and looks again).
  virtual std::vector<SeriesItem> poll() = 0;
  // The items of the last poll are in the queue: a source with a position in a feed records it now (durably), so
  // that a restart neither loses nor re-reads them.
  virtual void acknowledge() {}
  // Whether the source has more to say at once (a series still changing, a feed not read to its end).
  virtual bool settling() const = 0;
  // The input to quantify for `row` (a path, or a dicomweb+ address); the source may set options of `job` (the study).
  virtual std::string input_for(const QueueRow& row, QuantifyJobOptions& job) = 0;
  // Whether the complete report folder of a row is delivered somewhere (stored back on a PACS) by publish().
  virtual bool publishes() const { return false; }
  // Delivers the complete report folder `folder` of `row` (throws Error when it cannot); returns a line to log.
  virtual std::string publish(const QueueRow& /*row*/, const std::string& /*folder*/) { return ""; }
  // After a series failed with a network error (Error Remote): whether the source's server answers at all. When it
  // does not, the failure is the server's, not the series': the series goes back to the queue, the attempt not counted.
  virtual bool reachable() { return true; }
};

// Each entry of `folder` is a series: a sub-folder of DICOM files (each series in it is queued by its
// SeriesInstanceUID; a series whose Modality is not CT is queued as skipped), or a NIfTI / NRRD / MetaImage file
// (queued by its name and the SHA-256 of its bytes). Hidden entries are ignored. An entry is stable when its files
// (count, bytes, newest change time) stayed the same for `settle_seconds` and none changed in that time.
std::unique_ptr<SeriesSource> make_folder_source(const std::string& folder, double settle_seconds);

struct OrthancSourceOptions {
  std::string rest_root;       // Orthanc's REST API: http(s)://HOST:PORT[/PREFIX] (no user-info, no trailing slash)
  std::string dicomweb_root;   // its DICOMweb root: a path under rest_root ("/dicom-web") or an http(s):// URL
  std::string since = "now";   // first start only (no position in the queue yet): "now" or a change index (0 = all)
  bool store = false;          // publish(): STOW-RS segmentation.dcm and measurements.dcm back
  std::string credentials_file;  // as quantify's DICOMweb input (pulmo/http.h load_credentials, PULMO_DICOMWEB_*)
  std::string ca_file;
  int page = 100;              // changes read per request
  std::function<void(const std::string&)> log;  // what the source notices (first position, a feed reset, a deletion)
};

// Follows Orthanc's change feed (GET /changes?since=N&limit=M): each StableSeries change is looked up (GET
// /series/ID, /studies/ID) and queued by its SeriesInstanceUID ("dicom:UID", skipped when a Modality other than CT is
// stated);
// the index of the last change read is kept in `queue` (cursor "orthanc REST_ROOT") once its items are queued.
// Throws Error Usage for a malformed address (or one with credentials in it), NotFound / BadConfig for credentials.
std::unique_ptr<SeriesSource> make_orthanc_source(const OrthancSourceOptions& options, SeriesQueue& queue,
                                                  std::vector<std::string>* warnings);

}  // namespace pulmo
