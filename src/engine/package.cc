#include "engine/package.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/codec_strings.h"
#include "engine/dash.h"
#include "engine/hls.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

std::string InPackage(const HlsPackage& p, std::string_view relative) {
  return p.temp_dir + "/" + std::string(relative);
}

// Where a file of the package will be once in place, as reported.
std::string Final(const HlsPackage& p, std::string_view name) {
  return (fs::path(p.plan->directory) / name).lexically_normal().string();
}

// The package's video codecs, "h264" or, for a multi-codec package, "h264,hevc,av1".
std::string PackageVideoCodecs(const HlsPackage& p) {
  std::string names;
  for (const HlsPackage::Variant& v : p.variants) {
    std::string name = presets::VideoCodecName(v.video->settings().codec);
    if (("," + names + ",").find("," + name + ",") == std::string::npos)
      names += (names.empty() ? "" : ",") + name;
  }
  return names;
}

}  // namespace

Status MuxPackage(const HlsPackage& p, MuxStage* mux) {
  double seconds = p.plan->ladder.segment_seconds;
  for (const HlsPackage::Variant& v : p.variants) {
    Result<MuxTarget> t =
        mux->OpenHls(InPackage(p, v.name), seconds, v.video->encoder(), p.first_segment);
    if (!t.ok()) return t.status();
    v.video->AddTarget(*t);
  }
  for (size_t i = 0; i < p.audio.size(); ++i) {
    AudioRendition* a = p.audio[i].rendition;
    Result<MuxTarget> t =
        mux->OpenHls(InPackage(p, layout::AudioRendition(int(i))), seconds, a->encoder());
    if (!t.ok()) return t.status();
    a->AddTarget(*t);
  }
  return Status::Ok();
}

// Folds the audio's last segment into the one before when it is only the remainder of the grid
// the muxer shifted back by the priming (see hls::FoldShortLastSegment), so that audio ends with
// the video and the tail does not set the rendition's peak.
Status FoldAudioTail(const HlsPackage& h, const AudioRendition* audio,
                     const std::string& audio_uri) {
  const AVCodecContext* enc = audio->encoder();
  if (enc->sample_rate <= 0) return Status::Ok();
  double frame = std::max(enc->frame_size, 1024);
  double most = (enc->initial_padding + frame) / enc->sample_rate;
  Result<bool> folded = hls::FoldShortLastSegment(InPackage(h, audio_uri), most);
  return folded.ok() ? Status::Ok() : folded.status();
}

// A variant's VIDEO-RANGE: said only for an HDR source (SDR once tone-mapped), so that SDR
// packages stay as they were.
std::string VideoRange(const HlsPackage& h, const AVCodecContext* enc) {
  if (!h.hdr_source) return "";
  return enc->color_trc == AVCOL_TRC_SMPTE2084      ? "PQ"
         : enc->color_trc == AVCOL_TRC_ARIB_STD_B67 ? "HLG"
                                                    : "SDR";
}

// Writes each video variant's I-frame playlist (byte ranges into its segments) beside its media
// playlist; the master's I-frame lines.
Result<std::vector<hls::IFrameEntry>> WriteIFramePlaylists(const HlsPackage& h) {
  std::vector<hls::IFrameEntry> entries;
  for (const HlsPackage::Variant& v : h.variants) {
    Result<std::vector<hls::IFrame>> frames =
        hls::ReadIFrames(InPackage(h, layout::MediaPlaylistUri(v.name)));
    if (!frames.ok()) return frames.status();
    std::string uri = layout::RenditionFile(v.name, layout::kIFramePlaylist);
    std::ofstream f(InPackage(h, uri));
    f << hls::IFramePlaylist(*frames, std::string(layout::kInitSegment));
    f.close();
    if (!f) return Unavailable("cannot write " + uri + " in " + h.plan->directory);
    const AVCodecContext* enc = v.video->encoder();
    entries.push_back({uri, hls::IFramePeakBitrate(*frames), enc->width, enc->height,
                       CodecString(enc), VideoRange(h, enc)});
  }
  return entries;
}

