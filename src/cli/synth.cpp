// pulmo synth: synthetic chest CTs (or synthetic lesions in a real CT) with their label maps and a manifest.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"
#include "pulmo/synth.h"

namespace fs = std::filesystem;

namespace pulmo::cli {

namespace {

struct SynthArgs {
  std::string out, size = "160,160,96", spacing = "0.8,0.8,2.5", involvement = "0.2", insert_into, lung_mask, shapes;
  int count = 1;
  uint64_t seed = 0;
  double consolidation = 0.3, noise = 15.0, z_coverage = 0.0;
  bool crazy_paving = false;
};

std::vector<double> parse_list(const std::string& text, char sep, size_t n, const std::string& option) {
  std::vector<double> values;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(sep, start), text.size());
    const std::string item = text.substr(start, end - start);
    char* stop = nullptr;
    const double v = std::strtod(item.c_str(), &stop);
    if (item.empty() || *stop != '\0') throw Error(ExitCode::Usage, option + ": '" + text + "' is not a number list");
    if (!std::isfinite(v)) throw Error(ExitCode::Usage, option + ": '" + item + "' is not a finite number");
    values.push_back(v);
    start = end + 1;
  }
  if (values.size() != n && !(n == 2 && values.size() == 1))
    throw Error(ExitCode::Usage, option + ": expected " + std::to_string(n) + " values separated by '" + sep + "', got '" + text + "'");
  return values;
}

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

// One synthetic case: its options and where it goes.
synth::PhantomOptions case_options(const SynthArgs& a, int index, const std::vector<double>& involvement) {
  synth::PhantomOptions o;
  const auto size = parse_list(a.size, ',', 3, "--size");
  const auto spacing = parse_list(a.spacing, ',', 3, "--spacing");
  for (int k = 0; k < 3; ++k) {
    if (size[k] != static_cast<double>(static_cast<int64_t>(size[k]))) throw Error(ExitCode::Usage, "--size: voxel counts must be integers");
    o.size[k] = static_cast<int64_t>(size[k]);
    o.spacing_mm[k] = spacing[k];
  }
  o.seed = synth::case_seed(a.seed, static_cast<uint64_t>(index));
  const double lo = involvement[0], hi = involvement.size() > 1 ? involvement[1] : involvement[0];
  if (hi < lo) throw Error(ExitCode::Usage, "--involvement MIN:MAX needs MIN <= MAX");
  o.involvement = lo + (hi - lo) * static_cast<double>(o.seed % 1000003) / 1000002.0;
  o.consolidation_fraction = a.consolidation;
  o.crazy_paving = a.crazy_paving;
  o.noise_hu = a.noise;
  o.lung_z_coverage = a.z_coverage;
  synth::validate(o);
  return o;
}

// CT stored like a scanner's: int16 HU clamped to -1024..3071.
Volume ct_for_disk(const Volume& ct) { return ct.with_voxels(ct.voxels.round().clamp(-1024, 3071).to(at::kShort)); }

