// The package glue (package_writer.h): everything here reads the rendition folders back and
// writes from what they hold, never from what the encoders were asked for.
#include "engine/package_writer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/bmff.h"
#include "engine/dash.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

// The package's video codecs, "h264" or, for a multi-codec package, "h264,hevc,av1".
std::string PackageVideoCodecs(const PackageDescription& d) {
  std::string names;
  for (const PackageVideo& v : d.videos)
    if (("," + names + ",").find("," + v.codec_name + ",") == std::string::npos)
      names += (names.empty() ? "" : ",") + v.codec_name;
  return names;
}

// Writes each video rendition's I-frame playlist (byte ranges into its segments) beside its
// media playlist; the master's I-frame lines.
Result<std::vector<hls::IFrameEntry>> WriteIFramePlaylists(const PackageDescription& d,
                                                           const std::string& dir) {
  std::vector<hls::IFrameEntry> entries;
  for (const PackageVideo& v : d.videos) {
    Result<std::vector<hls::IFrame>> frames =
        hls::ReadIFrames(dir + "/" + layout::MediaPlaylistUri(v.name));
    if (!frames.ok()) return frames.status();
    std::string uri = layout::RenditionFile(v.name, layout::kIFramePlaylist);
    REEL_RETURN_IF_ERROR(WriteTextFile(
        dir + "/" + uri, hls::IFramePlaylist(*frames, std::string(layout::kInitSegment))));
    entries.push_back(
        {uri, hls::IFramePeakBitrate(*frames), v.width, v.height, v.codecs, v.video_range});
  }
  return entries;
}

}  // namespace

Status WriteTextFile(const std::string& path, const std::string& text) {
  // A new file renamed over the old one, never the old one rewritten: a package's files may be
  // hard links to a chunk's staging (stitch_parts::PlaceFile).
  return bmff::WriteWhole(path, text);
}

nlohmann::json ToJson(const PackageDescription& d) {
  nlohmann::json videos = nlohmann::json::array(), audio = nlohmann::json::array();
  for (const PackageVideo& v : d.videos)
    videos.push_back({{"name", v.name},
                      {"width", v.width},
                      {"height", v.height},
                      {"frame_rate", v.frame_rate},
                      {"frame_rate_text", v.frame_rate_text},
                      {"codecs", v.codecs},
                      {"codec_name", v.codec_name},
                      {"video_range", v.video_range},
                      {"colour", {v.colour_primaries, v.transfer, v.matrix}},
                      {"quality", v.quality}});
  for (const PackageAudio& a : d.audio)
    audio.push_back({{"name", a.name},
                     {"codecs", a.codecs},
                     {"channels", a.channels},
                     {"sample_rate", a.sample_rate},
                     {"language", a.language},
                     {"label", a.label},
                     {"default", a.is_default},
                     {"priming_seconds", a.priming_seconds},
                     {"end_seconds", a.end_seconds}});
  nlohmann::json j = {{"kind", d.kind}, {"dash", d.dash},   {"videos", videos},
                      {"audio", audio}, {"notes", d.notes}, {"captions", int(d.captions)}};
  if (d.per_title) j["per_title"] = PerTitleChoiceToJson(*d.per_title);
  return j;
}

Result<PackageDescription> PackageDescriptionFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("videos") || !j.contains("audio"))
    return InvalidArgument("not a package description");
  PackageDescription d;
  d.kind = j.value("kind", "hls");
  d.dash = j.value("dash", false);
  for (const nlohmann::json& v : j["videos"]) {
    PackageVideo p;
    p.name = v.value("name", "");
    p.width = v.value("width", 0);
    p.height = v.value("height", 0);
    p.frame_rate = v.value("frame_rate", 0.0);
    p.frame_rate_text = v.value("frame_rate_text", "");
    p.codecs = v.value("codecs", "");
    p.codec_name = v.value("codec_name", "");
    p.video_range = v.value("video_range", "");
    std::vector<int> colour = v.value("colour", std::vector<int>{0, 0, 0});
    if (colour.size() == 3) {
      p.colour_primaries = colour[0];
      p.transfer = colour[1];
      p.matrix = colour[2];
    }
    if (v.contains("quality")) p.quality = v["quality"];
    d.videos.push_back(std::move(p));
  }
  for (const nlohmann::json& a : j["audio"]) {
    PackageAudio p;
    p.name = a.value("name", "");
    p.codecs = a.value("codecs", "mp4a.40.2");
    p.channels = a.value("channels", 2);
    p.sample_rate = a.value("sample_rate", 48000);
    p.language = a.value("language", "");
    p.label = a.value("label", "");
    p.is_default = a.value("default", false);
    p.priming_seconds = a.value("priming_seconds", 0.0);
    p.end_seconds = a.value("end_seconds", 0.0);
    d.audio.push_back(std::move(p));
  }
  d.notes = j.value("notes", std::vector<std::string>{});
  int captions = j.value("captions", 0);
  d.captions = captions == int(hls::Captions::kNone)       ? hls::Captions::kNone
               : captions == int(hls::Captions::kInStream) ? hls::Captions::kInStream
                                                           : hls::Captions::kUnstated;
  if (j.contains("per_title")) {
    Result<PerTitleChoice> c = PerTitleChoiceFromJson(j["per_title"]);
    if (!c.ok()) return c.status();
    d.per_title = std::move(c).value();
  }
  return d;
}

