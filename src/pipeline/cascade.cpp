// The LungQuant cascade: lung box -> lungs -> lesions, each stage a model folder named in cascade.json.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/hash.h"
#include "core/schema.h"
#include "image/morphology.h"
#include "image/resample.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/labels.h"
#include "pulmo/model.h"
#include "pulmo/pipeline.h"
#include "pulmo/transforms.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- cascade.json ----------------------------------------------------------------------------------

constexpr int kCascadeFormatVersion = 1;

struct StagePlan {
  std::string model;        // model folder, relative to the cascade folder
  double margin_mm = 0;     // box margin
  double threshold = 0.5;   // foreground when the summed foreground probability reaches it
  double overlap = 0.5;     // sliding-window overlap
  double min_hu = -1e9;     // lesions: a voxel below this HU is not a lesion (aerated lung is not ground-glass)
  bool extend_lungs = false; // lesions: lesion regions touching the lungs become lung (dense, consolidated lung that
                             // the lung model left out), each taking the side of the lung it touches
  std::string method;        // lungs: the default lung method with these models, "cascade" or "hybrid" ("" = cascade)
};

struct CascadePlan {
  std::string folder, name;
  int format_version = kCascadeFormatVersion;
  StagePlan box, lungs, lesions;
};

// cascade.json (docs/model-format.md). Each stage's defaults are set before reading: an absent key keeps them.
const Schema<CascadePlan>& cascade_schema() {
  static const Schema<StagePlan> stage =
      Schema<StagePlan>()
          .field("model", &StagePlan::model, "model folder, relative to the cascade folder")
          .field("margin_mm", &StagePlan::margin_mm, "box margin", Bounds().min(0).max(200))
          .field("threshold", &StagePlan::threshold, "foreground when the summed foreground probability reaches it",
                 Bounds().above(0).below(1))
          .field("overlap", &StagePlan::overlap, "sliding-window overlap", Bounds().min(0).below(1))
          .field("min_hu", &StagePlan::min_hu, "lesions: a voxel below this HU is not a lesion")
          .field("extend_lungs", &StagePlan::extend_lungs, "lesions: lesion regions touching the lungs become lung")
          .field("method", &StagePlan::method, "lungs: the default lung method with these models (cascade or hybrid)")
          .check([](const StagePlan& s, const SchemaContext& ctx) {
            if (s.model.empty()) ctx.fail(ctx.path() + ": no model folder ('model')");
          });
  static const Schema<CascadePlan> schema = Schema<CascadePlan>()
                                                .field("format_version", &CascadePlan::format_version, "1")
                                                .field("name", &CascadePlan::name, "free text")
                                                .section("lung_box", &CascadePlan::box, stage)
                                                .section("lungs", &CascadePlan::lungs, stage)
                                                .section("lesions", &CascadePlan::lesions, stage);
  return schema;
}

CascadePlan read_plan(const std::string& folder) {
  const fs::path path = fs::path(folder) / "cascade.json";
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error(ExitCode::NotFound, "models folder '" + folder + "' does not exist");
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "models folder '" + folder + "' has no cascade.json");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path.string()));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ExitCode::BadConfig, path.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("format_version") || !j["format_version"].is_number_integer() ||
      j["format_version"].get<int>() != kCascadeFormatVersion)
    throw Error(ExitCode::BadConfig, path.string() + ": format_version must be " + std::to_string(kCascadeFormatVersion));
  CascadePlan p;
  p.box = {"", 15.0, 0.5, 0.0, -1e9};
  p.lungs = {"", 0.0, 0.5, 0.5, -1e9};
  p.lesions = {"", 5.0, 0.5, 0.5, -1e9};
  cascade_schema().read(j, p, SchemaContext(path.string()));
  if (!p.lungs.method.empty() && p.lungs.method != "cascade" && p.lungs.method != "hybrid")
    throw Error(ExitCode::BadConfig, path.string() + ": lungs.method must be \"cascade\" or \"hybrid\", not '" +
                                         p.lungs.method + "'");
  if (!p.box.method.empty() || !p.lesions.method.empty())
    throw Error(ExitCode::BadConfig, path.string() + ": 'method' belongs to the lungs stage only");
  p.folder = folder;
  return p;
}

struct StageModel {
  LoadedModel model;
  StageRecord record;
};

StageModel load_stage(const CascadePlan& plan, const StagePlan& s, const std::string& stage, const std::string& task) {
  StageModel m;
  const std::string folder = (fs::path(plan.folder) / s.model).string();
  try {
    m.model = load_model(folder);
  } catch (const Error& e) {
    throw e.with_context("cascade stage '" + stage + "'");
  }
  if (m.model.info.task != task)
    throw Error(ExitCode::BadConfig, "cascade stage '" + stage + "': model '" + folder + "' is a " + m.model.info.task +
                                         " model, not " + task);
  m.record.stage = stage;
  m.record.model_name = m.model.info.name;
  m.record.model_folder = folder;
  m.record.format_version = m.model.info.format_version;
  m.record.weights_sha256 = sha256_file((fs::path(folder) / m.model.info.weights).string());
  return m;
}