Status AssemblePackage(const HlsPackage& h, OutputResult* out) {
  // Every audio track; a variant counts the largest (its players may pick any).
  bool has_audio = !h.audio.empty();
  std::vector<hls::MediaPlaylist> audio_pls;
  std::vector<hls::AudioEntry> audio_entries;
  int64_t audio_peak = 0, audio_average = 0;
  size_t main = 0;  // the default track
  for (size_t i = 0; i < h.audio.size(); ++i) {
    const HlsPackage::AudioTrack& t = h.audio[i];
    std::string uri = layout::MediaPlaylistUri(layout::AudioRendition(int(i)));
    REEL_RETURN_IF_ERROR(FoldAudioTail(h, t.rendition, uri));
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(InPackage(h, uri));
    if (!pl.ok()) return pl.status();
    audio_peak = std::max(audio_peak, pl->PeakBitrate());
    audio_average = std::max(audio_average, pl->AverageBitrate());
    audio_pls.push_back(std::move(pl).value());
    audio_entries.push_back({uri, t.rendition->channels(), t.language, t.name, t.is_default});
    if (t.is_default && !h.audio[main].is_default) main = i;
  }
  hls::MediaPlaylist audio_pl = has_audio ? audio_pls[main] : hls::MediaPlaylist{};
  std::vector<hls::VariantEntry> entries;
  std::vector<hls::MediaPlaylist> playlists;  // of the variants, for the DASH manifest
  // Every keyframe starts a fragment, for the I-frame playlists; before the sizes are measured.
  // A chunk's segments are split by the stitch instead, which numbers fragments over the whole
  // package (a chunk alone would start again at 1).
  for (const HlsPackage::Variant& v : h.variants) {
    if (h.first_segment >= 0) break;
    Result<int> split =
        hls::SplitFragmentsAtKeyframes(InPackage(h, layout::MediaPlaylistUri(v.name)));
    if (!split.ok()) return split.status();
  }
  for (const HlsPackage::Variant& v : h.variants) {
    std::string uri = layout::MediaPlaylistUri(v.name);
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(InPackage(h, uri));
    if (!pl.ok()) return pl.status();
    const AVCodecContext* enc = v.video->encoder();
    hls::VariantEntry e;
    e.uri = uri;
    e.width = enc->width;
    e.height = enc->height;
    e.frame_rate = av_q2d(enc->framerate);
    e.codecs = CodecString(enc);
    e.video_range = VideoRange(h, enc);
    e.bandwidth = pl->PeakBitrate();
    e.average_bandwidth = pl->AverageBitrate();
    if (has_audio) {
      e.codecs += "," + CodecString(h.audio[main].rendition->encoder());
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
                     {}};
    if (h.plan->quality) vr.quality = v.video->quality();
    out->variants.push_back(vr);
    out->duration = std::max(out->duration, pl->Duration());
    out->width = std::max(out->width, e.width);
    out->height = std::max(out->height, e.height);
    playlists.push_back(std::move(pl).value());
  }
  if (has_audio && entries.empty()) {
    // Audio-only source: the (default) audio playlist is the one variant; with several tracks it
    // also names the group, so that players offer the others.
    hls::VariantEntry e;
    e.uri = audio_entries[main].uri;
    e.bandwidth = audio_peak;
    e.average_bandwidth = audio_average;
    e.codecs = "mp4a.40.2";
    e.uses_audio_group = h.audio.size() > 1;
    entries.push_back(e);
    out->variants.push_back({layout::AudioRendition(int(main)),
                             e.uri,
                             0,
                             0,
                             0,
                             e.bandwidth,
                             e.average_bandwidth,
                             e.codecs,
                             int(audio_pl.segments.size()),
                             {}});
    // The playlist counts the priming the edit list trims: the presentation is that much shorter.
    const AVCodecContext* enc = h.audio[main].rendition->encoder();
    out->duration = audio_pl.Duration() -
                    (enc->sample_rate > 0 ? double(enc->initial_padding) / enc->sample_rate : 0);
  }
  bool audio_group = has_audio && (!h.variants.empty() || h.audio.size() > 1);
  Result<std::vector<hls::IFrameEntry>> iframes = WriteIFramePlaylists(h);
  if (!iframes.ok()) return iframes.status();
  std::string master = hls::MasterPlaylist(
      entries, audio_group ? audio_entries : std::vector<hls::AudioEntry>{}, *iframes);
  // Subtitle segments follow the video's (else the audio's) segments.
  std::vector<double> boundaries;
  for (const hls::Segment& seg : (playlists.empty() ? audio_pl : playlists[0]).segments)
    boundaries.push_back(seg.duration);
  Result<TextRenditions> text = WriteSubtitleRenditions(
      h.subtitles ? *h.subtitles : std::vector<SubtitleTrack>{}, boundaries, h.temp_dir);
  if (!text.ok()) return text.status();
  hls::Captions captions = h.variants.empty() || !h.closed_captions ? hls::Captions::kUnstated
                           : *h.closed_captions                     ? hls::Captions::kInStream
                                                                    : hls::Captions::kNone;
  master = hls::WithTextRenditions(master, text->hls, captions);
  for (const hls::SubtitleEntry& e : text->hls)
    out->details["subtitles"].push_back(
        {{"name", e.name}, {"language", e.language}, {"playlist", e.uri}});
  std::ofstream f(InPackage(h, layout::kMasterPlaylist));
  f << master;
  f.close();
  if (!f) return Unavailable("cannot write master playlist in " + h.plan->directory);
  out->kind = h.plan->kind;
  out->path = h.plan->directory;
  out->notes = h.notes;
  if (h.plan->dash) {
    std::vector<dash::Representation> reps;
    for (size_t i = 0; i < h.variants.size(); ++i) {
      const AVCodecContext* enc = h.variants[i].video->encoder();
      const hls::MediaPlaylist& pl = playlists[i];
      dash::Representation r;
      r.id = h.variants[i].name;
      r.bandwidth = pl.PeakBitrate();
      r.width = enc->width;
      r.height = enc->height;
      r.frame_rate =
          enc->framerate.den == 1 ? std::to_string(enc->framerate.num) : Rational(enc->framerate);
      r.codecs = CodecString(enc);
      if (*HdrTransfer(enc->color_trc)) {  // kept HDR
        r.colour_primaries = enc->color_primaries;
        r.transfer = enc->color_trc;
        r.matrix = enc->colorspace;
      }
      for (const hls::Segment& seg : pl.segments) r.segment_durations.push_back(seg.duration);
      reps.push_back(std::move(r));
    }
    for (size_t i = 0; i < h.audio.size(); ++i) {
      dash::Representation r;
      r.id = layout::AudioRendition(int(i));
      r.video = false;
      r.bandwidth = audio_pls[i].PeakBitrate();
      r.channels = h.audio[i].rendition->channels();
      r.sample_rate = h.audio[i].rendition->settings().sample_rate;
      r.codecs = "mp4a.40.2";
      r.language = h.audio[i].language;
      r.default_track = i == main;
      for (const hls::Segment& seg : audio_pls[i].segments)
        r.segment_durations.push_back(seg.duration);
      reps.push_back(std::move(r));
    }
    std::ofstream mpd(InPackage(h, layout::kDashManifest));
    mpd << dash::WithTextTracks(dash::Manifest(reps, out->duration), text->dash);
    mpd.close();
    if (!mpd) return Unavailable("cannot write the DASH manifest in " + h.plan->directory);
    out->manifest = Final(h, layout::kDashManifest);
  }
  out->master = Final(h, layout::kMasterPlaylist);
  if (has_audio) out->audio_codec = "aac";
  out->video_codec = PackageVideoCodecs(h);
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(h.temp_dir, ec))
    if (entry.is_regular_file()) out->bytes += static_cast<int64_t>(entry.file_size());
  if (h.per_title) out->details["ladder"] = PerTitleReport(*h.per_title, out->variants);
  return Status::Ok();
}

