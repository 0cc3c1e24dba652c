#include "engine/dash.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <tuple>
#include <utility>

#include "layout/layout.h"

namespace reel::engine::dash {
namespace {

std::string IsoDuration(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "PT%.3fS", seconds);
  return buf;
}

void WriteTimeline(std::ostringstream& out, const Representation& r) {
  out << "        <SegmentTemplate timescale=\"1000\" initialization=\""
      << layout::DashInitTemplate(r.id) << "\" media=\"" << layout::DashMediaTemplate(r.id)
      << "\" startNumber=\"0\">\n"
      << "          <SegmentTimeline>\n";
  int64_t t = 0;
  for (size_t i = 0; i < r.segment_durations.size();) {
    // Runs of equal durations become one S element with a repeat count.
    int64_t d = std::llround(r.segment_durations[i] * 1000);
    size_t j = i + 1;
    while (j < r.segment_durations.size() && std::llround(r.segment_durations[j] * 1000) == d) ++j;
    out << "            <S t=\"" << t << "\" d=\"" << d << "\"";
    if (j - i > 1) out << " r=\"" << (j - i - 1) << "\"";
    out << "/>\n";
    t += d * static_cast<int64_t>(j - i);
    i = j;
  }
  out << "          </SegmentTimeline>\n        </SegmentTemplate>\n";
}

// "hvc1.1.6.L93.B0" -> "hvc1".
std::string Family(const std::string& codecs) { return codecs.substr(0, codecs.find('.')); }

std::string XmlEscaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string WithTextTracks(const std::string& manifest, const std::vector<TextTrack>& tracks) {
  std::string sets;
  int id = 100;  // after the video and audio sets
  for (const TextTrack& t : tracks) {
    sets += "    <AdaptationSet id=\"" + std::to_string(id++) +
            "\" contentType=\"text\" mimeType=\"text/vtt\"";
    if (!t.language.empty()) sets += " lang=\"" + XmlEscaped(t.language) + "\"";
    // The schema puts Label before Role.
    sets += ">\n      <Label>" + XmlEscaped(t.name) + "</Label>\n";
    sets += "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>\n";
    sets += "      <Representation id=\"" + XmlEscaped(t.id) + "\" bandwidth=\"256\">\n";
    sets += "        <BaseURL>" + XmlEscaped(t.url) + "</BaseURL>\n      </Representation>\n";
    sets += "    </AdaptationSet>\n";
  }
  std::string out = manifest;
  size_t end = out.rfind("  </Period>");
  if (end != std::string::npos) out.insert(end, sets);
  return out;
}

std::string Manifest(const std::vector<Representation>& reps, double duration) {
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
         "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" "
         "mediaPresentationDuration=\""
      << IsoDuration(duration) << "\" minBufferTime=\"PT2.000S\">\n"
      << "  <Period id=\"0\" start=\"PT0.000S\">\n";
  // One adaptation set per video codec and transfer (a player switches only within one it
  // decodes and can show: HDR and SDR HEVC are two sets), then the audio.
  using SetKey = std::tuple<bool, std::string, int>;  // (video, codec family "avc1"..., transfer)
  std::vector<SetKey> sets;
  for (bool video : {true, false})
    for (const Representation& r : reps) {
      SetKey key{video, video ? Family(r.codecs) : r.id, video ? r.transfer : 0};
      if (r.video == video && std::find(sets.begin(), sets.end(), key) == sets.end())
        sets.push_back(key);
    }
  // Audio sets are keyed by the track (its representation's id): which one is main.
  std::string main_audio;
  for (const Representation& r : reps)
    if (!r.video && (main_audio.empty() || r.default_track)) {
      main_audio = r.id;
      if (r.default_track) break;
    }
  size_t audio_sets =
      std::count_if(sets.begin(), sets.end(), [](const SetKey& k) { return !std::get<0>(k); });
  int set = 0;
  for (const auto& [video, family, transfer] : sets) {
    // The audio's language, as HLS gives it in LANGUAGE: players pick a track by it.
    std::string lang;
    for (const Representation& r : reps)
      if (!video && !r.video && r.id == family && lang.empty()) lang = r.language;
    out << "    <AdaptationSet id=\"" << set++ << "\" contentType=\"" << (video ? "video" : "audio")
        << "\" mimeType=\"" << (video ? "video/mp4" : "audio/mp4") << "\"";
    if (!lang.empty()) out << " lang=\"" << XmlEscaped(lang) << "\"";
    out << " segmentAlignment=\"true\" startWithSAP=\"1\">\n";
    if (!video && audio_sets > 1)
      out << "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\""
          << (family == main_audio ? "main" : "alternate") << "\"/>\n";
    for (const Representation& r : reps) {
      if (r.video != video || !video || r.transfer != transfer || !transfer ||
          Family(r.codecs) != family)
        continue;
      // The HDR colour of the set, as DASH-IF's IOP says it (CICP code points, ISO/IEC 23001-8).
      for (auto [name, value] : {std::pair{"ColourPrimaries", r.colour_primaries},
                                 std::pair{"TransferCharacteristics", r.transfer},
                                 std::pair{"MatrixCoefficients", r.matrix}})
        out << "      <SupplementalProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:" << name
            << "\" value=\"" << value << "\"/>\n";
      break;
    }
    for (const Representation& r : reps) {
      if (r.video != video || (video && (Family(r.codecs) != family || r.transfer != transfer)) ||
          (!video && r.id != family))
        continue;
      out << "      <Representation id=\"" << r.id << "\" bandwidth=\"" << r.bandwidth
          << "\" codecs=\"" << r.codecs << "\"";
      if (video) {
        out << " width=\"" << r.width << "\" height=\"" << r.height << "\" frameRate=\""
            << r.frame_rate << "\" sar=\"1:1\"";
      } else {
        out << " audioSamplingRate=\"" << r.sample_rate << "\"";
      }
      out << ">\n";
      if (!video)
        out << "        <AudioChannelConfiguration "
               "schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\""
            << r.channels << "\"/>\n";
      WriteTimeline(out, r);
      out << "      </Representation>\n";
    }
    out << "    </AdaptationSet>\n";
  }
  out << "  </Period>\n</MPD>\n";
  return out.str();
}

}  // namespace reel::engine::dash
