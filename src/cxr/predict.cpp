// Loading a CXR model folder, prediction with Grad-CAM, the heatmap overlay, the linear shortcut probe.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>

#include "cxr/internal.h"
#include "cxr/net.h"
#include "data/csv.h"
#include "image/canvas.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo::cxr {

namespace F = torch::nn::functional;

struct CxrModel::Impl {
  std::string folder;
  ModelOptions options;
  struct Variant {
    CxrNet net{nullptr};
    Imputer imputer;
    double threshold = 0.5;
    std::string threshold_source;
  };
  std::map<std::string, Variant> variants;
  std::unique_ptr<CxrLungSegmenter> lungs;  // lung cropping, when the model was trained with it
};

CxrModel::CxrModel() : impl_(std::make_unique<Impl>()) {}
CxrModel::~CxrModel() = default;
CxrModel::CxrModel(CxrModel&&) noexcept = default;
CxrModel& CxrModel::operator=(CxrModel&&) noexcept = default;
const std::string& CxrModel::folder() const { return impl_->folder; }
int CxrModel::image_size() const { return impl_->options.image_size; }

CxrModel CxrModel::load(const std::string& folder) {
  const std::string path = (fs::path(folder) / "model.json").string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "'" + folder + "' is not a CXR model folder (no model.json)");
  CxrModel m;
  m.impl_->folder = folder;
  try {
    const json j = json::parse(read_text_file(path));
    if (j.value("format", "") != "pulmo-cxr-model")
      throw Error(ExitCode::BadConfig, "'" + path + "' is not a pulmo CXR model (format != pulmo-cxr-model)");
    const json& mo = j.at("model");
    m.impl_->options.image_size = mo.at("image_size").get<int>();
    m.impl_->options.channels = mo.at("channels").get<std::vector<int>>();
    m.impl_->options.clinical_hidden = mo.at("clinical_hidden").get<int>();
    m.impl_->options.dropout = mo.at("dropout").get<double>();
    if (mo.contains("lung_crop")) {
      const std::string sub = mo.at("lung_crop").at("segmenter").get<std::string>();
      if (sub.empty() || sub.find("..") != std::string::npos || fs::path(sub).is_absolute())
        throw Error(ExitCode::BadConfig, "'" + path + "': model.lung_crop.segmenter must name a folder inside the model folder");
      m.impl_->options.lung_crop = (fs::path(folder) / sub).string();
      m.impl_->options.lung_crop_margin = mo.at("lung_crop").at("margin").get<double>();
      try {
        m.impl_->lungs = std::make_unique<CxrLungSegmenter>(CxrLungSegmenter::load(m.impl_->options.lung_crop));
      } catch (const Error& e) {
        throw e.with_context("the lung segmenter of '" + folder + "'");
      }
    }
    for (const auto& [name, v] : j.at("variants").items()) {
      Impl::Variant var;
      var.threshold = v.at("threshold").get<double>();
      var.threshold_source = v.value("threshold_source", "");
      var.imputer.names = v.at("imputer").at("names").get<std::vector<std::string>>();
      var.imputer.mean = v.at("imputer").at("mean").get<std::vector<double>>();
      var.imputer.sd = v.at("imputer").at("sd").get<std::vector<double>>();
      ModelOptions o = m.impl_->options;
      o.variant = name;
      var.net = CxrNet(o, var.imputer.width());
      const std::string weights = (fs::path(folder) / v.at("weights").get<std::string>()).string();
      if (!fs::exists(weights, ec)) throw Error(ExitCode::BadConfig, "model weights '" + weights + "' are missing");
      torch::load(var.net, weights);
      var.net->eval();
      m.impl_->variants[name] = std::move(var);
    }
  } catch (const json::exception& e) {
    throw Error(ExitCode::BadConfig, "'" + path + "' is not a valid CXR model description: " + e.what());
  } catch (const c10::Error& e) {
    throw Error(ExitCode::BadConfig, "'" + folder + "': the weights do not fit model.json: " + e.what_without_backtrace());
  }
  if (m.impl_->variants.empty()) throw Error(ExitCode::BadConfig, "'" + path + "' lists no model variant");
  return m;
}

