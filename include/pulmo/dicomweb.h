// DICOMweb (PS3.18) client: QIDO-RS to find a series, WADO-RS to fetch its instances, STOW-RS to store results,
// over pulmo/http.h. Tested against Orthanc with its DICOMweb plugin (docs/integration.md).
//
//   pulmo::dicomweb::Server pacs = pulmo::dicomweb::server_from_input("dicomweb+http://127.0.0.1:8042/dicom-web");
//   pacs.credentials = pulmo::http::load_credentials("");          // environment PULMO_DICOMWEB_*, or none
//   auto info = pulmo::dicomweb::find_series(pacs, study_uid, series_uid);   // NotFound when not on the server
//   auto files = pulmo::dicomweb::fetch_series(pacs, study_uid, series_uid, "/tmp/series");  // one .dcm per instance
//   pulmo::dicomweb::store_instances(pacs, {"out/segmentation.dcm"});
//
// Failures throw pulmo::Error: Usage (a malformed dicomweb+ URL, or one with credentials in it), NotFound (no such
// study or series), Remote (the server cannot be reached, answers with an error, or breaks the protocol), WriteFailed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "pulmo/http.h"

namespace pulmo::dicomweb {

struct Server {
  std::string base_url;          // http(s)://host:port/prefix, the DICOMweb root (no trailing slash)
  http::Credentials credentials;
  std::string ca_file;           // HTTPS: the CA bundle to verify the server with ("" = the system's)
  double connect_timeout_s = 15; // per request
  double stall_timeout_s = 120;  // a transfer that stays under 1 byte/s this long is abandoned
};

// True for an input that names a DICOMweb server: "dicomweb+http://..." or "dicomweb+https://...".
bool is_dicomweb_input(const std::string& input);
// The server of such an input (the "dicomweb+" dropped, trailing slashes removed). Error(Usage) for anything else,
// and for a URL with user-info ("user:password@"): credentials never go on the command line.
Server server_from_input(const std::string& input);

struct SeriesInfo {
  std::string study_uid, series_uid;
  std::string modality;          // (0008,0060), "" when the server does not say
  std::string description;       // (0008,103E)
  std::string manufacturer;      // (0008,0070), "" when the server does not say
  int instances = -1;            // Number of Series Related Instances (0020,1209); -1 when not given
};

// QIDO-RS: GET {base}/studies/{study}/series?SeriesInstanceUID={series}. Error(NotFound) when the server has no such
// series in that study (an empty answer, or 404); Error(Remote) when the answer is not the JSON DICOMweb promises.
SeriesInfo find_series(const Server& server, const std::string& study_uid, const std::string& series_uid);

// WADO-RS: GET {base}/studies/{study}/series/{series} as multipart/related; type="application/dicom", in the
// transfer syntax the server stores them (transfer-syntax=*), streamed part by part into `folder` (created) as
// 000001.dcm, 000002.dcm, ...; each part is checked to be a DICOM file (its "DICM" preamble). Returns the files.
// `progress` (optional) is called with the count of instances received so far.
std::vector<std::string> fetch_series(const Server& server, const std::string& study_uid, const std::string& series_uid,
                                      const std::string& folder,
                                      const std::function<void(int instances)>& progress = nullptr);

// What a STOW-RS answer said.
struct StoreResult {
  int stored = 0;                          // instances the server lists as stored (Referenced SOP Sequence)
  std::vector<std::string> failed;         // SOP Instance UIDs it lists as failed (Failed SOP Sequence), with reasons
};

// STOW-RS: POST {base}/studies, the files as one multipart/related; type="application/dicom" body. Error(Remote)
// when the server refuses the request or lists any instance as failed.
StoreResult store_instances(const Server& server, const std::vector<std::string>& files);

// The boundary parameter of a multipart Content-Type ("multipart/related; type=...; boundary=XYZ"), unquoted;
// "" when there is none.
std::string multipart_boundary(const std::string& content_type);

}  // namespace pulmo::dicomweb
