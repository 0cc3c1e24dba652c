// reel probe: what a media file contains, read with libavformat.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>

#include "engine/av_util.h"
#include "engine/demux_decode.h"
#include "engine/engine.h"
#include "engine/filter.h"
#include "engine/interlace.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace reel::engine {
namespace {

double Seconds(int64_t ts, AVRational tb) { return ts == AV_NOPTS_VALUE ? 0 : ts * av_q2d(tb); }

std::string NameOr(const char* name, const char* otherwise) { return name ? name : otherwise; }

// Colour and fields: what tone mapping and deinterlacing are decided from (filter.h).
void DescribeColour(const AVCodecParameters* par, StreamInfo* s) {
  s->color_primaries = NameOr(av_color_primaries_name(par->color_primaries), "unknown");
  s->color_transfer = NameOr(av_color_transfer_name(par->color_trc), "unknown");
  s->color_space = NameOr(av_color_space_name(par->color_space), "unknown");
  s->color_range = NameOr(av_color_range_name(par->color_range), "unknown");
  s->hdr = HdrTransfer(par->color_trc);
  static const char* const kFieldOrders[] = {"unknown", "progressive", "tt", "bb", "tb", "bt"};
  int order = par->field_order;
  s->field_order = order >= 0 && order < 6 ? kFieldOrders[order] : "unknown";
}

StreamInfo DescribeStream(const AVStream* st) {
  const AVCodecParameters* par = st->codecpar;
  StreamInfo s;
  s.index = st->index;
  const char* type = av_get_media_type_string(par->codec_type);
  s.type = type ? type : "unknown";
  s.codec = avcodec_get_name(par->codec_id);
  s.bitrate = par->bit_rate;
  s.start_time = Seconds(st->start_time, st->time_base);
  s.duration = Seconds(st->duration, st->time_base);
  if (const AVDictionaryEntry* lang = av_dict_get(st->metadata, "language", nullptr, 0))
    s.language = lang->value;
  if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
    s.width = par->width;
    s.height = par->height;
    AVRational sar = av_guess_sample_aspect_ratio(nullptr, const_cast<AVStream*>(st), nullptr);
    if (sar.num > 0 && sar.den > 0) {
      s.sar_num = sar.num;
      s.sar_den = sar.den;
    }
    s.rotation = StreamRotation(st);
    AVRational rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    s.frame_rate = rate.den > 0 ? av_q2d(rate) : 0;
    auto fmt = static_cast<AVPixelFormat>(par->format);
    if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt)) {
      s.pixel_format = d->name;
      s.bit_depth = d->comp[0].depth;
    }
    DescribeColour(par, &s);
  } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
    s.channels = par->ch_layout.nb_channels;
    s.sample_rate = par->sample_rate;
    char layout[128] = {0};
    if (av_channel_layout_describe(&par->ch_layout, layout, sizeof(layout)) > 0)
      s.channel_layout = layout;
  }
  return s;
}

}  // namespace

const StreamInfo* MediaInfo::BestVideo() const {
  const StreamInfo* best = nullptr;
  for (const StreamInfo& s : streams)
    if (s.type == "video" && (!best || s.width * s.height > best->width * best->height)) best = &s;
  return best;
}

const StreamInfo* MediaInfo::BestAudio() const {
  const StreamInfo* best = nullptr;
  for (const StreamInfo& s : streams)
    if (s.type == "audio" && (!best || s.channels > best->channels)) best = &s;
  return best;
}

Result<MediaInfo> Probe(const std::string& path) {
  Result<InputFormatPtr> input = OpenInput(path);
  if (!input.ok()) return input.status();
  const AVFormatContext* fmt = input->get();
  MediaInfo info;
  info.container = fmt->iformat->name;
  // Not an edit list's empty lead-in, nor the leaps of a clock that jumps (clock.h).
  Result<SourceClock> clock = ReadSourceClock(fmt, path);
  if (!clock.ok()) return clock.status();
  info.duration = clock->duration;
  info.clock_jumps = clock->jumps;
  info.start_time = fmt->start_time == AV_NOPTS_VALUE ? 0 : fmt->start_time / double(AV_TIME_BASE);
  info.bitrate = fmt->bit_rate;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) info.size = st.st_size;
  // libavformat's figure is the size over the leaps too.
  if (clock->jumps > 0 && info.duration > 0)
    info.bitrate = std::llround(info.size * 8 / info.duration);
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* s = fmt->streams[i];
    // Cover art is a "video" stream of one picture; it is not the video. A stream that continues
    // another is described as part of it; one that took another's place in another codec is
    // not read (the run fails when it comes).
    if (s->disposition & AV_DISPOSITION_ATTACHED_PIC || clock->successions.Head(int(i)) != int(i) ||
        clock->successions.Displaced(int(i)) >= 0)
      continue;
    info.streams.push_back(DescribeStream(s));
    if (i < clock->stream_durations.size() && clock->stream_durations[i] > 0)
      info.streams.back().duration = clock->stream_durations[i];
  }
  return info;
}

