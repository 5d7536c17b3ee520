// The 2-D X-ray lung segmenter: training samples for `pulmo train` (data.task cxr_lungs), inference and the lung
// box used for lung cropping (docs/cxr.md).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "image/morphology.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/model.h"

namespace pulmo::cxr {

Sample lung_training_sample(const std::string& image, const std::string& mask, int size) {
  const XrayImage x = read_xray(image);
  LungMask m;
  try {
    m = read_lung_mask(mask);
  } catch (const Error& e) {
    throw e.with_context("image '" + image + "'");
  }
  if (m.lung.width != x.width || m.lung.height != x.height)
    throw Error(ExitCode::Mismatch, "lung mask '" + mask + "' is " + std::to_string(m.lung.width) + " x " +
                                        std::to_string(m.lung.height) + ", its X-ray '" + image + "' " +
                                        std::to_string(x.width) + " x " + std::to_string(x.height));
  const std::vector<float> img = letterbox(x, size), lung = letterbox(m.lung, size), ignore = letterbox(m.ignore, size);
  Sample s;
  s.image = at::from_blob(const_cast<float*>(img.data()), {1, size, size}, at::kFloat).clone();
  s.label = (at::from_blob(const_cast<float*>(lung.data()), {1, size, size}, at::kFloat) >= 0.5f).to(at::kByte);
  s.valid = at::from_blob(const_cast<float*>(ignore.data()), {1, size, size}, at::kFloat) < 0.5f;
  s.id = image;
  index_foreground(s);
  return s;
}

struct CxrLungSegmenter::Impl {
  LoadedModel model;
  int size = 0;
};

CxrLungSegmenter::CxrLungSegmenter() : impl_(std::make_unique<Impl>()) {}
CxrLungSegmenter::~CxrLungSegmenter() = default;
CxrLungSegmenter::CxrLungSegmenter(CxrLungSegmenter&&) noexcept = default;
CxrLungSegmenter& CxrLungSegmenter::operator=(CxrLungSegmenter&&) noexcept = default;
int CxrLungSegmenter::size() const { return impl_->size; }

CxrLungSegmenter CxrLungSegmenter::load(const std::string& folder) {
  CxrLungSegmenter s;
  s.impl_->model = load_model(folder);
  const ModelInfo& info = s.impl_->model.info;
  if (info.task != "cxr_lungs" || info.network.type != "unet" || info.network.unet.dims != 2)
    throw Error(ExitCode::BadConfig, "'" + folder + "' is not an X-ray lung segmenter (task " + info.task +
                                         "; a 2-D U-Net of task cxr_lungs expected)");
  s.impl_->size = int(info.patch_size[0]);
  return s;
}

std::vector<uint8_t> CxrLungSegmenter::segment(const XrayImage& image) const {
  const int s = impl_->size;
  const std::vector<float> box = letterbox(image, s);
  at::NoGradGuard no_grad;
  Network& net = *impl_->model.network;
  net.eval();
  const at::Tensor x = at::from_blob(const_cast<float*>(box.data()), {1, 1, s, s}, at::kFloat).clone();
  const at::Tensor logits = net.forward(x)[0];  // [K, s, s]
  const at::Tensor lung = logits.size(0) == 1 ? at::sigmoid(logits[0]) >= 0.5 : logits.argmax(0) >= 1;
  // Components of at least a fifth of the largest, at most two (the two lungs): stray blobs do not widen the box.
  const image::Components c = image::connected_components(lung.unsqueeze(0));
  at::Tensor keep = at::zeros({1, s, s}, at::kBool);
  for (size_t i = 0; i < c.sizes.size() && i < 2; ++i)
    if (c.sizes[i] * 5 >= c.sizes[0]) keep |= c.labels == int(i + 1);
  const at::Tensor k = keep.to(at::kByte).contiguous();
  return std::vector<uint8_t>(k.data_ptr<uint8_t>(), k.data_ptr<uint8_t>() + k.numel());
}

LungCrop CxrLungSegmenter::lung_box(const XrayImage& image, double margin) const {
  const int s = impl_->size;
  const std::vector<uint8_t> mask = segment(image);
  const auto [bx, by, bw, bh] = letterbox_box(image.width, image.height, s);
  int x0 = s, y0 = s, x1 = -1, y1 = -1;
  int64_t count = 0;
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x)
      if (mask[size_t(y) * size_t(s) + size_t(x)]) {
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        ++count;
      }
  LungCrop r;
  r.lung_fraction = double(count) / double(std::max(1, bw * bh));
  r.box = {0, 0, image.width, image.height};
  if (r.lung_fraction < 0.05) return r;
  // Square pixels [x0, x1 + 1) -> image pixels, then the margin.
  const double sx = double(image.width) / bw, sy = double(image.height) / bh;
  double ix0 = (x0 - bx) * sx, ix1 = (x1 + 1 - bx) * sx, iy0 = (y0 - by) * sy, iy1 = (y1 + 1 - by) * sy;
  const double mx = margin * (ix1 - ix0), my = margin * (iy1 - iy0);
  ix0 = std::max(0.0, ix0 - mx), iy0 = std::max(0.0, iy0 - my);
  ix1 = std::min(double(image.width), ix1 + mx), iy1 = std::min(double(image.height), iy1 + my);
  const int px0 = int(std::floor(ix0)), py0 = int(std::floor(iy0));
  const int px1 = int(std::ceil(ix1)), py1 = int(std::ceil(iy1));
  if (px1 - px0 < 16 || py1 - py0 < 16) return r;
  r.found = true;
  r.box = {px0, py0, px1 - px0, py1 - py0};
  return r;
}

}  // namespace pulmo::cxr

namespace pulmo::cxr {

double CxrLungSegmenter::dice(const XrayImage& image, const std::string& mask_path) const {
  const int s = impl_->size;
  const LungMask m = read_lung_mask(mask_path);
  if (m.lung.width != image.width || m.lung.height != image.height)
    throw Error(ExitCode::Mismatch, "lung mask '" + mask_path + "' is " + std::to_string(m.lung.width) + " x " +
                                        std::to_string(m.lung.height) + ", the X-ray " + std::to_string(image.width) +
                                        " x " + std::to_string(image.height));
  const std::vector<float> lung = letterbox(m.lung, s), ignore = letterbox(m.ignore, s);
  const std::vector<uint8_t> pred = segment(image);
  int64_t a = 0, b = 0, both = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    if (ignore[i] >= 0.5f) continue;
    const bool t = lung[i] >= 0.5f, p = pred[i] != 0;
    a += t, b += p, both += t && p;
  }
  return a + b == 0 ? std::nan("") : 2.0 * double(both) / double(a + b);
}

}  // namespace pulmo::cxr
