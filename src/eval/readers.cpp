// Several readers: consensus masks (majority vote, STAPLE via ITK) and pairwise agreement.
#include <ATen/ATen.h>
#include <itkSTAPLEImageFilter.h>

#include "io/itk_bridge.h"
#include "pulmo/error.h"
#include "pulmo/eval.h"

namespace pulmo {

namespace {

void check_readers(const std::vector<Volume>& readers, size_t minimum) {
  if (readers.size() < minimum)
    throw Error(ExitCode::Usage, "need at least " + std::to_string(minimum) + " readers' masks, got " +
                                     std::to_string(readers.size()));
  for (size_t i = 1; i < readers.size(); ++i)
    if (!readers[0].geometry.same_grid_as(readers[i].geometry))
      throw Error(ExitCode::Mismatch, "reader " + std::to_string(i + 1) + "'s mask is on another grid than reader 1's (" +
                                          readers[i].geometry.describe() + " vs " + readers[0].geometry.describe() + ")");
}

}  // namespace

ConsensusResult consensus(const std::vector<Volume>& readers, ConsensusMethod method) {
  check_readers(readers, 2);
  ConsensusResult out;
  if (method == ConsensusMethod::MajorityVote) {
    at::Tensor votes = at::zeros_like(readers[0].voxels, at::kInt);
    for (const auto& r : readers) votes += r.voxels.ne(0).to(at::kInt);
    out.mask = readers[0].with_voxels(votes.mul(2).gt(static_cast<int64_t>(readers.size())).to(at::kByte));
    return out;
  }
  using InImage = itk::Image<uint8_t, 3>;
  using Staple = itk::STAPLEImageFilter<InImage, itk::Image<float, 3>>;
  auto filter = Staple::New();
  filter->SetForegroundValue(1);
  for (size_t i = 0; i < readers.size(); ++i)
    filter->SetInput(static_cast<unsigned>(i), io::to_itk<uint8_t>(readers[i].with_voxels(readers[i].voxels.ne(0))));
  try {
    filter->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Internal, std::string("STAPLE failed: ") + e.GetDescription());
  }
  const Volume probability = io::from_itk<float>(filter->GetOutput());
  out.mask = readers[0].with_voxels(probability.voxels.ge(0.5).to(at::kByte));
  for (size_t i = 0; i < readers.size(); ++i) {
    out.sensitivity.push_back(filter->GetSensitivity(static_cast<unsigned>(i)));
    out.specificity.push_back(filter->GetSpecificity(static_cast<unsigned>(i)));
  }
  out.iterations = static_cast<int>(filter->GetElapsedIterations());
  return out;
}

std::vector<ReaderPairAgreement> inter_reader_agreement(const std::vector<Volume>& readers, double tolerance_mm) {
  check_readers(readers, 2);
  std::vector<ReaderPairAgreement> out;
  for (size_t a = 0; a < readers.size(); ++a)
    for (size_t b = a + 1; b < readers.size(); ++b) {
      const Volume ma = readers[a].with_voxels(readers[a].voxels.ne(0)), mb = readers[b].with_voxels(readers[b].voxels.ne(0));
      ReaderPairAgreement p;
      p.reader_a = static_cast<int>(a);
      p.reader_b = static_cast<int>(b);
      p.dice = volumetric_dice(ma.voxels, mb.voxels);
      p.surface_dice = surface_dice_at(compute_surface_distances(ma, mb), tolerance_mm);
      out.push_back(p);
    }
  return out;
}

}  // namespace pulmo
