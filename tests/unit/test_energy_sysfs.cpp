// The sysfs reading layer of the energy meters: strict parsing, errors that name the file, the
// errno and the value; and the wrap-around arithmetic of RAPL counters.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"
#include "fake_sysfs.hpp"

namespace mobilellm::energy {
namespace {

using testing::FakeSysfs;

// The SysfsError thrown by fn, with the message checked to contain every needle.
template <typename Fn>
::testing::AssertionResult fails_with(Fn fn, std::initializer_list<std::string> needles,
                                      int os_error = 0) {
  try {
    fn();
  } catch (const SysfsError& e) {
    const std::string what = e.what();
    for (const auto& needle : needles)
      if (what.find(needle) == std::string::npos)
        return ::testing::AssertionFailure() << "\"" << what << "\" lacks \"" << needle << "\"";
    if (e.os_error() != os_error)
      return ::testing::AssertionFailure() << "os_error " << e.os_error() << ", expected " << os_error;
    return ::testing::AssertionSuccess() << what;
  }
  return ::testing::AssertionFailure() << "no SysfsError";
}

TEST(EnergySysfs, ReadsAttributesWithoutTheNewline) {
  FakeSysfs fs;
  fs.write("a", "Discharging");
  EXPECT_EQ(read_attribute(fs.path("a")), "Discharging");
  fs.write("n", "262143328850");
  EXPECT_EQ(read_unsigned(fs.path("n")), 262143328850u);
  fs.write("s", "-1500000");
  EXPECT_EQ(read_signed(fs.path("s")), -1500000);
  EXPECT_FALSE(read_optional_attribute(fs.path("missing")).has_value());
}

TEST(EnergySysfs, ReadErrorsNameTheFileAndTheErrno) {
  FakeSysfs fs;
  const std::string missing = fs.path("missing");
  EXPECT_TRUE(fails_with([&] { read_attribute(missing); }, {missing, "ENOENT"}, ENOENT));
  fs.write("dir/x", "1");  // reading a directory fails with EISDIR, even as root
  const std::string dir = fs.path("dir");
  EXPECT_TRUE(fails_with([&] { read_attribute(dir); }, {dir, "EISDIR"}, EISDIR));
  EXPECT_TRUE(fails_with([&] { read_optional_attribute(dir); }, {dir, "EISDIR"}, EISDIR));
  EXPECT_TRUE(fails_with([&] { list_directory(missing); }, {missing, "ENOENT"}, ENOENT));
}

TEST(EnergySysfs, RefusesFilesLongerThanAPage) {
  FakeSysfs fs;
  fs.write("big", std::string(5000, '7'));
  EXPECT_TRUE(fails_with([&] { read_attribute(fs.path("big")); }, {fs.path("big"), "4096"}));
  fs.write("page", std::string(4095, '7'));  // 4095 digits + newline: exactly a page
  EXPECT_EQ(read_attribute(fs.path("page")).size(), 4095u);
}

TEST(EnergySysfs, UnsignedParsingIsStrict) {
  const std::string p = "/fake/energy_uj";
  EXPECT_EQ(parse_unsigned(p, "0"), 0u);
  EXPECT_EQ(parse_unsigned(p, "18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
  for (const char* bad : {"abc", "-5", "+5", " 5", "5 ", "12abc", "0x10", "1.5"})
    EXPECT_TRUE(fails_with([&] { parse_unsigned(p, bad); }, {p, std::string("\"") + bad + "\""}))
        << bad;
  EXPECT_TRUE(fails_with([&] { parse_unsigned(p, ""); }, {p, "is empty"}));
  EXPECT_TRUE(fails_with([&] { parse_unsigned(p, "18446744073709551616"); },
                         {p, "\"18446744073709551616\"", "out of range"}));
}

TEST(EnergySysfs, SignedAndRealParsingIsStrict) {
  const std::string p = "/fake/current_now";
  EXPECT_EQ(parse_signed(p, "-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(parse_signed(p, "42"), 42);
  for (const char* bad : {"abc", "-", "--1", "1-", "4 2", ""})
    EXPECT_TRUE(fails_with([&] { parse_signed(p, bad); }, {p})) << bad;
  EXPECT_TRUE(fails_with([&] { parse_signed(p, "99999999999999999999999"); },
                         {p, "\"99999999999999999999999\"", "64-bit range"}));
  EXPECT_DOUBLE_EQ(parse_real(p, "2.3283064365386962890625e-10"), 2.3283064365386962890625e-10);
  for (const char* bad : {"inf", "nan", "1e999", "x", "1.0 J", ""})
    EXPECT_TRUE(fails_with([&] { parse_real(p, bad); }, {p})) << bad;
}

TEST(EnergySysfs, QuotedValuesAreEscapedAndBounded) {
  EXPECT_EQ(quote_value("abc"), "\"abc\"");
  EXPECT_EQ(quote_value(std::string("a\x01\xff\"", 4)), "\"a\\x01\\xff\\x22\"");
  const std::string quoted = quote_value(std::string(100, 'x'));
  EXPECT_NE(quoted.find("100 bytes, truncated"), std::string::npos) << quoted;
  EXPECT_EQ(describe_errno(EACCES), "EACCES (Permission denied)");
}

// The counter reads 0..max inclusive: after max comes 0, so the modulus is max + 1.
TEST(EnergyCounter, DeltaHandlesWrapAround) {
  EXPECT_EQ(detail::counter_delta(5, 10, 100), 5u);
  EXPECT_EQ(detail::counter_delta(7, 7, 100), 0u);
  EXPECT_EQ(detail::counter_delta(0, 100, 100), 100u);
  EXPECT_EQ(detail::counter_delta(100, 0, 100), 1u);   // max -> 0 is one step
  EXPECT_EQ(detail::counter_delta(95, 3, 100), 9u);    // 96..100 (5 steps), 0 (1), 1..3 (3)
  EXPECT_EQ(detail::counter_delta(1, 0, 100), 100u);   // all the way round but one
  const std::uint64_t big = std::numeric_limits<std::uint64_t>::max() - 1;
  EXPECT_EQ(detail::counter_delta(big, 0, big), 1u);
  EXPECT_EQ(detail::counter_delta(big - 10, 20, big), 31u);
  EXPECT_EQ(detail::counter_delta(testing::kIntelMaxRange - 1000, 500, testing::kIntelMaxRange), 1501u);
}

}  // namespace
}  // namespace mobilellm::energy
