#include "pulmo/loader.h"

#include <ATen/ATen.h>
#include <omp.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/random.h"
#include "pulmo/error.h"

namespace pulmo {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

struct BatchLoader::Workers {
  int64_t next_to_build;
  std::map<int64_t, Batch> ready;
  std::map<int64_t, std::exception_ptr> failed;
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
  std::vector<std::thread> threads;
};

BatchLoader::BatchLoader(const std::vector<Sample>& cases, std::shared_ptr<const Transform> pipeline,
                         const LoaderOptions& o, int64_t first_step)
    : cases_(cases), pipeline_(std::move(pipeline)), o_(o), next_to_take_(first_step), workers_(new Workers) {
  if (cases.empty()) throw Error(ExitCode::NoData, "no training cases for the loader");
  if (o.batch_size < 1) throw Error(ExitCode::BadConfig, "batch_size must be >= 1");
  if (o.prefetch < 1) o_.prefetch = 1;
  workers_->next_to_build = first_step;
  for (int i = 0; i < o.workers; ++i) workers_->threads.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  Workers& w = *workers_;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    w.stop = true;
  }
  w.cv.notify_all();
  for (auto& t : w.threads) t.join();
}

Batch BatchLoader::build(int64_t step) const {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t step_seed = mix_seed(o_.seed, static_cast<uint64_t>(step));
  std::vector<at::Tensor> images, labels, valids;
  bool any_valid = false;
  std::vector<Sample> samples;
  for (int b = 0; b < o_.batch_size; ++b) {
    const uint64_t s = mix_seed(step_seed, static_cast<uint64_t>(b));
    Sample sample = cases_[s % cases_.size()];  // shallow copy: transforms replace tensors, never write into them
    if (pipeline_) pipeline_->apply(sample, mix_seed(s, 1));
    any_valid = any_valid || sample.valid.defined();
    samples.push_back(std::move(sample));
  }
  for (const Sample& s : samples) {
    if (s.image.sizes() != samples[0].image.sizes())
      throw Error(ExitCode::Mismatch, "samples of a batch differ in shape (end the augmentation with a crop)");
    images.push_back(s.image.to(at::kFloat).unsqueeze(0));
    labels.push_back(s.label.defined() ? s.label.to(at::kLong) : at::zeros(s.image.sizes(), at::kLong));
    if (any_valid) valids.push_back(s.valid.defined() ? s.valid.to(at::kBool) : at::ones(s.image.sizes(), at::kBool));
  }
  Batch batch;
  batch.step = step;
  batch.image = at::stack(images);  // [B,1,z,y,x]
  batch.label = at::stack(labels);  // [B,z,y,x]
  if (any_valid) batch.valid = at::stack(valids);
  batch.build_ms = ms_since(t0);
  return batch;
}

void BatchLoader::work() {
  omp_set_num_threads(1);  // workers stay single-threaded: the network gets the cores
  Workers& w = *workers_;
  for (;;) {
    int64_t step;
    {
      std::unique_lock<std::mutex> lock(w.mutex);
      w.cv.wait(lock, [&] { return w.stop || w.next_to_build < next_to_take_ + o_.prefetch; });
      if (w.stop) return;
      step = w.next_to_build++;
    }
    Batch batch;
    std::exception_ptr error;
    try {
      batch = build(step);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(w.mutex);
      if (error)
        w.failed[step] = error;
      else
        w.ready[step] = std::move(batch);
    }
    w.cv.notify_all();
  }
}

Batch BatchLoader::next() {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t step = next_to_take_;
  Workers& w = *workers_;
  if (w.threads.empty()) {
    ++next_to_take_;
    Batch b = build(step);
    last_wait_ms_ = ms_since(t0);
    return b;
  }
  std::unique_lock<std::mutex> lock(w.mutex);
  w.cv.wait(lock, [&] { return w.ready.count(step) || w.failed.count(step); });
  last_wait_ms_ = ms_since(t0);
  ++next_to_take_;
  if (w.failed.count(step)) {
    const std::exception_ptr e = w.failed[step];
    w.failed.erase(step);
    lock.unlock();
    w.cv.notify_all();
    std::rethrow_exception(e);
  }
  Batch b = std::move(w.ready[step]);
  w.ready.erase(step);
  lock.unlock();
  w.cv.notify_all();
  return b;
}

}  // namespace pulmo
