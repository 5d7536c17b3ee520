// Internal: exact conversion between pulmo::Volume and itk::Image<T, 3>.
// The ITK buffer (x fastest) and the Volume tensor [z, y, x] share one memory layout,
// so conversion is a copy (to ITK) or zero-copy (from ITK: the tensor keeps the image alive).
#pragma once

#include <ATen/ATen.h>
#include <itkImage.h>

#include <cstring>

#include "pulmo/volume.h"

namespace pulmo::io {

template <typename T> struct PixelTraits;
template <> struct PixelTraits<uint8_t> { static constexpr at::ScalarType dtype = at::kByte;   static constexpr const char* name = "uint8"; };
template <> struct PixelTraits<int16_t> { static constexpr at::ScalarType dtype = at::kShort;  static constexpr const char* name = "int16"; };
template <> struct PixelTraits<int32_t> { static constexpr at::ScalarType dtype = at::kInt;    static constexpr const char* name = "int32"; };
template <> struct PixelTraits<float>   { static constexpr at::ScalarType dtype = at::kFloat;  static constexpr const char* name = "float32"; };
template <> struct PixelTraits<double>  { static constexpr at::ScalarType dtype = at::kDouble; static constexpr const char* name = "float64"; };

template <typename T>
Geometry geometry_of(const itk::Image<T, 3>* image) {
  Geometry g;
  const auto region = image->GetLargestPossibleRegion();
  for (unsigned k = 0; k < 3; ++k) {
    g.size[k] = static_cast<int64_t>(region.GetSize()[k]);
    g.spacing_mm[k] = image->GetSpacing()[k];
    g.origin_mm[k] = image->GetOrigin()[k];
  }
  for (unsigned r = 0; r < 3; ++r)
    for (unsigned c = 0; c < 3; ++c) g.direction[3 * r + c] = image->GetDirection()(r, c);
  return g;
}

template <typename T>
void set_geometry(itk::Image<T, 3>* image, const Geometry& g) {
  typename itk::Image<T, 3>::RegionType region;
  typename itk::Image<T, 3>::SpacingType spacing;
  typename itk::Image<T, 3>::PointType origin;
  typename itk::Image<T, 3>::DirectionType direction;
  for (unsigned k = 0; k < 3; ++k) {
    region.SetIndex(k, 0);
    region.SetSize(k, static_cast<itk::SizeValueType>(g.size[k]));
    spacing[k] = g.spacing_mm[k];
    origin[k] = g.origin_mm[k];
  }
  for (unsigned r = 0; r < 3; ++r)
    for (unsigned c = 0; c < 3; ++c) direction(r, c) = g.direction[3 * r + c];
  image->SetRegions(region);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
}

// Copies the volume into a new ITK image of pixel type T (values converted as by Tensor::to).
template <typename T>
typename itk::Image<T, 3>::Pointer to_itk(const Volume& volume) {
  volume.check();
  auto image = itk::Image<T, 3>::New();
  set_geometry(image.GetPointer(), volume.geometry);
  image->Allocate();
  at::Tensor src = volume.voxels.to(PixelTraits<T>::dtype).contiguous();
  std::memcpy(image->GetBufferPointer(), src.data_ptr(), sizeof(T) * static_cast<size_t>(src.numel()));
  return image;
}

// Wraps the image's buffer in a tensor without copying; the tensor owns a reference to the image.
template <typename T>
Volume from_itk(typename itk::Image<T, 3>::Pointer image) {
  Volume v;
  v.geometry = geometry_of(image.GetPointer());
  typename itk::Image<T, 3>::Pointer keep = image;
  v.voxels = at::from_blob(
      image->GetBufferPointer(), {v.geometry.size[2], v.geometry.size[1], v.geometry.size[0]},
      [keep](void*) mutable { keep = nullptr; }, at::TensorOptions().dtype(PixelTraits<T>::dtype));
  return v;
}

}  // namespace pulmo::io
