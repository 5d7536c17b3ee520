// Process-wide settings: thread counts for LibTorch, OpenMP and ITK.
#pragma once

namespace pulmo {

// Cores this process may use (honours CPU affinity / cgroup-limited sets).
int available_cores();

// `--threads` above this many threads per available core is refused (exit 2): more threads than that
// only add scheduling overhead, and 100000 threads exhaust the process limits.
constexpr int kMaxThreadsPerCore = 4;

// Sets LibTorch intra-op, OpenMP and ITK thread counts to `threads`
// (0 = available_cores()). Debian's LibTorch otherwise starts with ONE thread.
// Returns the count applied.
int set_threads(int threads = 0);

}  // namespace pulmo
