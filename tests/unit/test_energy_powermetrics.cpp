// The powermetrics plist stream parser (the meter itself runs on macOS only). The samples follow
// the layout of `powermetrics -f plist`: NUL-separated plists, energies under "processor".
#include <gtest/gtest.h>

#include <string>

#include "energy/meters.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::energy {
namespace {

std::string sample(const std::string& processor_entries) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n"
         "<key>is_delta</key><true/>\n<key>elapsed_ns</key><integer>200123456</integer>\n"
         "<key>processor</key>\n<dict>\n<key>clusters</key><array><dict><key>name</key>"
         "<string>E-Cluster</string><key>freq_hz</key><real>972000000</real></dict></array>\n" +
         processor_entries + "</dict>\n</dict>\n</plist>\n";
}

TEST(EnergyPowermetrics, AppleSiliconSumsCpuGpuAndAneEnergy) {
  const std::string s = sample(
      "<key>ane_energy</key><integer>0</integer>\n<key>cpu_energy</key>\n<integer>1250</integer>\n"
      "<key>gpu_energy</key><integer>250</integer>\n<key>combined_power</key><real>7500.0</real>\n");
  EXPECT_DOUBLE_EQ(detail::powermetrics_sample_joules(s, 0), 1.5);  // 1500 mJ
}

TEST(EnergyPowermetrics, IntelPackageJoules) {
  const std::string s = sample("<key>package_joules</key><real>2.75</real>\n");
  EXPECT_DOUBLE_EQ(detail::powermetrics_sample_joules(s, 0), 2.75);
}

TEST(EnergyPowermetrics, StreamSplitsSamplesAcrossReads) {
  const std::string a = sample("<key>cpu_energy</key><integer>1000</integer>\n");
  const std::string b = sample("<key>cpu_energy</key><integer>500</integer>\n");
  const std::string stream = a + '\0' + b + '\0' + a.substr(0, 100);  // a third sample, unfinished
  detail::PowermetricsStream parser;
  double joules = 0.0;
  for (std::size_t at = 0; at < stream.size(); at += 37)  // arbitrary read sizes
    joules += parser.feed(std::string_view(stream).substr(at, 37));
  EXPECT_DOUBLE_EQ(joules, 1.5);
  EXPECT_EQ(parser.samples(), 2u);
}

TEST(EnergyPowermetrics, SamplesWithoutEnergyAreNamed) {
  struct Case {
    std::string plist, expect;
  };
  const Case cases[] = {
      {"<plist><dict><key>elapsed_ns</key><integer>1</integer></dict></plist>", "no processor"},
      {sample("<key>cpu_power</key><real>3.0</real>\n"), "neither cpu_energy"},
      {sample("<key>cpu_energy</key><string>x</string>\n"), "cpu_energy is not followed by a number"},
      {sample("<key>cpu_energy</key><integer>abc</integer>\n"), "\"abc\""},
      {sample("<key>cpu_energy</key><integer>-5</integer>\n"), "negative"},
  };
  for (const Case& c : cases) {
    detail::PowermetricsStream parser;
    parser.feed(sample("<key>cpu_energy</key><integer>1</integer>\n") + '\0');
    try {
      parser.feed(c.plist + '\0');
      ADD_FAILURE() << "accepted: " << c.expect;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("powermetrics sample 1"), std::string::npos) << what;
      EXPECT_NE(what.find(c.expect), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace mobilellm::energy