OutputResult DescribeFile(const FileOutput& f, double source_duration,
                          const std::optional<Loudness>& measured) {
  OutputResult out;
  out.index = f.plan->index;
  out.kind = f.plan->kind.empty() ? presets::ContainerName(f.plan->preset.container) : f.plan->kind;
  out.path = f.plan->path;
  out.notes = f.notes;
  if (f.video) {
    out.width = f.video->encoder()->width;
    out.height = f.video->encoder()->height;
    out.video_codec = presets::VideoCodecName(f.video->settings().codec);
    out.duration = f.video->encoded_seconds();
    if (f.plan->quality) out.details["quality"] = f.video->quality();
  }
  if (f.audio) {
    out.audio_codec = presets::AudioCodecName(f.audio->settings().codec);
    if (!f.video) out.duration = std::min(f.audio->encoded_seconds(), source_duration);
    if (f.audio->gain_db() != 0)
      out.details["normalized"] = {{"target_lufs", f.audio->settings().normalize_lufs},
                                   {"measured_lufs", measured->integrated},
                                   {"gain_db", std::round(f.audio->gain_db() * 100) / 100}};
  }
  std::error_code ec;
  out.bytes = static_cast<int64_t>(fs::file_size(f.temp_path, ec));
  return out;
}

OutputResult UnavailableOutput(int index, const std::string& kind, const std::string& path,
                               const std::string& why) {
  OutputResult o;
  o.index = index;
  o.kind = kind;
  o.path = path;
  o.error = "outputs[" + std::to_string(index) + "] (" + kind + "): " + why;
  return o;
}