// ---- boxes and crops in the input's index space ------------------------------------------------------

struct IndexBox {
  std::array<int64_t, 3> lo{0, 0, 0}, hi{0, 0, 0};  // ITK axes (x, y, z), [lo, hi)
};

IndexBox whole(const Geometry& g) { return {{0, 0, 0}, {g.size[0], g.size[1], g.size[2]}}; }

IndexBox widen(const IndexBox& b, double margin_mm, const Geometry& g) {
  IndexBox out;
  for (int a = 0; a < 3; ++a) {
    const int64_t m = static_cast<int64_t>(std::ceil(margin_mm / g.spacing_mm[a]));
    out.lo[a] = std::clamp<int64_t>(b.lo[a] - m, 0, g.size[a]);
    out.hi[a] = std::clamp<int64_t>(b.hi[a] + m, out.lo[a], g.size[a]);
  }
  return out;
}

// The part of a [z, y, x] tensor inside the box (paste() puts it back).
at::Tensor cut(const at::Tensor& t, const IndexBox& b) {
  return t.slice(0, b.lo[2], b.hi[2]).slice(1, b.lo[1], b.hi[1]).slice(2, b.lo[0], b.hi[0]).contiguous();
}

Volume crop(const Volume& v, const IndexBox& b) {
  Volume out;
  out.voxels = cut(v.voxels, b);
  out.geometry = v.geometry;
  for (int a = 0; a < 3; ++a) out.geometry.size[a] = b.hi[a] - b.lo[a];
  out.geometry.origin_mm = v.geometry.index_to_physical({double(b.lo[0]), double(b.lo[1]), double(b.lo[2])});
  return out;
}

// Bounding box of the non-zero voxels of a [z, y, x] mask; empty (hi = lo) when none.
IndexBox mask_box(const at::Tensor& mask) {
  IndexBox b;
  const at::Tensor m = mask.ne(0);
  for (int d = 0; d < 3; ++d) {
    std::vector<int64_t> others;
    for (int e = 0; e < 3; ++e)
      if (e != d) others.push_back(e);
    const at::Tensor idx = at::nonzero(m.any(others[1]).any(others[0])).squeeze(1);
    if (idx.numel() == 0) return IndexBox{};
    b.lo[2 - d] = idx.min().item<int64_t>();
    b.hi[2 - d] = idx.max().item<int64_t>() + 1;
  }
  return b;
}

bool empty(const IndexBox& b) { return b.hi[0] <= b.lo[0] || b.hi[1] <= b.lo[1] || b.hi[2] <= b.lo[2]; }

// A volume counts as a thin stack (key slices, single slices) when it spans under 40 mm or 8 slices along any axis:
// the box network is not used there, and windows are padded with edge values.
bool thin_stack(const Geometry& g) {
  for (int a = 0; a < 3; ++a)
    if (g.size[a] < 8 || g.size[a] * g.spacing_mm[a] < 40.0) return true;
  return false;
}

// Stage 1: the box network on the whole CT, in the LPS-ordered frame of training; the predicted box's corners are
// mapped back into the input's index space through physical coordinates.
IndexBox predict_box(const Volume& ct, StageModel& m) {
  const ModelInfo& info = m.model.info;
  const Volume lps = image::reorient_to_lps(ct);
  at::Tensor out;
  {
    at::NoGradGuard no_grad;
    m.model.network->eval();
    const at::Tensor x = box_network_input(lps.voxels, info.network.boxnet.input_size, info.intensity);
    out = m.model.network->forward(x.unsqueeze(0).unsqueeze(0))[0].to(at::kDouble).cpu();  // [6]
  }
  const Geometry& g = lps.geometry;
  Vec3 lo_in{1e300, 1e300, 1e300}, hi_in{-1e300, -1e300, -1e300};
  for (int corner = 0; corner < 8; ++corner) {
    Vec3 idx;
    for (int a = 0; a < 3; ++a) {
      const double f = out[(corner >> a) & 1 ? 3 + a : a].item<double>();
      idx[a] = f * g.size[a] - 0.5;  // fraction of the outer extent -> continuous index
    }
    const Vec3 q = ct.geometry.physical_to_index(g.index_to_physical(idx));
    for (int a = 0; a < 3; ++a) {
      lo_in[a] = std::min(lo_in[a], q[a]);
      hi_in[a] = std::max(hi_in[a], q[a]);
    }
  }
  IndexBox b;
  for (int a = 0; a < 3; ++a) {
    b.lo[a] = std::clamp<int64_t>(static_cast<int64_t>(std::floor(lo_in[a] + 0.5)), 0, ct.geometry.size[a]);
    b.hi[a] = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(hi_in[a] + 0.5)), b.lo[a], ct.geometry.size[a]);
  }
  return b;
}

