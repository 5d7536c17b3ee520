// Quantification jobs: one CT to a report folder (written under a temporary name, then renamed).
#include <ATen/ATen.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>

#include "app/names.h"
#include "app/output_folder.h"
#include "app/series_kind.h"
#include "pulmo/dataset.h"
#include "core/tempfile.h"
#include "pulmo/dicomweb.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"
#include "pulmo/job.h"
#include "pulmo/pipeline.h"
#include "pulmo/quantify.h"
#include "pulmo/report.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

std::string case_id_of(const std::string& input) {
  fs::path p = fs::path(input).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  strip_volume_extension(name, /*dicom=*/true);
  return name.empty() ? "case" : name;
}

std::string mask_extension(const std::string& format, const SourceInfo& src) {
  if (format != "input") return "." + format;
  switch (src.format) {
    case FileFormat::Nrrd: return ".nrrd";
    case FileFormat::MetaImage: return ".mha";
    case FileFormat::Nifti: return src.path.size() > 3 && src.path.compare(src.path.size() - 3, 3, ".gz") == 0 ? ".nii.gz" : ".nii";
    default: return ".nii.gz";
  }
}

// A hidden sibling of `folder` to write into; removed on failure unless committed.
class TemporaryFolder {
 public:
  explicit TemporaryFolder(const std::string& folder) : target_(fs::path(folder).lexically_normal()) {
    if (target_.filename().empty()) target_ = target_.parent_path();
    const fs::path parent = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (!fs::is_directory(parent, ec))
      throw Error(ExitCode::WriteFailed, "cannot create the folder '" + parent.string() + "' for '" + folder + "'");
    const std::string prefix = "." + target_.filename().string() + ".tmp-";
    remove_stale(parent, prefix);
    path_ = parent / (prefix + std::to_string(::getpid()) + "-dir");
    fs::remove_all(path_, ec);
    if (!fs::create_directory(path_, ec))
      throw Error(ExitCode::WriteFailed, "cannot create '" + path_.string() + "': " + ec.message());
    path_ = fs::absolute(path_, ec);
    register_temporary_folder(path_.string());  // a SIGINT / SIGTERM removes it
  }
  ~TemporaryFolder() {
    std::error_code ec;
    if (!committed_) fs::remove_all(path_, ec);
    forget_temporary_folder(path_.string());
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

  // Folders of this scheme left by a run that was killed (SIGKILL, power loss): their process no longer exists.
  static void remove_stale(const fs::path& parent, const std::string& prefix) {
    remove_stale_temporary_folders(parent.string(), prefix, "-dir");
  }
  void commit(bool overwrite) {
    std::error_code ec;
    fs::path old;
    if (fs::exists(target_, ec) || fs::is_symlink(target_, ec)) {
      // checked again here: only a report folder pulmo wrote is replaced (it may have appeared during the run)
      check_output_folder(target_.string(), overwrite, {});
      old = target_.parent_path() / ("." + target_.filename().string() + ".old-" + std::to_string(::getpid()));
      fs::rename(target_, old, ec);
      if (ec) throw Error(ExitCode::WriteFailed, "cannot replace '" + target_.string() + "': " + ec.message());
    }
    fs::rename(path_, target_, ec);
    if (ec) {
      if (!old.empty()) fs::rename(old, target_, ec);
      throw Error(ExitCode::WriteFailed, "cannot rename the report folder into '" + target_.string() + "'");
    }
    committed_ = true;
    if (!old.empty()) fs::remove_all(old, ec);
  }

 private:
  fs::path target_, path_;
  bool committed_ = false;
};

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

// A DICOMweb input, checked before any work: the server, the UIDs, the credentials (Usage, NotFound, BadConfig).
dicomweb::Server dicomweb_server(const std::string& input, const QuantifyJobOptions& o, std::vector<std::string>& warnings) {
  dicomweb::Server s = dicomweb::server_from_input(input);
  if (o.study.empty() || o.series.empty())
    throw Error(ExitCode::Usage, "a DICOMweb input needs --study and --series (the Study and Series Instance UIDs)");
  s.credentials = http::load_credentials(o.credentials_file, "PULMO_DICOMWEB", &warnings);
  s.ca_file = o.ca_file;
  if (!s.credentials.empty() && s.base_url.compare(0, 7, "http://") == 0) {
    const std::string host = s.base_url.substr(7, s.base_url.find_first_of(":/", 7) - 7);
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]")
      warnings.push_back("credentials sent to " + host + " without encryption (http://): use https://");
  }
  if (!o.ca_file.empty() && s.base_url.compare(0, 8, "https://") != 0)
    throw Error(ExitCode::Usage, "--ca-file is for an https:// server");
  return s;
}

