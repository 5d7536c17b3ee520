#include <gtest/gtest.h>

#include "support/test_support.h"

using pulmo::test::run_pulmo;

TEST(Cli, HelpExitsZero) {
  const auto r = run_pulmo("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos);
}

TEST(Cli, UnknownOptionIsAUsageError) {
  const auto r = run_pulmo("info --no-such-option x");
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(Cli, MissingSubcommandIsAUsageError) {
  EXPECT_EQ(run_pulmo("").exit_code, 2);
}