// Labels from class probabilities [K, z, y, x]: foreground where the foreground classes sum to >= threshold,
// then the most probable foreground class.
at::Tensor labels_from(const at::Tensor& prob, double threshold) {
  const at::Tensor fg = prob.slice(0, 1, prob.size(0));
  const at::Tensor is_fg = fg.sum(0).ge(threshold);
  const at::Tensor cls = fg.argmax(0).add(1).to(at::kByte);
  return at::where(is_fg, cls, at::zeros({}, at::kByte));
}

// Class probabilities of a model over `region` (a crop of the input, HU) on the model's grid (prepare_image: LPS
// order, the model's spacing): mean [K, z', y', x'] and, when `passes` is given, each pass. `flip` adds the
// left-right mirrored pass (swapping `swap` channel pairs back); mc_passes > 0 runs MC-dropout passes instead.
struct ModelGridProbabilities {
  at::Tensor mean;
  std::vector<at::Tensor> passes;
  Geometry grid;
};

ModelGridProbabilities segment_region(const Volume& region, StageModel& m, const StagePlan& s, bool flip,
                                      const std::vector<std::pair<int, int>>& swap, bool keep_passes, int mc_passes,
                                      bool bfloat16) {
  const ModelInfo& info = m.model.info;
  const Volume prepared = prepare_image(region, info.spacing_mm, info.intensity);
  SlidingWindowOptions w;
  w.overlap = s.overlap;
  w.replicate_padding = thin_stack(region.geometry);
  w.bfloat16 = bfloat16;
  std::vector<at::Tensor> probs;
  auto run = [&](const at::Tensor& image, bool mirrored) {
    at::Tensor p = sliding_window_probabilities(*m.model.network, image, info.patch_size, w);
    if (mirrored) {
      p = p.flip({3});
      if (!swap.empty()) {
        std::vector<int64_t> order(p.size(0));
        for (int64_t k = 0; k < p.size(0); ++k) order[k] = k;
        for (const auto& [a, b] : swap)
          if (a < p.size(0) && b < p.size(0)) std::swap(order[a], order[b]);
        p = p.index_select(0, at::tensor(order, at::kLong));
      }
    }
    probs.push_back(p);
  };
  if (mc_passes > 0) {
    SlidingWindowOptions mc = w;
    mc.mc_dropout = true;
    for (int i = 0; i < mc_passes; ++i) {
      at::manual_seed(static_cast<uint64_t>(i + 1));  // repeatable passes
      probs.push_back(sliding_window_probabilities(*m.model.network, prepared.voxels, info.patch_size, mc));
    }
    m.model.network->eval();
  } else {
    run(prepared.voxels, false);
    if (flip) run(prepared.voxels.flip({2}), true);
  }
  ModelGridProbabilities out;
  out.mean = probs.size() == 1 ? probs[0] : at::stack(probs).mean(0);
  if (keep_passes) out.passes = probs;
  out.grid = prepared.geometry;
  return out;
}

// The lung labels on the input crop's grid. Components, sides and holes are settled on the model's grid
// (postprocess_lungs, cheap there); the boundary comes from the foreground probability, interpolated linearly onto
// the input voxels: per side, q = p_fg inside the cleaned lung (1 in its filled holes), p_fg just below the
// threshold on the voxels next to it, 0 elsewhere (dropped fragments stay dropped).
// Air outside the body (`outside`, on the model's grid) is never lung, whatever the network says.
at::Tensor lungs_on_input_grid(const ModelGridProbabilities& p, const at::Tensor& outside, const Geometry& crop,
                               double threshold) {
  const at::Tensor raw = labels_from(p.mean, threshold).masked_fill_(outside, 0);
  const Volume cleaned = postprocess_lungs(Volume{raw, p.grid});
  const at::Tensor pfg = p.mean.slice(0, 1, p.mean.size(0)).sum(0).masked_fill(outside, 0);
  std::vector<at::Tensor> q;
  for (uint8_t side : {labels::kRightLung, labels::kLeftLung}) {
    const at::Tensor in = cleaned.voxels.eq(side);
    const at::Tensor near = image::dilate(in, {1, 1, 1}).logical_and(cleaned.voxels.eq(0));
    const at::Tensor inside = at::where(pfg.ge(threshold), pfg, at::ones_like(pfg));
    q.push_back(at::where(in, inside, at::where(near, pfg.clamp_max(threshold * 0.999), at::zeros_like(pfg))));
  }
  const at::Tensor full = image::resample_linear_onto(at::stack(q), p.grid, crop);  // [2, z, y, x]
  const auto [best, side] = full.max(0);
  return at::where(best.ge(threshold), side.add(1).to(at::kByte), at::zeros({}, at::kByte));
}