CxrPrediction CxrModel::predict(const XrayImage& image, const std::map<std::string, double>& clinical, bool heatmap,
                                const std::string& variant) const {
  CxrPrediction p;
  bool any = false;
  for (const auto& [k, v] : clinical)
    if (!std::isnan(v)) any = true;
  std::string name = variant.empty() ? (any ? "fused" : "image") : variant;
  if (!variant.empty() && !impl_->variants.count(variant)) {
    std::string have;
    for (const auto& [k, v] : impl_->variants) have += (have.empty() ? "" : ", ") + k;
    throw Error(ExitCode::Usage, "the model '" + impl_->folder + "' has no '" + variant + "' variant (it has: " + have + ")");
  }
  if (!impl_->variants.count(name)) name = impl_->variants.count("fused") ? "fused" : impl_->variants.begin()->first;
  const Impl::Variant& var = impl_->variants.at(name);
  p.variant = name;
  p.image_only = name == "image" || !any;
  p.threshold = var.threshold;
  p.threshold_source = var.threshold_source;
  for (const auto& n : var.imputer.names) {
    auto it = clinical.find(n);
    if (it == clinical.end() || std::isnan(it->second)) p.missing.push_back(n);
  }
  const int s = impl_->options.image_size;
  const std::vector<float> box =
      letterbox(branch_input(image, impl_->lungs.get(), impl_->options.lung_crop_margin, &p.crop, &p.lungs_found), s);
  const at::Tensor x = torch::from_blob(const_cast<float*>(box.data()), {1, 1, s, s}).clone();
  const std::vector<float> cv = var.imputer.transform(clinical);
  const at::Tensor c = torch::from_blob(const_cast<float*>(cv.data()), {1, int64_t(cv.size())}).clone();
  CxrNet net = var.net;
  if (!heatmap || !net->use_image) {
    torch::NoGradGuard no_grad;
    p.probability = torch::sigmoid(net->forward(x, c)).item<double>();
  } else {
    const at::Tensor fmap = net->image_map(x).detach().requires_grad_(true);
    const at::Tensor logit = net->head_from(fmap.mean({2, 3}), c);
    p.probability = torch::sigmoid(logit).item<double>();
    const at::Tensor grad = torch::autograd::grad({logit.sum()}, {fmap})[0];
    const at::Tensor w = grad.mean({2, 3}, true);
    at::Tensor cam = torch::relu((w * fmap).sum(1, true)).detach();
    cam = F::interpolate(cam, F::InterpolateFuncOptions().size(std::vector<int64_t>{s, s}).mode(torch::kBilinear).align_corners(false));
    const double mx = cam.max().item<double>();
    cam = mx > 0 ? cam / mx : cam;
    cam = cam.contiguous();
    p.heatmap.assign(cam.data_ptr<float>(), cam.data_ptr<float>() + s * s);
    p.heatmap_size = s;
  }
  p.severe = p.probability >= p.threshold;
  return p;
}

namespace {

draw::Rgb jet(double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto ch = [](double v) { return uint8_t(std::clamp(v, 0.0, 1.0) * 255.0 + 0.5); };
  return {ch(1.5 - std::abs(4 * t - 3)), ch(1.5 - std::abs(4 * t - 2)), ch(1.5 - std::abs(4 * t - 1))};
}

}  // namespace