int run_synth(const SynthArgs& a, const GlobalOptions& global) {
  if (a.count < 1 || a.count > 100000) throw Error(ExitCode::Usage, "--count must lie in 1..100000");
  const auto involvement = parse_list(a.involvement, ':', 2, "--involvement");
  for (int i = 0; i < a.count; ++i) (void)case_options(a, i, involvement);  // every option checked before any output
  std::error_code ec;
  if (fs::exists(a.out, ec) && !fs::is_directory(a.out, ec))
    throw Error(ExitCode::WriteFailed, "--out '" + a.out + "' exists and is not a folder");
  Volume real_ct, real_mask;
  std::string patient;
  if (!a.insert_into.empty()) {
    ReadOptions ro;
    ro.require_3d = true;
    real_ct = read_volume(a.insert_into, ro);
    real_mask = read_volume(a.lung_mask, ro);
    for (const auto& w : hu_plausibility_warnings(real_ct)) warn(a.insert_into + ": " + w);
    patient = fs::path(a.insert_into).filename().string();
    patient = patient.substr(0, patient.find('.'));
  }
  std::vector<synth::LesionShape> shapes;
  if (!a.shapes.empty()) {
    std::vector<std::string> files;
    std::error_code ec;
    if (fs::is_directory(a.shapes, ec)) {
      for (const auto& e : fs::directory_iterator(a.shapes, ec)) {
        const std::string name = e.path().filename().string();
        const bool nifti = name.size() > 4 && (name.substr(name.size() - 4) == ".nii" ||
                                               (name.size() > 7 && name.substr(name.size() - 7) == ".nii.gz"));
        if (e.is_regular_file() && nifti) files.push_back(e.path().string());
      }
      std::sort(files.begin(), files.end());  // the same shapes for the same seed, whatever the folder order
      if (files.empty()) throw Error(ExitCode::NotFound, "--shapes folder '" + a.shapes + "' holds no .nii / .nii.gz mask");
    } else {
      files.push_back(a.shapes);
    }
    shapes = synth::load_lesion_shapes(files);
    note(global, "lesion shapes: " + std::to_string(shapes.size()) + " component(s) from " + std::to_string(files.size()) +
                     " mask file(s)");
  }
  Manifest manifest;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < a.count; ++i) {
    const synth::PhantomOptions o = case_options(a, i, involvement);
    const synth::Phantom p = !real_ct.voxels.defined() ? synth::make_phantom(o)
                             : shapes.empty()        ? synth::insert_lesions(real_ct, real_mask, o)
                                                     : synth::insert_lesion_shapes(real_ct, real_mask, o, shapes);
    char name[32];
    std::snprintf(name, sizeof name, "case_%04d", i);
    const fs::path folder = fs::path(a.out) / name;
    Case c;
    c.case_id = name;
    c.patient_id = patient.empty() ? std::string("synth-") + name : patient;
    c.dataset = patient.empty() ? "pulmo-synth" : shapes.empty() ? "pulmo-synth-insert" : "pulmo-synth-insert-shapes";
    c.image = (folder / "ct.nii.gz").string();
    c.lungs = (folder / "lungs.nii.gz").string();
    c.lesions = (folder / "lesions.nii.gz").string();
    c.convention = "pulmo";
    c.attributes = {{"seed", std::to_string(o.seed)},
                    {"target_involvement_percent", fixed(100.0 * o.involvement, 2)},
                    {"involved_percent", fixed(p.involved_percent, 3)},
                    {"consolidation_fraction", fixed(o.consolidation_fraction, 3)},
                    {"crazy_paving", o.crazy_paving ? "1" : "0"},
                    {"noise_hu", fixed(o.noise_hu, 1)}};
    write_volume(ct_for_disk(p.ct), c.image);
    write_volume(p.lungs, c.lungs);
    write_volume(p.lesions, c.lesions);
    manifest.cases.push_back(c);
    std::cout << name << "  involvement " << fixed(p.involved_percent, 2) << " % (target " << fixed(100.0 * o.involvement, 2)
              << " %)  seed " << o.seed << "\n";
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    note(global, "synth " + std::to_string(i + 1) + "/" + std::to_string(a.count) + " cases, " + fixed(elapsed / (i + 1), 2) +
                     " s/case, ETA " + fixed(elapsed / (i + 1) * (a.count - i - 1), 0) + " s");
  }
  const std::string manifest_path = (fs::path(a.out) / "manifest.csv").string();
  write_text_atomic(manifest_path, manifest_csv(manifest, a.out));
  note(global, "wrote " + std::to_string(a.count) + " case(s) and " + manifest_path);
  return 0;
}

}  // namespace

Action register_synth(CLI::App& app, const GlobalOptions& global) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* sub = app.add_subcommand("synth", "Generate synthetic chest CTs with exact lung and lesion labels (docs/synth.md)");
  sub->add_option("--out", a->out, "output folder: case_NNNN/{ct,lungs,lesions}.nii.gz and manifest.csv")->required();
  sub->add_option("--count", a->count, "number of cases")->capture_default_str();
  sub->add_option("--seed", a->seed, "series seed (case i uses a hash of seed and i)")->capture_default_str();
  sub->add_option("--size", a->size, "voxels X,Y,Z (16..512, 16..512, 8..400)")->capture_default_str();
  sub->add_option("--spacing", a->spacing, "voxel size X,Y,Z in mm (in-plane 0.6-0.9, slices 0.625-5)")->capture_default_str();
  sub->add_option("--involvement", a->involvement, "lesion fraction of lung volume, 0..0.8, or MIN:MAX drawn per case")
      ->capture_default_str();
  sub->add_option("--consolidation", a->consolidation, "share of lesion volume that is consolidation, 0..1")->check(finite_number())->capture_default_str();
  sub->add_option("--noise", a->noise, "Gaussian noise sigma in HU (insertion mode: inside lesions)")->check(finite_number())->capture_default_str();
  sub->add_flag("--crazy-paving", a->crazy_paving, "reticular pattern over the ground-glass");
  sub->add_option("--lung-z-coverage", a->z_coverage,
                  "0: real proportions (lungs ~0.7 x width tall); 0.2..1.5: lungs span this share of the slices")
      ->check(finite_number())
      ->capture_default_str();
  auto* into = sub->add_option("--insert-into", a->insert_into, "lesion-insertion mode: a real CT (file or DICOM folder)");
  auto* mask = sub->add_option("--lung-mask", a->lung_mask, "lung mask of --insert-into (1 right 2 left, or 1 = lung)");
  auto* shapes = sub->add_option("--shapes", a->shapes,
                                 "insertion mode: real lesion shapes instead of procedural ones - a 3-D lesion mask or a "
                                 "folder of them (e.g. ../shared/data/ct/mosmed-masks; any non-zero voxel is lesion)");
  into->needs(mask);
  mask->needs(into);
  shapes->needs(into);
  return [a, &global]() { return run_synth(*a, global); };
}

}  // namespace pulmo::cli
