// Patient-level splits: every case of a patient lands in the same set.
#include <algorithm>
#include <cmath>
#include <map>

#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "core/random.h"

namespace pulmo {

namespace {

using Patients = std::vector<std::vector<int>>;  // case indices per patient

// Patients in order of first appearance, then shuffled with `seed` (Fisher-Yates, platform-independent).
Patients shuffled_patients(const Manifest& m, uint64_t seed) {
  std::map<std::string, int> index;
  Patients patients;
  for (size_t i = 0; i < m.cases.size(); ++i) {
    const Case& c = m.cases[i];
    if (c.patient_id.empty())
      throw Error(ExitCode::BadConfig, "case '" + c.case_id + "' has no patient_id: splits are made per patient "
                                       "(give the case its own patient_id to make it a patient of its own)");
    auto [it, added] = index.emplace(c.patient_id, static_cast<int>(patients.size()));
    if (added) patients.emplace_back();
    patients[it->second].push_back(static_cast<int>(i));
  }
  Rng rng(seed);
  for (size_t i = patients.size(); i > 1; --i) std::swap(patients[i - 1], patients[rng.below(static_cast<int>(i))]);
  return patients;
}

void check_fraction(const char* name, double f) {
  if (!(f >= 0.0 && f < 1.0))
    throw Error(ExitCode::BadConfig, std::string(name) + " must lie in [0, 1), got " + std::to_string(f));
}

// How many of n patients a fraction takes: rounded, at least 1 when the fraction is positive.
int share(double fraction, int n) {
  if (fraction <= 0.0) return 0;
  return std::max(1, static_cast<int>(std::lround(fraction * n)));
}

void append(const std::vector<int>& cases, std::vector<int>* to) { to->insert(to->end(), cases.begin(), cases.end()); }

// Test = `test_patients`; of the rest, a seeded `validation_fraction` validates and the others train.
Split make_split(const Patients& patients, const std::vector<bool>& is_test, double validation_fraction, uint64_t seed,
                 int fixed_validation = -1) {
  Split s;
  Patients rest;
  for (size_t p = 0; p < patients.size(); ++p)
    if (is_test[p]) append(patients[p], &s.test);
    else rest.push_back(patients[p]);
  Rng rng(seed);
  for (size_t i = rest.size(); i > 1; --i) std::swap(rest[i - 1], rest[rng.below(static_cast<int>(i))]);
  const int n_rest = static_cast<int>(rest.size());
  const int n_val = fixed_validation >= 0 ? fixed_validation : std::min(share(validation_fraction, n_rest), n_rest - 1);
  for (size_t p = 0; p < rest.size(); ++p) append(rest[p], static_cast<int>(p) < n_val ? &s.validation : &s.train);
  for (auto* v : {&s.train, &s.validation, &s.test}) std::sort(v->begin(), v->end());
  return s;
}

}  // namespace

std::vector<Split> kfold_splits(const Manifest& m, int k, double validation_fraction, uint64_t seed) {
  check_fraction("validation fraction", validation_fraction);
  const Patients patients = shuffled_patients(m, seed);
  const int n = static_cast<int>(patients.size());
  if (k < 2 || k > n)
    throw Error(ExitCode::BadConfig, "k-fold needs 2 <= k <= number of patients (" + std::to_string(n) + "), got k = " + std::to_string(k));
  // Balance cases per fold: largest patients first (stable, so ties keep the shuffled order).
  std::vector<int> order(n);
  for (int p = 0; p < n; ++p) order[p] = p;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return patients[a].size() > patients[b].size(); });
  std::vector<int> fold_of(n), fold_cases(k, 0);
  for (int p : order) {
    const int f = static_cast<int>(std::min_element(fold_cases.begin(), fold_cases.end()) - fold_cases.begin());
    fold_of[p] = f;
    fold_cases[f] += static_cast<int>(patients[p].size());
  }
  std::vector<Split> splits;
  for (int f = 0; f < k; ++f) {
    std::vector<bool> is_test(n);
    for (int p = 0; p < n; ++p) is_test[p] = fold_of[p] == f;
    splits.push_back(make_split(patients, is_test, validation_fraction, hash2(seed, f + 1)));
  }
  return splits;
}

std::vector<Split> leave_one_patient_out(const Manifest& m, double validation_fraction, uint64_t seed) {
  check_fraction("validation fraction", validation_fraction);
  const Patients patients = shuffled_patients(m, seed);
  const int n = static_cast<int>(patients.size());
  if (n < 2) throw Error(ExitCode::BadConfig, "leave-one-patient-out needs at least 2 patients, found " + std::to_string(n));
  std::vector<Split> splits;
  for (int p = 0; p < n; ++p) {
    std::vector<bool> is_test(n, false);
    is_test[p] = true;
    splits.push_back(make_split(patients, is_test, validation_fraction, hash2(seed, p + 1)));
  }
  return splits;
}

Split holdout_split(const Manifest& m, double validation_fraction, double test_fraction, uint64_t seed) {
  check_fraction("validation fraction", validation_fraction);
  check_fraction("test fraction", test_fraction);
  const Patients patients = shuffled_patients(m, seed);
  const int n = static_cast<int>(patients.size());
  const int n_test = share(test_fraction, n), n_val = share(validation_fraction, n);
  if (n_test + n_val >= n)
    throw Error(ExitCode::BadConfig, "holdout split of " + std::to_string(n) + " patients leaves none to train on (" +
                                         std::to_string(n_test) + " test, " + std::to_string(n_val) + " validation)");
  std::vector<bool> is_test(n, false);
  for (int p = 0; p < n_test; ++p) is_test[p] = true;
  return make_split(patients, is_test, validation_fraction, hash2(seed, 0), n_val);
}

}  // namespace pulmo