// Lesion labels on the input crop's grid from probabilities on the model's grid (foreground channels only are
// interpolated).
at::Tensor lesions_on_input_grid(const at::Tensor& prob, const Geometry& grid, const Geometry& crop, double threshold) {
  const at::Tensor fg = image::resample_linear_onto(prob.slice(0, 1, prob.size(0)), grid, crop);  // [K-1, z, y, x]
  const at::Tensor is_fg = fg.sum(0).ge(threshold);
  return at::where(is_fg, fg.argmax(0).add(1).to(at::kByte), at::zeros({}, at::kByte));
}

void paste(at::Tensor& full, const at::Tensor& part, const IndexBox& b) {
  full.slice(0, b.lo[2], b.hi[2]).slice(1, b.lo[1], b.hi[1]).slice(2, b.lo[0], b.hi[0]).copy_(part);
}

std::array<double, 3> involvement(const at::Tensor& lungs, const at::Tensor& lesion) {
  std::array<double, 3> out{};
  for (int side = 0; side < 3; ++side) {
    const at::Tensor lung = side < 2 ? lungs.eq(side + 1) : lungs.ne(0);
    const double n = lung.sum().item<double>();
    out[side] = n > 0 ? 100.0 * lesion.logical_and(lung).sum().item<double>() / n : 0.0;
  }
  return out;
}

void check_plausible_ct(const Volume& ct) {
  const at::Tensor v = ct.voxels.to(at::kFloat);
  const double below = v.lt(-400).to(at::kFloat).mean().item<double>();
  const double body = v.gt(-500).to(at::kFloat).mean().item<double>();
  if (below == 0)
    throw Error(ExitCode::NoLungs, "no lungs found: no voxel below -400 HU (no air-filled lung; is it a CT in HU?)");
  if (body < 0.005)
    throw Error(ExitCode::NoLungs, "no lungs found: the volume is all air (no voxel of tissue above -500 HU)");
}

// A CT's field of view: no scanner covers more than 2 m along an axis. A header claiming more (30 mm voxels on a
// 512 x 512 grid: 15 m) would make the resampling onto the models' grids allocate tens to hundreds of GB.
constexpr double kMaxFieldOfViewMm = 2000.0;
// ... and no more than 1 m^3 in all (a 700 x 700 mm bore over a 2 m whole body is 0.98 m^3): the models' grids
// (1.6 x 1.6 x 2.5 mm for the lesions) over a larger box need GBs and run for many minutes (10 mm voxels on a
// 122 x 102 x 112 chest CT claim 1.4 m^3).
constexpr double kMaxFieldOfViewMm3 = 1e9;
// Lung plausibility (docs/quantify.md): refused above kLungsMaxMeanHu or kLungsMaxMl, warned about in between.
constexpr double kLungsMaxMeanHu = -100, kLungsUnusualMeanHu = -500;
constexpr double kLungsMaxMl = 12000, kLungsUnusualMl = 8000, kLungsFewMl = 300;
// Lungs inside the body: at least this share of the lung voxels has body tissue beyond it on 3 of its 4 in-plane
// sides (lungs_inside_body_share), else refused; below kLungsUsualInsideBody, a warning.
constexpr double kLungsMinInsideBody = 0.5, kLungsUsualInsideBody = 0.9;

void check_field_of_view(const Geometry& g) {
  static const char* axis[3] = {"x", "y", "z"};
  for (int a = 0; a < 3; ++a) {
    const double extent = g.size[a] * g.spacing_mm[a];
    if (extent > kMaxFieldOfViewMm)
      throw Error(ExitCode::Unreadable, "the CT spans " + std::to_string(static_cast<int64_t>(extent)) + " mm along " +
                                            axis[a] + " (" + std::to_string(g.size[a]) + " voxels of " +
                                            std::to_string(g.spacing_mm[a]) + " mm), more than any CT's field of view (" +
                                            std::to_string(static_cast<int>(kMaxFieldOfViewMm)) +
                                            " mm): is the voxel spacing in the header right? (nothing was run)");
  }
  const double volume = g.size[0] * g.spacing_mm[0] * g.size[1] * g.spacing_mm[1] * g.size[2] * g.spacing_mm[2];
  if (volume > kMaxFieldOfViewMm3)
    throw Error(ExitCode::Unreadable, "the CT's field of view is " + std::to_string(volume / 1e9).substr(0, 4) +
                                          " m^3 (" + g.describe() + "), more than any CT's (1 m^3): is the voxel "
                                          "spacing in the header right? (nothing was run)");
}

}  // namespace

