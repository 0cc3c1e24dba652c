#include "engine/package.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/codec_strings.h"
#include "engine/filter.h"
#include "engine/hdr.h"
#include "engine/hls.h"
#include "engine/package_writer.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

std::string InPackage(const HlsPackage& p, std::string_view relative) {
  return p.temp_dir + "/" + std::string(relative);
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

namespace {

// What the package's renditions are, from their encoders: what the glue (package_writer.h)
// writes the master and the manifest from.
PackageDescription Describe(const HlsPackage& h) {
  PackageDescription d;
  d.kind = h.plan->kind;
  d.dash = h.plan->dash;
  d.notes = h.notes;
  d.per_title = h.per_title;
  for (const HlsPackage::Variant& v : h.variants) {
    const AVCodecContext* enc = v.video->encoder();
    PackageVideo p;
    p.name = v.name;
    p.width = enc->width;
    p.height = enc->height;
    p.frame_rate = av_q2d(enc->framerate);
    p.frame_rate_text =
        enc->framerate.den == 1 ? std::to_string(enc->framerate.num) : Rational(enc->framerate);
    p.codecs = CodecString(enc);
    p.codec_name = presets::VideoCodecName(v.video->settings().codec);
    p.video_range = VideoRange(h, enc);
    if (*HdrTransfer(enc->color_trc)) {  // kept HDR
      p.colour_primaries = enc->color_primaries;
      p.transfer = enc->color_trc;
      p.matrix = enc->colorspace;
    }
    if (h.plan->quality) p.quality = v.video->quality();
    d.videos.push_back(std::move(p));
  }
  for (size_t i = 0; i < h.audio.size(); ++i) {
    const HlsPackage::AudioTrack& t = h.audio[i];
    const AVCodecContext* enc = t.rendition->encoder();
    PackageAudio a;
    a.name = layout::AudioRendition(int(i));
    a.codecs = CodecString(enc);
    a.channels = t.rendition->channels();
    a.sample_rate = t.rendition->settings().sample_rate;
    a.language = t.language;
    a.label = t.name;
    a.is_default = t.is_default;
    a.priming_seconds = enc->sample_rate > 0 ? double(enc->initial_padding) / enc->sample_rate : 0;
    a.end_seconds = t.rendition->presented_seconds();
    d.audio.push_back(std::move(a));
  }
  if (!h.variants.empty() && h.closed_captions)
    d.captions = *h.closed_captions ? hls::Captions::kInStream : hls::Captions::kNone;
  return d;
}

}  // namespace

Status AssemblePackage(const HlsPackage& h, OutputResult* out) {
  for (size_t i = 0; i < h.audio.size(); ++i)
    REEL_RETURN_IF_ERROR(FoldAudioTail(h, h.audio[i].rendition,
                                       layout::MediaPlaylistUri(layout::AudioRendition(int(i)))));
  // Every keyframe starts a fragment, for the I-frame playlists; before the sizes are measured.
  // A chunk's fragments are numbered from their place in the package: the keyframes before its
  // first frame, one every GOP (chunked renditions have fixed GOPs, ChunkBoundaries). The stitch
  // checks the numbering and renumbers what does not follow on.
  for (const HlsPackage::Variant& v : h.variants) {
    uint32_t first_sequence = 1;
    if (h.first_segment >= 0) {
      const int gop = v.video->encoder()->gop_size;
      if (h.first_frame < 0 || gop <= 0 || h.first_frame % gop != 0) continue;  // the stitch's
      first_sequence = uint32_t(h.first_frame / gop + 1);
    }
    Result<int> split = hls::SplitFragmentsAtKeyframes(
        InPackage(h, layout::MediaPlaylistUri(v.name)), first_sequence);
    if (!split.ok()) return split.status();
  }
  // Kept HDR's mastering display and light levels in each init segment, as in the MP4 outputs
  // (hdr.h). A chunk's too: the stitch copies chunk 0's.
  for (const HlsPackage::Variant& v : h.variants) {
    Result<bool> added =
        AddHdrBoxes(InPackage(h, layout::RenditionFile(v.name, layout::kInitSegment)),
                    HdrMetadataOf(v.video->encoder()));
    if (!added.ok()) return added.status();
  }
  PackageDescription d = Describe(h);
  out->description = ToJson(d);  // what a stitch describes the package by (chunk.h)
  return WritePackageGlue(d, h.subtitles ? *h.subtitles : std::vector<SubtitleTrack>{}, h.temp_dir,
                          h.plan->directory, out);
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
  if (!r.steps.is_null()) j["stitch"] = r.steps;
  return j;
}

}  // namespace reel::engine
