// Where `pulmo serve` finds its series (internal to src/app): a source says which series became stable and gives a
// local input for one queued series. The folder source is the first; a PACS change feed (Orthanc /changes, then the
// series fetched over its REST API or DICOMweb into `scratch`) fits the same interface.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/queue.h"

namespace pulmo {

class SeriesSource {
 public:
  virtual ~SeriesSource() = default;
  virtual std::string describe() const = 0;
  // Looks at the source once: the series that became stable since the last look (a series queued before may come
  // again: the queue keeps the first). Throws Error when the source cannot be read (the service says so and looks
  // again at the next poll).
  virtual std::vector<SeriesItem> poll() = 0;
  // Whether some series seen at the last poll is still changing (not yet stable).
  virtual bool settling() const = 0;
  // A local input for `row` to quantify: a folder source's own path; a remote source fetches into `scratch` (an
  // empty folder the caller removes afterwards).
  virtual std::string input_for(const QueueRow& row, const std::string& scratch) = 0;
};

// Each entry of `folder` is a series: a sub-folder of DICOM files (each series in it is queued by its
// SeriesInstanceUID; a series whose Modality is not CT is queued as skipped), or a NIfTI / NRRD / MetaImage file
// (queued by its name and the SHA-256 of its bytes). Hidden entries are ignored. An entry is stable when its files
// (count, bytes, newest change time) stayed the same for `settle_seconds` and none changed in that time.
std::unique_ptr<SeriesSource> make_folder_source(const std::string& folder, double settle_seconds);

}  // namespace pulmo