double lungs_inside_body_share(const Volume& ct, const at::Tensor& lungs) {
  const at::Tensor in = image::reorient_to_lps(ct.with_voxels(lungs)).voxels.ne(0);  // [z, y, x]: S, P, L
  const double total = in.sum().item<double>();
  if (total == 0) return 1.0;
  // Body: tissue (above -500 HU) that is not lung - vessels and lesions inside the lung mask do not enclose it.
  // Outside air: air (-500 HU and below) that is not lung. A side is enclosed when body lies beyond the voxel on that
  // side, or when no outside air does (the field of view cuts the lung there, as in a crop around the lungs).
  const at::Tensor lps = image::reorient_to_lps(ct).voxels;
  const at::Tensor not_lung = in.logical_not();
  const at::Tensor body = lps.gt(-500).logical_and(not_lung).to(at::kByte);
  const at::Tensor air = lps.gt(-500).logical_not().logical_and(not_lung).to(at::kByte);
  at::Tensor sides = at::zeros(in.sizes(), at::kByte);
  for (int64_t dim : {1, 2}) {  // posterior-anterior, left-right: in the axial plane
    const int64_t n = body.size(dim);
    std::vector<int64_t> shape{1, 1, 1};
    shape[static_cast<size_t>(dim)] = n;
    const at::Tensor index = at::arange(n, at::kLong).view(shape);
    // Along each row: whether `m` holds a voxel before / after each index.
    auto before = [&](const at::Tensor& m) {
      return m.argmax(dim, /*keepdim=*/true).lt(index).logical_and(m.amax(dim, /*keepdim=*/true).gt(0));
    };
    auto after = [&](const at::Tensor& m) {
      return ((n - 1) - m.flip(dim).argmax(dim, /*keepdim=*/true)).gt(index).logical_and(m.amax(dim, /*keepdim=*/true).gt(0));
    };
    sides.add_(before(body).logical_or(before(air).logical_not()).to(at::kByte));
    sides.add_(after(body).logical_or(after(air).logical_not()).to(at::kByte));
  }
  return in.logical_and(sides.ge(3)).sum().item<double>() / total;
}

void check_plausible_lungs(const Volume& ct, const at::Tensor& lungs, bool user_mask, std::vector<std::string>& warnings) {
  const at::Tensor in = lungs.ne(0);
  const double n = in.sum().item<double>();
  if (n == 0) return;
  const double ml = n * ct.geometry.voxel_volume_ml();
  const double mean_hu = ct.voxels.masked_select(in).to(at::kDouble).mean().item<double>();
  auto refuse_or_warn = [&](const std::string& what) {
    if (!user_mask) throw Error(ExitCode::NoLungs, "no lungs found: " + what + " (not a chest CT?)");
    warnings.push_back("the lung mask: " + what);
  };
  auto number = [](double v) { return std::to_string(static_cast<int64_t>(std::lround(v))); };
  if (mean_hu > kLungsMaxMeanHu)
    refuse_or_warn("what was found as lungs has a mean of " + number(mean_hu) + " HU, not aerated lung (about -850 HU; "
                   "above " + number(kLungsMaxMeanHu) + " HU it is not lung)");
  else if (mean_hu > kLungsUnusualMeanHu)
    warnings.push_back("the lungs have a mean of " + number(mean_hu) + " HU: unusually dense (aerated lung is about -850 "
                       "HU); check that the input is a chest CT in HU");
  if (ml > kLungsMaxMl)
    refuse_or_warn(number(ml) + " mL of lungs, more than any human lungs (" + number(kLungsMaxMl) +
                   " mL): is the voxel spacing in the header right?");
  else if (ml > kLungsUnusualMl)
    warnings.push_back("the lungs hold " + number(ml) + " mL: unusually large (adult total lung capacity is about 4000 to "
                       "8000 mL); check the voxel spacing");
  else if (ml < kLungsFewMl && !thin_stack(ct.geometry))
    warnings.push_back("only " + number(ml) + " mL of lungs: the CT covers a small part of the lungs, or is not a chest CT");
  const double inside = lungs_inside_body_share(ct, lungs);
  auto percent = [](double share) { return std::to_string(static_cast<int>(std::floor(100 * share))) + " %"; };
  if (inside < kLungsMinInsideBody)
    refuse_or_warn("only " + percent(inside) + " of what was found as lungs lies inside the body (body tissue around it "
                   "in its axial plane on at least 3 of 4 sides; at least " + percent(kLungsMinInsideBody) +
                   " is required): air outside a patient is not lung");
  else if (inside < kLungsUsualInsideBody)
    warnings.push_back("only " + percent(inside) + " of the lungs lies inside the body (body tissue on at least 3 of 4 "
                       "sides in the axial plane; usually over " + percent(kLungsUsualInsideBody) +
                       "): check that the CT covers the chest and that nothing outside the patient was called lung");
}