void write_heatmap_overlay(const XrayImage& image, const CxrPrediction& p, const std::string& png_path, int max_side) {
  const double scale = std::min(1.0, double(max_side) / std::max(image.width, image.height));
  const int w = std::max(1, int(image.width * scale)), h = std::max(1, int(image.height * scale));
  draw::Canvas canvas(w, h);
  // The heatmap covers the part of the X-ray the image branch saw (p.crop: the lung box, or the whole image).
  const PixelBox crop = p.crop.empty() ? PixelBox{0, 0, image.width, image.height} : p.crop;
  const auto box = letterbox_box(crop.width, crop.height, std::max(1, p.heatmap_size));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int sx = std::min(image.width - 1, int((x + 0.5) / scale)), sy = std::min(image.height - 1, int((y + 0.5) / scale));
      const uint8_t g = uint8_t(std::clamp(image.pixels[size_t(sy) * image.width + sx], 0.0f, 1.0f) * 255.0f + 0.5f);
      canvas.set(x, y, {g, g, g});
      const double cx = ((x + 0.5) / scale - crop.x0) / crop.width, cy = ((y + 0.5) / scale - crop.y0) / crop.height;
      if (p.heatmap_size > 0 && cx >= 0 && cx < 1 && cy >= 0 && cy < 1) {
        const int hx = std::clamp(box[0] + int(cx * box[2]), 0, p.heatmap_size - 1);
        const int hy = std::clamp(box[1] + int(cy * box[3]), 0, p.heatmap_size - 1);
        const double v = p.heatmap[size_t(hy) * p.heatmap_size + hx];
        if (v > 0.05) canvas.blend(x, y, jet(v), 0.25 + 0.35 * v);
      }
    }
  char text[96];
  std::snprintf(text, sizeof text, "P(SEVERE) %.2f  %s", p.probability, p.variant == "fused" ? "FUSED" : "IMAGE ONLY");
  canvas.text_with_halo(6, 6, text, {255, 255, 255}, {0, 0, 0}, 2);
  draw::write_png(canvas, png_path);
}

ProbeResult linear_probe(const std::vector<std::vector<float>>& features, const std::vector<std::string>& values,
                         const std::vector<std::string>& patients, const std::string& attribute, int folds,
                         uint64_t seed, int bootstrap) {
  ProbeResult r;
  r.attribute = attribute;
  if (features.size() != values.size() || features.size() != patients.size())
    throw Error(ExitCode::Mismatch, "probe: features, values and patients differ in length");
  // Cases with a known value; the positive value: the second in sorted order of the two values.
  std::vector<int> rows;
  std::vector<std::string> distinct;
  for (size_t i = 0; i < values.size(); ++i)
    if (!values[i].empty() && values[i] != "unknown") {
      rows.push_back(int(i));
      if (std::find(distinct.begin(), distinct.end(), values[i]) == distinct.end()) distinct.push_back(values[i]);
    }
  std::sort(distinct.begin(), distinct.end());
  if (distinct.size() != 2)
    throw Error(ExitCode::NoData, "probe: attribute '" + attribute + "' has " + std::to_string(distinct.size()) +
                                      " value(s) among the cases; a linear probe needs exactly two");
  r.positive = distinct[1];
  const int n = int(rows.size());
  const int64_t d = int64_t(features[size_t(rows[0])].size());
  at::Tensor x = torch::zeros({n, d});
  std::vector<int> y(static_cast<size_t>(n));
  std::vector<std::string> pat(static_cast<size_t>(n));
  Manifest m;
  for (int i = 0; i < n; ++i) {
    const auto& f = features[size_t(rows[size_t(i)])];
    if (int64_t(f.size()) != d) throw Error(ExitCode::Mismatch, "probe: feature rows of different lengths");
    std::memcpy(x[i].data_ptr<float>(), f.data(), f.size() * sizeof(float));
    y[size_t(i)] = values[size_t(rows[size_t(i)])] == r.positive ? 1 : 0;
    pat[size_t(i)] = patients[size_t(rows[size_t(i)])];
    Case c;
    c.case_id = std::to_string(i);
    c.patient_id = pat[size_t(i)];
    m.cases.push_back(c);
  }
  r.n = n;
  r.positives = int(std::count(y.begin(), y.end(), 1));
  std::vector<double> scores(size_t(n), 0.5);
  for (const Split& s : kfold_splits(m, folds, 0.0, seed)) {
    std::vector<int> train = s.train;
    train.insert(train.end(), s.validation.begin(), s.validation.end());
    std::vector<int64_t> tr(train.begin(), train.end()), te(s.test.begin(), s.test.end());
    const at::Tensor xt = x.index_select(0, torch::tensor(tr, torch::kLong));
    const at::Tensor mean = xt.mean(0, true), sd = xt.std(0, true, true).clamp_min(1e-6);
    const at::Tensor xs = (xt - mean) / sd;
    at::Tensor yt = torch::zeros({int64_t(tr.size())});
    for (size_t i = 0; i < tr.size(); ++i) yt[int64_t(i)] = float(y[size_t(tr[i])]);
    torch::manual_seed(seed);
    torch::nn::Linear lin(d, 1);
    torch::optim::LBFGS opt(lin->parameters(), torch::optim::LBFGSOptions(0.5).max_iter(200));
    auto closure = [&]() {
      opt.zero_grad();
      at::Tensor loss = F::binary_cross_entropy_with_logits(lin(xs).squeeze(1), yt) + 1e-2 * lin->weight.pow(2).sum();
      loss.backward();
      return loss;
    };
    opt.step(closure);
    torch::NoGradGuard no_grad;
    const at::Tensor xe = (x.index_select(0, torch::tensor(te, torch::kLong)) - mean) / sd;
    const at::Tensor p = torch::sigmoid(lin(xe).squeeze(1)).to(torch::kDouble).contiguous();
    for (size_t i = 0; i < te.size(); ++i) scores[size_t(te[i])] = p[int64_t(i)].item<double>();
  }
  BootstrapOptions bo;
  bo.resamples = bootstrap;
  bo.seed = seed;
  r.auc = bootstrap_interval(n, [&](const std::vector<int>& idx) {
    std::vector<int> l;
    std::vector<double> s;
    for (int i : idx) {
      l.push_back(y[size_t(i)]);
      s.push_back(scores[size_t(i)]);
    }
    const int pos = int(std::count(l.begin(), l.end(), 1));
    return pos == 0 || pos == int(l.size()) ? NAN : roc_auc(l, s);
  }, bo, pat);
  return r;
}

}  // namespace pulmo::cxr