// "out/case1/" -> "out/case1.SUFFIX": a sibling name for a temporary folder of `folder`'s run.
std::string sibling_of(const std::string& folder, const std::string& suffix) {
  fs::path p = fs::path(folder).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.string() + suffix;
}

}  // namespace

CaseOutcome quantify_to_folder(const std::string& input, const std::string& folder, const QuantifyJobOptions& o) {
  const auto t0 = Clock::now();
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  CaseOutcome out;
  out.input = input;
  out.folder = folder;
  std::vector<std::string> warnings;
  const bool remote = dicomweb::is_dicomweb_input(input);
  std::optional<dicomweb::Server> pacs;
  if (remote) {
    pacs = dicomweb_server(input, o, warnings);
    if (o.store && !o.dicom_seg) throw Error(ExitCode::Usage, "--store stores segmentation.dcm: it contradicts --no-dicom-seg");
  } else if (o.store || !o.study.empty()) {
    throw Error(ExitCode::Usage, std::string(o.store ? "--store" : "--study") + " is for a DICOMweb input (dicomweb+http://...)");
  }
  out.case_id = o.case_id.empty() ? (remote ? o.series : case_id_of(input)) : o.case_id;
  check_output_folder(folder, o.overwrite, {remote ? std::string() : input, o.lung_mask});  // before any work
  const InputWindow input_window = parse_input_window(o.input_window);  // Usage error before any work

  ReportMeta meta;
  meta.case_id = out.case_id;
  meta.input_path = remote ? http::redact_url(input) + "/studies/" + o.study + "/series/" + o.series : input;
  // Read (a DICOMweb series: found, then fetched into a temporary folder beside the output, removed at the end).
  auto stage_t0 = Clock::now();
  std::unique_ptr<TemporaryFolder> download;
  std::string read_path = input;
  if (pacs) {
    const dicomweb::SeriesInfo info = dicomweb::find_series(*pacs, o.study, o.series);
    if (judge_series(info.modality, info.manufacturer).kind != SeriesKind::Quantify)
      throw Error(ExitCode::NoData, "series " + o.series + " on " + pacs->base_url + " is " + info.modality +
                                        (info.description.empty() ? "" : " ('" + info.description + "')") +
                                        ", not CT: pulmo quantifies chest CT");
    say("fetching series " + o.series + " from " + pacs->base_url +
        (info.instances > 0 ? " (" + std::to_string(info.instances) + " instances)" : ""));
    download = std::make_unique<TemporaryFolder>(sibling_of(folder, ".dicomweb"));
    // A long fetch shows its progress: a line at each tenth of a series of 100 instances or more (every 100
    // instances when the server did not say how many).
    const int step = info.instances >= 100 ? (info.instances + 9) / 10 : info.instances > 0 ? 0 : 100;
    const std::vector<std::string> files =
        dicomweb::fetch_series(*pacs, o.study, o.series, download->path(), [&](int received) {
          if (step > 0 && received % step == 0)
            say("fetched " + std::to_string(received) + (info.instances > 0 ? "/" + std::to_string(info.instances) : "") +
                " instances");
        });
    // A series deleted or changed on the server while it was fetched may come short (or long): never quantify a part.
    if (info.instances > 0 && files.size() != static_cast<size_t>(info.instances))
      throw Error(ExitCode::Remote, "series " + o.series + " on " + pacs->base_url + ": the server listed " +
                                        std::to_string(info.instances) + " instances but sent " + std::to_string(files.size()) +
                                        " (was the series changed or deleted while it was fetched?)");
    uintmax_t bytes = 0;
    for (const std::string& f : files) {
      std::error_code ec;
      bytes += fs::file_size(f, ec);
    }
    say("fetched " + std::to_string(files.size()) + " instances, " + fixed(bytes / 1048576.0, 1) + " MiB, in " +
        fixed(std::chrono::duration<double>(Clock::now() - stage_t0).count(), 1) + " s");
    read_path = download->path();
  }
  ReadOptions ro;
  ro.series_uid = o.series;
  SourceInfo src;
  Volume ct = read_volume(read_path, ro, &src);
  for (const auto& w : src.warnings) warnings.push_back(w);
  if (input_window.mode != InputWindow::Mode::None) {
    const GreyToHu mapping = grey_to_hu_for(input_window, ct.voxels, "--input-window");
    ct.voxels = apply_grey_to_hu(ct.voxels, mapping);
    // The 8-bit warning of the reader is answered by the mapping.
    warnings.erase(std::remove_if(warnings.begin(), warnings.end(),
                                  [](const std::string& w) { return w.find("windowed 8-bit image") != std::string::npos; }),
                   warnings.end());
    warnings.push_back("8-bit windowed input mapped to HU (--input-window, " + mapping.method +
                       "): densitometry is only as exact as that mapping");
  }
  meta.input_format = format_name(src.format);
  meta.input_geometry = ct.geometry;
  meta.timings.push_back({"read", std::chrono::duration<double>(Clock::now() - stage_t0).count()});
  say("read " + meta.input_path + ": " + ct.geometry.describe());
  if (ct.geometry.spacing_mm[2] > 5.0 + 1e-6 && ct.is_3d())
    warnings.push_back("thick slices (" + fixed(ct.geometry.spacing_mm[2], 1) + " mm): volumes of small lesions are uncertain");

  // Cascade.
  CascadeOptions co;
  co.models_dir = o.models;
  co.lungs = o.lungs;
  co.lesions = o.lesions;
  co.tta_flip = o.tta;
  co.mc_dropout = o.mc_dropout;
  co.bfloat16 = o.bfloat16;
  co.progress = o.progress;
  if (!o.lung_mask.empty()) {
    co.lungs = "mask";
    const Volume mask = align_labels(read_volume(o.lung_mask), ct.geometry, "lung mask '" + o.lung_mask + "'");
    co.lung_mask = adapt_lungs(mask, o.lung_mask_convention);
  }
  CascadeResult r = run_cascade(ct, co);
  for (const auto& w : r.warnings) warnings.push_back(w);

  // Quantify.
  stage_t0 = Clock::now();
  Quantification q = quantify(ct, r.lungs, r.lesions);
  q.lesion_types_known = r.lesion_types_known;
  if (!r.pass_involvement.empty()) {
    for (int k = 0; k < 3; ++k) {
      double m = 0, s = 0;
      for (const auto& p : r.pass_involvement) m += p[k];
      m /= r.pass_involvement.size();
      for (const auto& p : r.pass_involvement) s += (p[k] - m) * (p[k] - m);
      q.regions[k].involved_percent_sd = r.pass_involvement.size() > 1 ? std::sqrt(s / (r.pass_involvement.size() - 1)) : 0.0;
    }
  }
  meta.timings.push_back({"quantify", std::chrono::duration<double>(Clock::now() - stage_t0).count()});

  // Write.
  stage_t0 = Clock::now();
  TemporaryFolder tmp(folder);
  const std::string ext = mask_extension(o.format, src);
  Volume lungs = r.lungs;
  write_volume(lungs, tmp.file("lungs" + ext));
  if (r.lesions.voxels.defined()) write_volume(r.lesions, tmp.file("lesions" + ext));
  if (o.dicom_seg && (src.format == FileFormat::DicomSeries || src.format == FileFormat::Dicom)) {
    std::vector<std::string> files{src.path};
    for (const DicomSeriesInfo& s : src.series)
      if (s.series_uid == src.series_uid) files = s.files;
    try {
      const DicomSegWritten seg =
          write_report_dicom_seg(tmp.file("segmentation.dcm"), r.lungs, r.lesions, r.lesion_types_known, files);
      for (const std::string& w : seg.warnings) warnings.push_back("segmentation.dcm: " + w);
      // the numbers as a TID 1500 measurement report about the SEG's segments
      write_report_dicom_sr(tmp.file("measurements.dcm"), tmp.file("segmentation.dcm"), seg.segments, q);
    } catch (const Error& e) {
      // a series pulmo read but whose images do not map one to one onto slices: the masks are still written
      if (e.code() != ExitCode::Mismatch) throw;
      warnings.push_back(std::string("no segmentation.dcm: ") + e.what());
    }
  }
  meta.lung_method = r.lung_method;
  for (const StageRecord& s : r.stages) {
    meta.timings.push_back({s.stage, s.seconds});
    if (!s.model_folder.empty())
      meta.models.push_back({s.stage, s.model_name, s.stage, s.model_folder, s.format_version, s.weights_sha256});
  }
  meta.tta = o.tta;
  meta.viewer = o.viewer;
  meta.mc_dropout_passes = o.mc_dropout;
  meta.precision = r.precision;
  meta.has_lung_box = r.has_box;
  meta.lung_box_mm = r.box_mm;
  meta.warnings = warnings;
  meta.timings.push_back({"write", std::chrono::duration<double>(Clock::now() - stage_t0).count()});
  write_text_atomic(tmp.file(kOutputMarker), output_marker_text());
  write_report_json(tmp.file("report.json"), q, meta);
  write_report_csv(tmp.file("report.csv"), q, meta);
  if (o.html) write_report_html(tmp.file("report.html"), ct, r.lungs, r.lesions, q, meta);
  tmp.commit(o.overwrite);
  if (pacs && o.store) {
    std::vector<std::string> results;
    for (const char* name : {"segmentation.dcm", "measurements.dcm"}) {
      const std::string file = (fs::path(folder) / name).string();
      std::error_code ec;
      if (fs::is_regular_file(file, ec)) results.push_back(file);
    }
    if (results.empty())
      throw Error(ExitCode::Mismatch, "the report folder '" + folder + "' was written, but it holds no segmentation.dcm to "
                                      "store (see its warnings)");
    try {
      dicomweb::store_instances(*pacs, results);
    } catch (const Error& e) {
      throw e.with_context("the report folder '" + folder + "' was written, but storing its DICOM results on " +
                           pacs->base_url + " failed");
    }
    out.stored = results;
    say("stored " + std::to_string(results.size()) + " DICOM result(s) on " + pacs->base_url);
  }
  out.csv_header = report_csv_header();
  out.csv_row = report_csv_row(q, meta);
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const char* names[3] = {"right lung", "left lung ", "both lungs"};
  for (int k = 0; k < 3; ++k) {
    const RegionQuantification& g = q.regions[k];
    std::string line = std::string(names[k]) + ": " + fixed(g.lung_ml, 0) + " mL";
    if (q.lesions_computed) {
      line += ", lesions " + fixed(g.lesion_ml, 1) + " mL, involved " + fixed(g.involved_percent, 1) + " %";
      if (g.involved_percent_sd >= 0) line += " (sd " + fixed(g.involved_percent_sd, 1) + ")";
      line += ", CT severity score " + std::to_string(g.severity_score);
    } else {
      line += ", mean " + fixed(g.density.mean_hu, 0) + " HU (lesions not segmented)";
    }
    out.summary_lines.push_back(line);
  }
  out.warnings = warnings;
  return out;
}

}  // namespace pulmo