std::string default_models_dir() {
  if (const char* env = std::getenv("PULMO_MODELS"); env && *env) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "models");
    candidates.push_back(exe.parent_path().parent_path() / "share" / "pulmo" / "models");
  }
  candidates.push_back(fs::current_path(ec) / "models");
  for (const fs::path& c : candidates)
    if (fs::exists(c / "cascade.json", ec)) return c.lexically_normal().string();
  return candidates.empty() ? "models" : candidates.front().lexically_normal().string();
}

at::Tensor extend_lungs_by_lesions(const at::Tensor& lungs, const at::Tensor& lesions) {
  const at::Tensor outside = lesions.logical_and(lungs.eq(0));
  if (!outside.any().item<bool>()) return lungs;
  const at::Tensor touching = image::dilate(lungs.ne(0), {1, 1, 1}).logical_and(outside);
  const image::Components c = image::connected_components(outside);
  at::Tensor keep_label = at::zeros({static_cast<int64_t>(c.sizes.size()) + 1}, at::kBool);
  const at::Tensor touched = c.labels.masked_select(touching).to(at::kLong);
  if (touched.numel() == 0) return lungs;
  keep_label.index_fill_(0, touched, true);
  keep_label[0] = false;
  const at::Tensor added = keep_label.index_select(0, c.labels.flatten().to(at::kLong)).view_as(c.labels);
  at::Tensor grown = image::grow_labels(lungs, lungs.ne(0).logical_or(added));
  for (uint8_t side : {uint8_t(1), uint8_t(2)}) {
    const at::Tensor filled = image::fill_holes(grown.eq(side), /*per_slice=*/true);
    grown.masked_fill_(filled.logical_and(grown.eq(0)), side);
  }
  return grown;
}