Status WritePackageGlue(const PackageDescription& d, const std::vector<SubtitleTrack>& subtitles,
                        const std::string& dir, const std::string& final_dir, OutputResult* out) {
  auto final_path = [&](std::string_view name) {
    return (fs::path(final_dir) / name).lexically_normal().string();
  };
  // The audio renditions; a variant counts the largest, as a player may pick any of them.
  std::vector<hls::MediaPlaylist> audio_pls;
  std::vector<hls::AudioEntry> audio_entries;
  int64_t audio_peak = 0, audio_average = 0;
  std::string audio_codecs;
  for (const PackageAudio& a : d.audio) {
    std::string uri = layout::MediaPlaylistUri(a.name);
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(dir + "/" + uri);
    if (!pl.ok()) return pl.status();
    audio_peak = std::max(audio_peak, pl->PeakBitrate());
    audio_average = std::max(audio_average, pl->AverageBitrate());
    if (("," + audio_codecs + ",").find("," + a.codecs + ",") == std::string::npos)
      audio_codecs += "," + a.codecs;
    audio_entries.push_back({uri, a.channels, a.language, a.label, a.is_default});
    audio_pls.push_back(std::move(pl).value());
  }
  const bool has_audio = !d.audio.empty();
  size_t main = 0;  // the default track (the first when none says so)
  for (size_t i = 0; i < d.audio.size(); ++i)
    if (d.audio[i].is_default && !d.audio[main].is_default) main = i;
  std::vector<hls::VariantEntry> entries;
  std::vector<hls::MediaPlaylist> playlists;  // of the videos, for the DASH manifest
  for (const PackageVideo& v : d.videos) {
    std::string uri = layout::MediaPlaylistUri(v.name);
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(dir + "/" + uri);
    if (!pl.ok()) return pl.status();
    hls::VariantEntry e;
    e.uri = uri;
    e.width = v.width;
    e.height = v.height;
    e.frame_rate = v.frame_rate;
    e.codecs = v.codecs;
    e.video_range = v.video_range;
    e.bandwidth = pl->PeakBitrate();
    e.average_bandwidth = pl->AverageBitrate();
    if (has_audio) {
      e.codecs += audio_codecs;
      e.bandwidth += audio_peak;
      e.average_bandwidth += audio_average;
      e.uses_audio_group = true;
    }
    entries.push_back(e);
    VariantResult vr{v.name,
                     e.uri,
                     e.width,
                     e.height,
                     e.frame_rate,
                     e.bandwidth,
                     e.average_bandwidth,
                     e.codecs,
                     int(pl->segments.size()),
                     v.quality};
    out->variants.push_back(vr);
    out->duration = std::max(out->duration, pl->Duration());
    out->width = std::max(out->width, e.width);
    out->height = std::max(out->height, e.height);
    playlists.push_back(std::move(pl).value());
  }
  if (has_audio && entries.empty()) {
    // Audio-only source: the default audio playlist is the one variant; with several tracks it
    // also names the group, so that players offer the others.
    const hls::MediaPlaylist& apl = audio_pls[main];
    hls::VariantEntry e;
    e.uri = audio_entries[main].uri;
    e.bandwidth = audio_peak;
    e.average_bandwidth = audio_average;
    e.codecs = d.audio[main].codecs;
    e.uses_audio_group = d.audio.size() > 1;
    entries.push_back(e);
    out->variants.push_back({d.audio[main].name,
                             e.uri,
                             0,
                             0,
                             0,
                             e.bandwidth,
                             e.average_bandwidth,
                             e.codecs,
                             int(apl.segments.size()),
                             {}});
    // The playlist counts the priming the edit list trims: the presentation is that much shorter.
    out->duration = apl.Duration() - d.audio[main].priming_seconds;
  }
  const bool audio_group = has_audio && (!d.videos.empty() || d.audio.size() > 1);
  Result<std::vector<hls::IFrameEntry>> iframes = WriteIFramePlaylists(d, dir);
  if (!iframes.ok()) return iframes.status();
  std::string master = hls::MasterPlaylist(
      entries, audio_group ? audio_entries : std::vector<hls::AudioEntry>{}, *iframes);
  // Subtitle segments follow the video's (else the audio's) segments.
  std::vector<double> boundaries;
  const hls::MediaPlaylist* timeline =
      !playlists.empty() ? &playlists[0] : (audio_pls.empty() ? nullptr : &audio_pls[main]);
  if (timeline)
    for (const hls::Segment& seg : timeline->segments) boundaries.push_back(seg.duration);
  Result<TextRenditions> text = WriteSubtitleRenditions(subtitles, boundaries, dir);
  if (!text.ok()) return text.status();
  master = hls::WithTextRenditions(master, text->hls,
                                   d.videos.empty() ? hls::Captions::kUnstated : d.captions);
  for (const hls::SubtitleEntry& e : text->hls)
    out->details["subtitles"].push_back(
        {{"name", e.name}, {"language", e.language}, {"playlist", e.uri}});
  REEL_RETURN_IF_ERROR(WriteTextFile(dir + "/" + std::string(layout::kMasterPlaylist), master));
  out->kind = d.kind;
  out->path = final_dir;
  out->notes = d.notes;
  if (d.dash) {
    std::vector<dash::Representation> reps;
    for (size_t i = 0; i < d.videos.size(); ++i) {
      const PackageVideo& v = d.videos[i];
      dash::Representation r;
      r.id = v.name;
      r.bandwidth = playlists[i].PeakBitrate();
      r.width = v.width;
      r.height = v.height;
      r.frame_rate = v.frame_rate_text;
      r.codecs = v.codecs;
      r.colour_primaries = v.colour_primaries;
      r.transfer = v.transfer;
      r.matrix = v.matrix;
      for (const hls::Segment& seg : playlists[i].segments)
        r.segment_durations.push_back(seg.duration);
      reps.push_back(std::move(r));
    }
    for (size_t i = 0; i < d.audio.size(); ++i) {
      const PackageAudio& a = d.audio[i];
      dash::Representation r;
      r.id = a.name;
      r.video = false;
      r.bandwidth = audio_pls[i].PeakBitrate();
      r.channels = a.channels;
      r.sample_rate = a.sample_rate;
      r.codecs = a.codecs;
      r.language = a.language;
      r.default_track = i == main;
      for (const hls::Segment& seg : audio_pls[i].segments)
        r.segment_durations.push_back(seg.duration);
      reps.push_back(std::move(r));
    }
    // The presentation ends with the last of its tracks. AAC's last frame runs up to 1024
    // samples past the picture; an MPD that ended with the picture had dash.js take the stream
    // for ended while the element still played that frame, seek back and pause short of the end.
    double presentation = out->duration;
    for (const PackageAudio& a : d.audio) presentation = std::max(presentation, a.end_seconds);
    REEL_RETURN_IF_ERROR(
        WriteTextFile(dir + "/" + std::string(layout::kDashManifest),
                      dash::WithTextTracks(dash::Manifest(reps, presentation), text->dash)));
    out->manifest = final_path(layout::kDashManifest);
  }
  out->master = final_path(layout::kMasterPlaylist);
  if (has_audio) out->audio_codec = "aac";
  out->video_codec = PackageVideoCodecs(d);
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec))
    if (entry.is_regular_file()) out->bytes += static_cast<int64_t>(entry.file_size());
  if (d.per_title) out->details["ladder"] = PerTitleReport(*d.per_title, out->variants);
  return Status::Ok();
}

}  // namespace reel::engine