namespace {

// "12 h", "90 min", "45 s".
std::string Readable(double seconds) {
  char buf[48];
  if (seconds >= 3600 && std::fmod(seconds, 360) == 0)
    std::snprintf(buf, sizeof(buf), "%g h", seconds / 3600);
  else if (seconds >= 60 && std::fmod(seconds, 60) == 0)
    std::snprintf(buf, sizeof(buf), "%g min", seconds / 60);
  else
    std::snprintf(buf, sizeof(buf), "%.0f s", seconds);
  return buf;
}

}  // namespace

Status CheckSourceDuration(double seconds, double limit) {
  if (limit <= 0 || seconds <= limit) return Status::Ok();
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f h (%.0f s)", seconds / 3600, seconds);
  return InvalidArgument(std::string("source: its media lasts ") + buf +
                         ", longer than this server's limit of " + Readable(limit) +
                         " (--max-source-duration)");
}

Status DetectFields(const std::string& path, MediaInfo* info) {
  for (StreamInfo& s : info->streams) {
    if (s.type != "video") continue;
    Result<FieldsSeen> seen = DetectInterlacing(path, s.index);
    // A stream reel cannot decode is described without a verdict; the file is still probed.
    if (!seen.ok() && seen.status().code() != StatusCode::kInvalidArgument) return seen.status();
    if (!seen.ok()) continue;
    StreamInfo::Fields& f = s.idet;
    bool woven = InterlacedFieldOrder(seen->order);
    f.verdict = woven ? "interlaced" : "progressive";
    f.first = !woven ? "" : seen->order == AV_FIELD_TT ? "tt" : "bb";
    f.frames = seen->frames;
    f.tff = seen->tff;
    f.bff = seen->bff;
    f.progressive = seen->progressive;
    f.undetermined = seen->undetermined;
  }
  return Status::Ok();
}

nlohmann::json ToJson(const MediaInfo& info) {
  nlohmann::json streams = nlohmann::json::array();
  for (const StreamInfo& s : info.streams) {
    nlohmann::json j = {{"index", s.index}, {"type", s.type}, {"codec", s.codec}};
    if (s.bitrate > 0) j["bitrate"] = s.bitrate;
    j["start_time"] = s.start_time;
    if (s.duration > 0) j["duration"] = s.duration;
    if (!s.language.empty()) j["language"] = s.language;
    if (s.type == "video") {
      j["width"] = s.width;
      j["height"] = s.height;
      j["sample_aspect_ratio"] = std::to_string(s.sar_num) + ":" + std::to_string(s.sar_den);
      j["rotation"] = s.rotation;
      j["frame_rate"] = s.frame_rate;
      j["pixel_format"] = s.pixel_format;
      j["bit_depth"] = s.bit_depth;
      j["color"] = {{"primaries", s.color_primaries},
                    {"transfer", s.color_transfer},
                    {"space", s.color_space},
                    {"range", s.color_range}};
      if (!s.hdr.empty()) j["hdr"] = s.hdr;
      j["field_order"] = s.field_order;
      j["interlaced"] = s.field_order != "progressive" && s.field_order != "unknown";
      if (!s.idet.verdict.empty()) {
        const StreamInfo::Fields& f = s.idet;
        j["idet"] = {{"verdict", f.verdict},
                     {"frames", f.frames},
                     {"tff", f.tff},
                     {"bff", f.bff},
                     {"progressive", f.progressive},
                     {"undetermined", f.undetermined}};
        if (!f.first.empty()) j["idet"]["field_order"] = f.first;
      }
    } else if (s.type == "audio") {
      j["channels"] = s.channels;
      j["channel_layout"] = s.channel_layout;
      j["sample_rate"] = s.sample_rate;
    }
    streams.push_back(std::move(j));
  }
  nlohmann::json j = {
      {"container", info.container}, {"duration", info.duration}, {"start_time", info.start_time},
      {"bitrate", info.bitrate},     {"size", info.size},         {"streams", std::move(streams)}};
  if (info.clock_jumps > 0) j["clock_jumps"] = info.clock_jumps;
  return j;
}

}  // namespace reel::engine