CascadeResult run_cascade(const Volume& ct, const CascadeOptions& o) {
  ct.check();
  CascadeResult r;
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  auto record = [&](StageRecord rec, Clock::time_point t0) {
    rec.seconds = seconds_since(t0);
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(1);
    os << "stage " << rec.stage << " done in " << rec.seconds << " s";
    say(os.str());
    r.stages.push_back(rec);
  };
  if (!o.lungs.empty() && o.lungs != "cascade" && o.lungs != "classical" && o.lungs != "hybrid" && o.lungs != "mask")
    throw Error(ExitCode::Usage, "lungs must be cascade, classical, hybrid or mask, not '" + o.lungs + "'");
  if (o.mc_dropout < 0 || o.mc_dropout > 100) throw Error(ExitCode::Usage, "MC-dropout passes must be in 0..100");
  const Geometry& g = ct.geometry;
  check_field_of_view(g);  // before anything is allocated
  bool bfloat16 = o.bfloat16;
  if (bfloat16 && !cpu_supports_bfloat16()) {
    bfloat16 = false;
    r.warnings.push_back("bfloat16 asked for, but this CPU has no AVX-512 (BW, VL, DQ) for bfloat16 convolutions: "
                         "the networks ran in float32");
  }
  r.precision = bfloat16 ? "bfloat16" : "float32";
  const bool need_models = o.lungs.empty() || o.lungs == "cascade" || o.lungs == "hybrid" || o.lesions;
  CascadePlan plan;
  if (need_models) plan = read_plan(o.models_dir.empty() ? default_models_dir() : o.models_dir);
  // "" = the models folder's choice (cascade.json lungs.method; the shipped models: hybrid).
  const std::string method = !o.lungs.empty() ? o.lungs : plan.lungs.method.empty() ? "cascade" : plan.lungs.method;

  // Lungs.
  at::Tensor lungs;
  if (method == "mask") {
    if (!o.lung_mask.voxels.defined()) throw Error(ExitCode::Usage, "lungs = mask needs a lung mask");
    if (!o.lung_mask.geometry.same_grid_as(g))
      throw Error(ExitCode::Mismatch, "the lung mask is on another grid than the CT: " + o.lung_mask.geometry.describe() +
                                          " vs " + g.describe());
    const auto t0 = Clock::now();
    // The mask means what it says: 1 right lung, 2 left lung (a mask of label 1 only is a right lung, never split;
    // a binary mask is split by adapt_lungs with the "binary" convention before it gets here).
    const at::Tensor given = o.lung_mask.voxels.to(at::kDouble);
    if (given.ne(0).logical_and(given.ne(labels::kRightLung)).logical_and(given.ne(labels::kLeftLung)).any().item<bool>())
      throw Error(ExitCode::Mismatch, "the lung mask holds values other than 0, 1 (right lung) and 2 (left lung)");
    lungs = given.to(at::kByte);
    if (!lungs.ne(0).any().item<bool>()) throw Error(ExitCode::NoLungs, "no lungs found: the lung mask is empty");
    StageRecord rec;
    rec.stage = "lungs (user mask)";
    record(rec, t0);
    r.lung_method = "mask";
  } else {
    check_plausible_ct(ct);
    const bool thin = thin_stack(g);
    if (method == "classical" || (method != "classical" && thin)) {
      if (thin && method != "classical")
        r.warnings.push_back("thin stack (" + std::to_string(g.size[2]) + " slice(s)): the lungs come from the classical "
                             "segmentation (the lung models need volumes); figures cover these slices only");
      const auto t0 = Clock::now();
      lungs = segment_lungs_classical(ct, {}, &r.warnings).voxels;
      StageRecord rec;
      rec.stage = "lungs (classical)";
      record(rec, t0);
      r.lung_method = "classical";
    } else {
      StageModel box_model = load_stage(plan, plan.box, "lung_box", "lung_box");
      auto t0 = Clock::now();
      IndexBox box = widen(predict_box(ct, box_model), plan.box.margin_mm, g);
      if (empty(box)) throw Error(ExitCode::NoLungs, "no lungs found: the lung-box network found no lung region");
      for (int a = 0; a < 3; ++a) {
        const Vec3 lo = g.index_to_physical({double(box.lo[0]), double(box.lo[1]), double(box.lo[2])});
        const Vec3 hi = g.index_to_physical({double(box.hi[0] - 1), double(box.hi[1] - 1), double(box.hi[2] - 1)});
        r.box_mm[a] = std::min(lo[a], hi[a]);
        r.box_mm[3 + a] = std::max(lo[a], hi[a]);
      }
      r.has_box = true;
      record(box_model.record, t0);
      StageModel lung_model = load_stage(plan, plan.lungs, "lungs", "lungs");
      t0 = Clock::now();
      const Volume region = crop(ct, box);
      const ModelGridProbabilities prob = segment_region(region, lung_model, plan.lungs, o.tta_flip, {{1, 2}}, false, 0, bfloat16);
      lungs = at::zeros({g.size[2], g.size[1], g.size[0]}, at::kByte);
      const Volume hu_on_model_grid = prepare_hu(region, lung_model.model.info.spacing_mm);
      // In the box crop, outside air is a thin region against the crop's border with the partial-volume skin
      // weighing in its mean: -900 HU there (lungs, vessels included, stay near -800).
      ClassicalLungOptions outside_rule;
      outside_rule.outside_air_max_mean_hu = -900;
      const at::Tensor outside = air_outside_the_body(hu_on_model_grid.voxels, outside_rule, false);
      paste(lungs, lungs_on_input_grid(prob, outside, region.geometry, plan.lungs.threshold), box);
      record(lung_model.record, t0);
      r.lung_method = "cascade";
      if (method == "hybrid") {
        t0 = Clock::now();
        std::vector<std::string> classical_warnings;
        at::Tensor classical;
        // Network lungs that are not aerated lung on average (what check_plausible_lungs refuses) are not trusted:
        // the classical segmentation of the whole CT decides alone (seen on a real abdominal CT with the lung bases,
        // where the network's "lungs" lay in the upper abdomen).
        const at::Tensor net = lungs.ne(0);
        const int64_t net_voxels = net.sum().item<int64_t>();
        const double net_mean_hu =
            net_voxels > 0 ? ct.voxels.masked_select(net).to(at::kDouble).mean().item<double>() : 0.0;
        const bool trust_network = net_voxels > 0 && net_mean_hu <= kLungsMaxMeanHu;
        // Otherwise inside the lung box only (the network's lungs lie in it): the classical segmentation's cost grows
        // with the voxels it sees, and most of a CT's voxels are outside the lungs.
        try {
          classical = segment_lungs_classical(trust_network ? region : ct, {}, &classical_warnings).voxels;
        } catch (const Error& e) {
          if (e.code() != ExitCode::NoLungs || !trust_network) throw;
          r.warnings.push_back(std::string("hybrid lungs: the classical segmentation found none (") + e.what() +
                               "): the network's lungs are used");
        }
        if (!trust_network) {
          std::ostringstream w;
          w.setf(std::ios::fixed);
          w.precision(0);
          w << "hybrid lungs: the network's lungs are not aerated lung (mean " << net_mean_hu
            << " HU): the classical segmentation's lungs are used";
          r.warnings.push_back(w.str());
          lungs = classical;
          r.lung_method = "classical";
        } else if (classical.defined()) {
          HybridLungStats st;
          paste(lungs, combine_lungs_hybrid(region, classical, cut(lungs, box), {}, &st), box);
          r.lung_method = "hybrid";
          for (int side : st.sides_from_network)
            r.warnings.push_back(std::string("hybrid lungs: the classical segmentation lost the ") +
                                 (side == labels::kRightLung ? "right" : "left") + " lung: it comes from the network");
          if (st.dropped_voxels > 0) {
            std::ostringstream w;
            w.setf(std::ios::fixed);
            w.precision(1);
            w << "hybrid lungs: " << st.dropped_voxels * g.voxel_volume_ml()
              << " mL of air that the classical segmentation took for lung lie outside the network's lungs (gas in the "
                 "stomach or the bowel?): left out";
            r.warnings.push_back(w.str());
          }
          if (st.rejected_voxels > 0) {
            std::ostringstream w;
            w.setf(std::ios::fixed);
            w.precision(1);
            w << "hybrid lungs: " << st.rejected_regions << " dense region(s) of " << st.rejected_voxels * g.voxel_volume_ml()
              << " mL that the network called lung were left out (denser than lung, or touching the lung on one face "
                 "only: mediastinum, liver, chest wall)";
            r.warnings.push_back(w.str());
          }
        }
        StageRecord rec;
        rec.stage = "lungs (hybrid: classical where aerated, network where dense)";
        record(rec, t0);
      }
    }
  }
  const double lung_ml = lungs.ne(0).sum().item<double>() * g.voxel_volume_ml();
  if (lung_ml < 1.0)
    throw Error(ExitCode::NoLungs, "no lungs found: under 1 mL of lung in the volume (not a chest CT, or the lungs lie "
                                   "outside the field of view)");
  check_plausible_lungs(ct, lungs, method == "mask", r.warnings);
  const IndexBox lung_box = mask_box(lungs);
  for (int a = 0; a < 3; ++a) {
    if (!thin_stack(g) && (lung_box.lo[a] == 0 || lung_box.hi[a] == g.size[a])) {
      r.warnings.push_back("the lungs touch the edge of the image: part of a lung may lie outside the field of view");
      break;
    }
  }
  r.lungs = ct.with_voxels(lungs);

  // Lesions inside the lungs.
  if (o.lesions) {
    StageModel lesion_model = load_stage(plan, plan.lesions, "lesions", "lesions");
    const auto t0 = Clock::now();
    r.lesion_types_known = lesion_model.model.info.network.unet.out_channels >= 3;
    if (o.mc_dropout > 0 && !(lesion_model.model.info.network.unet.dropout > 0))
      throw Error(ExitCode::Usage, "--mc-dropout: the lesion model '" + lesion_model.record.model_folder +
                                       "' has no dropout layers (trained with dropout 0)");
    const IndexBox box = widen(lung_box, plan.lesions.margin_mm, g);
    const Volume region = crop(ct, box);
    const bool want_passes = o.tta_flip || o.mc_dropout > 0;
    const ModelGridProbabilities prob =
        segment_region(region, lesion_model, plan.lesions, o.tta_flip, {}, want_passes, o.mc_dropout, bfloat16);
    at::Tensor lesions = at::zeros_like(lungs);
    paste(lesions, lesions_on_input_grid(prob.mean, prob.grid, region.geometry, plan.lesions.threshold), box);
    const at::Tensor dense = ct.voxels.lt(plan.lesions.min_hu).logical_not();
    if (plan.lesions.extend_lungs) {
      lungs = extend_lungs_by_lesions(lungs, lesions.ne(0).logical_and(dense));
      r.lungs = ct.with_voxels(lungs);
    }
    const at::Tensor not_lesion = lungs.eq(0).logical_or(dense.logical_not());
    lesions.masked_fill_(not_lesion, 0);
    for (const at::Tensor& p : prob.passes) {
      at::Tensor l = at::zeros_like(lungs);
      paste(l, lesions_on_input_grid(p, prob.grid, region.geometry, plan.lesions.threshold), box);
      r.pass_involvement.push_back(involvement(lungs, l.ne(0).logical_and(not_lesion.logical_not())));
    }
    r.lesions = ct.with_voxels(lesions);
    record(lesion_model.record, t0);
  }
  return r;
}

Volume segment_with_model(const Volume& image, const std::string& model_folder, const SegmentOptions& o) {
  if (!(o.threshold > 0 && o.threshold < 1)) throw Error(ExitCode::Usage, "segment: the threshold must lie in (0, 1)");
  StageModel m;
  m.model = load_model(model_folder);
  if (m.model.info.network.type != "unet")
    throw Error(ExitCode::BadConfig, "segment: model '" + model_folder + "' is a " + m.model.info.task +
                                         " model, not a segmentation U-Net");
  StagePlan s;
  s.overlap = o.overlap;
  const ModelGridProbabilities prob = segment_region(image, m, s, o.tta_flip, {}, false, 0, false);
  at::Tensor labels = lesions_on_input_grid(prob.mean, prob.grid, image.geometry, o.threshold);
  if (o.merge_labels) labels = labels.ne(0).to(at::kByte);
  return image.with_voxels(labels);
}

}  // namespace pulmo
