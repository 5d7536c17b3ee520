#include <gtest/gtest.h>

#include "pulmo/error.h"

TEST(Error, WithContextPrefixesTheMessageAndKeepsTheCode) {
  const pulmo::Error e(pulmo::ExitCode::BadSeries, "slice 57 missing");
  const pulmo::Error f = e.with_context("reading DICOM series 1.2.3");
  EXPECT_STREQ(f.what(), "reading DICOM series 1.2.3: slice 57 missing");
  EXPECT_EQ(f.code(), pulmo::ExitCode::BadSeries);
}

TEST(Error, EveryExitCodeHasAName) {
  for (int c = 0; c <= 14; ++c)
    EXPECT_STRNE(pulmo::exit_code_name(static_cast<pulmo::ExitCode>(c)), "unknown") << "code " << c;
}
