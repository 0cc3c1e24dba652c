#include "engine/dash.h"

#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace reel::engine::dash {
namespace {

Representation Video() {
  Representation r;
  r.id = "720p";
  r.bandwidth = 3000000;
  r.width = 1280;
  r.height = 720;
  r.frame_rate = "30";
  r.codecs = "avc1.64001F";
  r.segment_durations = {4, 4, 2};
  return r;
}

Representation Audio(const std::string& id, const std::string& language, int channels) {
  Representation r;
  r.id = id;
  r.video = false;
  r.bandwidth = 128000 * channels / 2;
  r.channels = channels;
  r.sample_rate = 48000;
  r.codecs = "mp4a.40.2";
  r.language = language;
  r.segment_durations = {4, 4, 2};
  return r;
}

// The audio adaptation sets of an MPD, in order: (lang, Role value, first representation id).
std::vector<std::vector<std::string>> AudioSets(const std::string& mpd) {
  std::vector<std::vector<std::string>> out;
  std::regex set(R"x(<AdaptationSet ([^>]*contentType="audio"[^>]*)>\s*)x"
                 R"x((?:<Role schemeIdUri="urn:mpeg:dash:role:2011" value="(\w+)"/>\s*)?)x"
                 R"x(<Representation id="([^"]+)")x");
  std::regex lang(R"x( lang="([^"]*)")x");
  for (std::sregex_iterator it(mpd.begin(), mpd.end(), set), end; it != end; ++it) {
    std::smatch l;
    std::string attributes = (*it)[1].str();
    out.push_back(
        {std::regex_search(attributes, l, lang) ? l[1].str() : "", (*it)[2].str(), (*it)[3].str()});
  }
  return out;
}

TEST(Dash, OneAudioTrackIsOneSetWithoutRole) {
  std::string mpd = Manifest({Video(), Audio("audio", "en", 2)}, 10);
  using Sets = std::vector<std::vector<std::string>>;
  EXPECT_EQ(AudioSets(mpd), (Sets{{"en", "", "audio"}})) << mpd;
  EXPECT_EQ(mpd.find("<Role"), std::string::npos) << "nothing to choose between";
}

TEST(Dash, EachAudioTrackHasItsSetWithLanguageAndRole) {
  Representation fr = Audio("audio_1", "fr", 2);
  std::vector<Representation> reps = {Video(), Audio("audio", "en", 6), fr,
                                      Audio("audio_2", "", 2)};
  using Sets = std::vector<std::vector<std::string>>;
  std::string mpd = Manifest(reps, 10);
  EXPECT_EQ(
      AudioSets(mpd),
      (Sets{{"en", "main", "audio"}, {"fr", "alternate", "audio_1"}, {"", "alternate", "audio_2"}}))
      << "none marked default: the first is main\n"
      << mpd;
  reps[2].default_track = true;
  mpd = Manifest(reps, 10);
  EXPECT_EQ(
      AudioSets(mpd),
      (Sets{{"en", "alternate", "audio"}, {"fr", "main", "audio_1"}, {"", "alternate", "audio_2"}}))
      << mpd;
  // Every set has its own id, one per representation: each audio set holds its track only.
  std::regex ids(R"x(<AdaptationSet id="(\d+)")x");
  std::vector<std::string> seen;
  for (std::sregex_iterator it(mpd.begin(), mpd.end(), ids), end; it != end; ++it)
    seen.push_back((*it)[1]);
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2", "3"}));
  size_t representations = 0;
  for (size_t at = mpd.find("<Representation "); at != std::string::npos;
       at = mpd.find("<Representation ", at + 1))
    ++representations;
  EXPECT_EQ(representations, 4u);
  EXPECT_NE(mpd.find("value=\"6\"/>"), std::string::npos) << "the 5.1 track's channels";
}

}  // namespace
}  // namespace reel::engine::dash
