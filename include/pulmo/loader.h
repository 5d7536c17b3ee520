// Batches for training, built by worker threads ahead of the network.
//
// The batch of step s depends only on (seed, s): its cases are drawn from a seed mixed from (seed, s)
// and sample b is augmented from one mixed from that and b (SplitMix64). So a run is repeatable whatever
// the thread timing, and a resumed run gets exactly the batches it would have had.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "pulmo/transforms.h"

namespace pulmo {

struct LoaderOptions {
  int batch_size = 2;
  int workers = 2;          // threads building batches (0 = build in the caller's thread)
  int prefetch = 4;         // batches built ahead of the consumer
  uint64_t seed = 0;
};

struct Batch {
  int64_t step = 0;
  at::Tensor image;   // [B,1,z,y,x] float
  at::Tensor label;   // [B,z,y,x] int64
  at::Tensor valid;   // [B,z,y,x] bool, or undefined when no sample has a valid mask
  double build_ms = 0;  // worker time to build this batch
};

class BatchLoader {
 public:
  // `cases` must outlive the loader. Every transformed sample of a batch must have the same shape
  // (end the pipeline with a crop). Batches are produced for steps first_step, first_step+1, ...
  BatchLoader(const std::vector<Sample>& cases, std::shared_ptr<const Transform> pipeline, const LoaderOptions& o,
              int64_t first_step = 0);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch (in step order); blocks until it is ready. Rethrows a worker's error.
  Batch next();
  // Milliseconds the last next() waited for its batch (0 when it was ready).
  double last_wait_ms() const { return last_wait_ms_; }

  // Builds the batch of `step` in the calling thread.
  Batch build(int64_t step) const;

 private:
  struct Workers;  // the threads and what they share (src/data/loader.cpp)
  void work();

  const std::vector<Sample>& cases_;
  std::shared_ptr<const Transform> pipeline_;
  LoaderOptions o_;
  int64_t next_to_take_;
  std::unique_ptr<Workers> workers_;
  double last_wait_ms_ = 0;
};

}  // namespace pulmo