namespace pulmo::cxr {

std::vector<ProbeResult> probe_feature_file(const std::string& path, const std::vector<std::string>& attributes,
                                            int folds, uint64_t seed, int bootstrap) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "feature file '" + path + "' does not exist");
  const auto rows = data::parse_csv(read_text_file(path));
  if (rows.size() < 2) throw Error(ExitCode::NoData, "feature file '" + path + "' has no cases");
  const auto& header = rows.front();
  int c_case = -1, c_patient = -1;
  std::vector<int> feature_columns;
  std::map<std::string, int> column;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string& h = header[i];
    column[h] = int(i);
    if (h == "case_id" || h == "case") c_case = int(i);
    if (h == "patient_id" || h == "patient") c_patient = int(i);
    if (h.size() > 1 && h[0] == 'f' && std::all_of(h.begin() + 1, h.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      feature_columns.push_back(int(i));
  }
  if (c_case < 0) throw Error(ExitCode::BadConfig, "feature file '" + path + "' has no case_id column");
  if (feature_columns.empty()) throw Error(ExitCode::BadConfig, "feature file '" + path + "' has no feature columns f0, f1, ...");
  std::vector<std::vector<float>> features;
  std::vector<std::string> patients;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() != header.size())
      throw Error(ExitCode::BadConfig, "feature file '" + path + "' row " + std::to_string(r + 1) + " has " +
                                           std::to_string(row.size()) + " fields, the header " + std::to_string(header.size()));
    std::vector<float> f;
    for (int c : feature_columns) {
      try {
        size_t used = 0;
        f.push_back(std::stof(row[size_t(c)], &used));
        if (used != row[size_t(c)].size()) throw std::invalid_argument("x");
      } catch (const std::exception&) {
        throw Error(ExitCode::BadConfig, "feature file '" + path + "' row " + std::to_string(r + 1) + ": '" +
                                             row[size_t(c)] + "' in " + header[size_t(c)] + " is not a number");
      }
    }
    features.push_back(std::move(f));
    patients.push_back(c_patient >= 0 && !row[size_t(c_patient)].empty() ? row[size_t(c_patient)] : row[size_t(c_case)]);
  }
  std::vector<ProbeResult> out;
  for (const auto& a : attributes) {
    auto it = column.find(a);
    if (it == column.end()) throw Error(ExitCode::BadConfig, "feature file '" + path + "' has no attribute column '" + a + "'");
    std::vector<std::string> values;
    for (size_t r = 1; r < rows.size(); ++r) values.push_back(rows[r][size_t(it->second)]);
    out.push_back(linear_probe(features, values, patients, a, folds, seed, bootstrap));
  }
  return out;
}

}  // namespace pulmo::cxr