nlohmann::json ToJson(const TranscodeResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const OutputResult& o : r.outputs) {
    nlohmann::json j = {{"index", o.index}, {"kind", o.kind}, {"path", o.path}, {"bytes", o.bytes}};
    if (o.duration > 0) j["duration"] = o.duration;
    if (!o.master.empty()) j["master"] = o.master;
    if (!o.manifest.empty()) j["manifest"] = o.manifest;
    if (!o.details.is_null()) j.update(o.details);
    if (!o.notes.empty()) j["notes"] = o.notes;
    if (!o.error.empty()) j["error"] = o.error;
    if (o.width > 0) {
      j["width"] = o.width;
      j["height"] = o.height;
    }
    if (!o.video_codec.empty()) j["video_codec"] = o.video_codec;
    if (!o.audio_codec.empty()) j["audio_codec"] = o.audio_codec;
    if (!o.variants.empty()) {
      nlohmann::json vs = nlohmann::json::array();
      for (const VariantResult& v : o.variants) {
        nlohmann::json vj = {{"name", v.name},           {"playlist", v.playlist},
                             {"bandwidth", v.bandwidth}, {"average_bandwidth", v.average_bandwidth},
                             {"codecs", v.codecs},       {"segments", v.segments}};
        if (v.width > 0) {
          vj["width"] = v.width;
          vj["height"] = v.height;
          vj["frame_rate"] = v.frame_rate;
        }
        if (!v.quality.is_null()) vj["quality"] = v.quality;
        vs.push_back(std::move(vj));
      }
      j["variants"] = std::move(vs);
    }
    outputs.push_back(std::move(j));
  }
  nlohmann::json j = {
      {"source_duration", r.source_duration}, {"elapsed", r.elapsed}, {"outputs", outputs}};
  if (!r.source_hdr.empty()) j["tone_mapped"] = {{"from", r.source_hdr}, {"to", "sdr-bt709"}};
  if (!r.deinterlaced.empty()) j["deinterlaced"] = r.deinterlaced;
  return j;
}

}  // namespace reel::engine
