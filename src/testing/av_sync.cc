#include "testing/av_sync.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <sstream>

#include "testing/media_fixtures.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace reel::testing {
namespace fs = std::filesystem;
namespace {

// ------------------------------------------------------------------------------------------
// Boxes.

uint64_t Be(const std::string& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

struct Box {
  std::string type;
  size_t body = 0, end = 0;  // offsets into the buffer
};

// The boxes in [begin, end); stops at the first malformed header.
std::vector<Box> Children(const std::string& b, size_t begin, size_t end) {
  std::vector<Box> out;
  size_t at = begin;
  while (at + 8 <= end) {
    uint64_t size = Be(b, at, 4);
    size_t header = 8;
    if (size == 1) {
      if (at + 16 > end) break;
      size = Be(b, at + 8, 8);
      header = 16;
    } else if (size == 0) {
      size = end - at;
    }
    if (size < header || at + size > end) break;
    out.push_back({b.substr(at + 4, 4), at + header, at + size});
    at += size;
  }
  return out;
}

const Box* Child(const std::vector<Box>& boxes, const std::string& type) {
  for (const Box& x : boxes)
    if (x.type == type) return &x;
  return nullptr;
}

void ReadTrak(const std::string& b, const Box& trak, TrackBoxes* t) {
  std::vector<Box> kids = Children(b, trak.body, trak.end);
  if (const Box* tkhd = Child(kids, "tkhd")) {
    int version = static_cast<uint8_t>(b[tkhd->body]);
    t->track_id = Be(b, tkhd->body + (version == 1 ? 20 : 12), 4);
  }
  if (const Box* edts = Child(kids, "edts")) {
    std::vector<Box> e = Children(b, edts->body, edts->end);
    if (const Box* elst = Child(e, "elst")) {
      int version = static_cast<uint8_t>(b[elst->body]);
      uint64_t count = Be(b, elst->body + 4, 4);
      size_t at = elst->body + 8;
      for (uint64_t i = 0; i < count && at + (version == 1 ? 20 : 12) <= elst->end; ++i) {
        EditEntry entry;
        if (version == 1) {
          entry.segment_duration = static_cast<int64_t>(Be(b, at, 8));
          entry.media_time = static_cast<int64_t>(Be(b, at + 8, 8));
          at += 20;
        } else {
          entry.segment_duration = static_cast<int64_t>(Be(b, at, 4));
          entry.media_time = static_cast<int32_t>(Be(b, at + 4, 4));
          at += 12;
        }
        t->edits.push_back(entry);
      }
    }
  }
  if (const Box* mdia = Child(kids, "mdia")) {
    std::vector<Box> m = Children(b, mdia->body, mdia->end);
    if (const Box* mdhd = Child(m, "mdhd")) {
      int version = static_cast<uint8_t>(b[mdhd->body]);
      t->timescale = Be(b, mdhd->body + (version == 1 ? 20 : 12), 4);
    }
    if (const Box* hdlr = Child(m, "hdlr")) t->handler = b.substr(hdlr->body + 8, 4);
  }
}

void ReadTraf(const std::string& b, const Box& traf, BoxInfo* info) {
  std::vector<Box> kids = Children(b, traf.body, traf.end);
  const Box* tfhd = Child(kids, "tfhd");
  if (!tfhd) return;
  uint32_t tf_flags = Be(b, tfhd->body + 1, 3);
  uint32_t id = Be(b, tfhd->body + 4, 4);
  TrackBoxes* t = nullptr;
  for (TrackBoxes& x : info->tracks)
    if (x.track_id == id) t = &x;
  if (!t) return;
  size_t at = tfhd->body + 8;
  if (tf_flags & 0x1) at += 8;  // base_data_offset
  if (tf_flags & 0x2) at += 4;  // sample_description_index
  int64_t default_duration = t->default_duration;
  if (tf_flags & 0x8) default_duration = Be(b, at, 4);
  bool first = !t->has_trun;
  int64_t dts = t->next_dts;
  if (const Box* tfdt = Child(kids, "tfdt")) {
    int version = static_cast<uint8_t>(b[tfdt->body]);
    dts = static_cast<int64_t>(Be(b, tfdt->body + 4, version == 1 ? 8 : 4));
    if (first) t->first_tfdt = dts;
  }
  for (const Box& trun : kids) {
    if (trun.type != "trun") continue;
    int version = static_cast<uint8_t>(b[trun.body]);
    uint32_t flags = Be(b, trun.body + 1, 3);
    uint32_t count = Be(b, trun.body + 4, 4);
    at = trun.body + 8;
    if (flags & 0x1) at += 4;  // data_offset
    if (flags & 0x4) at += 4;  // first_sample_flags
    if (first) {
      t->has_trun = true;
      t->trun_version = version;
      t->trun_has_cts = flags & 0x800;
    }
    for (uint32_t i = 0; i < count && at <= trun.end; ++i) {
      int64_t duration = default_duration, cts = 0;
      if (flags & 0x100) duration = Be(b, at, 4), at += 4;
      if (flags & 0x200) at += 4;
      if (flags & 0x400) at += 4;
      if (flags & 0x800) {
        uint32_t raw = Be(b, at, 4);
        at += 4;
        cts = version == 1 ? int64_t(int32_t(raw)) : int64_t(raw);
      }
      if (first && i == 0) t->first_cts_offset = cts;
      t->sample_times.push_back(dts + cts);
      dts += duration;
    }
    first = false;
  }
  t->next_dts = dts;
}

// ------------------------------------------------------------------------------------------
// Decoding.

struct FormatCloser {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};

// How a player maps a track's media time to presentation time, from its edit list.
struct EditMap {
  double empty = 0;        // seconds of empty edit before the media
  int64_t media_time = 0;  // media timescale
  double duration = -1;    // seconds of media presented; <0: all

  static EditMap From(const BoxInfo& boxes, const TrackBoxes* t) {
    EditMap m;
    if (!t || boxes.movie_timescale == 0) return m;
    for (const EditEntry& e : t->edits) {
      if (e.media_time == -1) {
        m.empty += double(e.segment_duration) / boxes.movie_timescale;
      } else {
        m.media_time = e.media_time;
        // Fragmented files: the muxer wrote the duration before the fragments existed, and MSE
        // players ignore it; non-fragmented players stop the track there.
        if (!boxes.fragmented && e.segment_duration > 0)
          m.duration = double(e.segment_duration) / boxes.movie_timescale;
        break;  // one media edit is all reel's outputs (and players) use
      }
    }
    return m;
  }
};

struct Track {
  std::string error;
  // Video: presentation time and mean luma of the centre of each frame.
  std::vector<std::pair<double, double>> frames;
  double frame_duration = 0;
  // Audio: mono samples from `audio_start` on.
  std::vector<float> samples;
  double audio_start = 0;
  int sample_rate = 0;
};

// Decodes the first stream of `type` in `path`. With `boxes` (SyncReader::kPlayer), with
// libavformat's edit-list handling off, applying `edits` itself (libavformat applies them to
// non-fragmented files only), and for fragmented files with the packet times of our own reading
// of tfdt/trun: libavformat's mov demuxer shifts a version-1 trun's negative composition offsets
// into the pts. Without (SyncReader::kLibav), with libavformat's times as they come.
Track DecodeTrack(const std::string& path, AVMediaType type, const EditMap& edits,
                  const TrackBoxes* boxes) {
  Track out;
  AVFormatContext* raw = nullptr;
  AVDictionary* opts = nullptr;
  if (boxes) av_dict_set(&opts, "ignore_editlist", "1", 0);
  int err = avformat_open_input(&raw, path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0) {
    out.error = "cannot open " + path;
    return out;
  }
  std::unique_ptr<AVFormatContext, FormatCloser> fmt(raw);
  if (avformat_find_stream_info(fmt.get(), nullptr) < 0) {
    out.error = "no stream info in " + path;
    return out;
  }
  int index = av_find_best_stream(fmt.get(), type, -1, -1, nullptr, 0);
  if (index < 0) {
    out.error = std::string("no ") + av_get_media_type_string(type) + " stream in " + path;
    return out;
  }
  AVStream* st = fmt->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  std::unique_ptr<AVCodecContext, CodecCloser> dec(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(dec.get(), st->codecpar);
  dec->pkt_timebase = st->time_base;
  if (!codec || avcodec_open2(dec.get(), codec, nullptr) < 0) {
    out.error = "cannot open decoder for " + path;
    return out;
  }
  double tb = av_q2d(st->time_base);
  // Media time to presentation time.
  auto present = [&](int64_t pts) { return edits.empty + (pts - edits.media_time) * tb; };
  double window_end = edits.duration < 0 ? 1e18 : edits.empty + edits.duration;
  if (type == AVMEDIA_TYPE_VIDEO && st->avg_frame_rate.num > 0)
    out.frame_duration = 1 / av_q2d(st->avg_frame_rate);

  std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketFree> pkt(av_packet_alloc());
  bool audio_started = false;
  auto take = [&]() {
    for (;;) {
      int e = avcodec_receive_frame(dec.get(), frame.get());
      if (e < 0) return;
      int64_t pts = frame->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE) pts = 0;
      double t = present(pts);
      if (type == AVMEDIA_TYPE_VIDEO) {
        // A player shows nothing before the edit's media_time, nor past its duration.
        if (pts >= edits.media_time && t < window_end - 1e-9) {
          const uint8_t* y = frame->data[0];
          int w = frame->width, h = frame->height;
          double sum = 0;
          int n = 0;
          for (int row = h / 4; row < 3 * h / 4; row += 2)
            for (int col = w / 4; col < 3 * w / 4; col += 2, ++n)
              sum += y[row * frame->linesize[0] + col];
          out.frames.push_back({t, n ? sum / n : 0});
        }
      } else {
        int channels = frame->ch_layout.nb_channels;
        out.sample_rate = frame->sample_rate;
        double dt = 1.0 / frame->sample_rate;
        for (int i = 0; i < frame->nb_samples; ++i) {
          double ts = t + i * dt;
          // Samples before media_time are the encoder's priming: a player trims them.
          if (pts + std::llround(i * dt / tb) < edits.media_time || ts >= window_end - 1e-9)
            continue;
          float v = 0;
          for (int c = 0; c < channels; ++c) {
            float s = 0;
            switch (frame->format) {
              case AV_SAMPLE_FMT_FLTP:
                s = reinterpret_cast<const float*>(frame->extended_data[c])[i];
                break;
              case AV_SAMPLE_FMT_FLT:
                s = reinterpret_cast<const float*>(frame->data[0])[i * channels + c];
                break;
              case AV_SAMPLE_FMT_S16P:
                s = reinterpret_cast<const int16_t*>(frame->extended_data[c])[i] / 32768.f;
                break;
              case AV_SAMPLE_FMT_S16:
                s = reinterpret_cast<const int16_t*>(frame->data[0])[i * channels + c] / 32768.f;
                break;
              case AV_SAMPLE_FMT_S32:
                s = reinterpret_cast<const int32_t*>(frame->data[0])[i * channels + c] /
                    2147483648.f;
                break;
              default:
                out.error = "unsupported sample format";
                return;
            }
            v += s / channels;
          }
          if (!audio_started) {
            out.audio_start = ts;
            audio_started = true;
          }
          out.samples.push_back(v);
        }
      }
      av_frame_unref(frame.get());
    }
  };
  size_t sample = 0;
  bool own_times = boxes && !boxes->sample_times.empty();
  while (av_read_frame(fmt.get(), pkt.get()) >= 0) {
    if (pkt->stream_index == index && own_times) {
      if (sample >= boxes->sample_times.size()) {
        out.error = "more packets than trun samples in " + path;
        return out;
      }
      pkt->pts = boxes->sample_times[sample++];
      pkt->dts = AV_NOPTS_VALUE;
    }
    if (pkt->stream_index == index && avcodec_send_packet(dec.get(), pkt.get()) >= 0) take();
    av_packet_unref(pkt.get());
  }
  avcodec_send_packet(dec.get(), nullptr);
  take();
  std::sort(out.frames.begin(), out.frames.end());
  return out;
}

// ------------------------------------------------------------------------------------------
// Packages.

std::string Dir(const std::string& path) {
  std::string d = fs::path(path).parent_path().string();
  return d.empty() ? "." : d;
}

std::string Attribute(const std::string& line, const std::string& name) {
  std::smatch m;
  std::regex re(name + "=\"([^\"]*)\"");
  return std::regex_search(line, m, re) ? m[1].str() : std::string();
}

// The files of one track, in playback order: init, then segments.
struct TrackFiles {
  std::vector<std::string> files;
};

TrackFiles MediaPlaylistFiles(const std::string& playlist) {
  TrackFiles t;
  std::istringstream in(ReadFile(playlist));
  std::string dir = Dir(playlist), line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#EXT-X-MAP:", 0) == 0) {
      t.files.insert(t.files.begin(), dir + "/" + Attribute(line, "URI"));
    } else if (!line.empty() && line[0] != '#') {
      t.files.push_back(dir + "/" + line);
    }
  }
  return t;
}

// Video and audio tracks of a package (one of them may be empty when muxed together).
void PackageFiles(const std::string& path, TrackFiles* video, TrackFiles* audio) {
  std::string ext = fs::path(path).extension().string();
  if (ext == ".m3u8") {
    std::string text = ReadFile(path);
    if (text.find("#EXT-X-STREAM-INF") == std::string::npos) {
      *video = MediaPlaylistFiles(path);
      return;
    }
    std::istringstream in(text);
    std::string line, dir = Dir(path);
    bool next_is_variant = false;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("#EXT-X-MEDIA:", 0) == 0 && line.find("TYPE=AUDIO") != std::string::npos &&
          audio->files.empty() && !Attribute(line, "URI").empty()) {
        *audio = MediaPlaylistFiles(dir + "/" + Attribute(line, "URI"));
      } else if (line.rfind("#EXT-X-STREAM-INF", 0) == 0) {
        next_is_variant = video->files.empty();
      } else if (next_is_variant && !line.empty() && line[0] != '#') {
        *video = MediaPlaylistFiles(dir + "/" + line);
        next_is_variant = false;
      }
    }
    return;
  }
  if (ext == ".mpd") {
    std::string text = ReadFile(path), dir = Dir(path);
    std::regex set_re("<AdaptationSet[^>]*contentType=\"(video|audio)\"[\\s\\S]*?</AdaptationSet>");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), set_re);
         it != std::sregex_iterator(); ++it) {
      std::string set = (*it)[0].str();
      TrackFiles* target = (*it)[1].str() == "video" ? video : audio;
      if (!target->files.empty()) continue;
      std::smatch m;
      std::string id = std::regex_search(set, m, std::regex("<Representation[^>]*id=\"([^\"]*)\""))
                           ? m[1].str()
                           : "";
      std::string init = Attribute(set, "initialization"), media = Attribute(set, "media");
      std::string start = Attribute(set, "startNumber");
      auto fill = [&](std::string s, int64_t number) {
        s = std::regex_replace(s, std::regex("\\$RepresentationID\\$"), id);
        if (std::regex_search(s, m, std::regex("\\$Number(%0(\\d+)d)?\\$"))) {
          char buf[32];
          std::snprintf(buf, sizeof(buf), "%0*lld", m[2].matched ? std::stoi(m[2].str()) : 1,
                        static_cast<long long>(number));
          s = m.prefix().str() + buf + m.suffix().str();
        }
        return dir + "/" + s;
      };
      int64_t count = 0;
      std::regex s_re("<S [^>]*>");
      for (auto s = std::sregex_iterator(set.begin(), set.end(), s_re); s != std::sregex_iterator();
           ++s) {
        std::string r = Attribute((*s)[0].str(), "r");
        count += 1 + (r.empty() ? 0 : std::stoll(r));
      }
      int64_t first = start.empty() ? 1 : std::stoll(start);
      target->files.push_back(fill(init, 0));
      for (int64_t i = 0; i < count; ++i) target->files.push_back(fill(media, first + i));
    }
    return;
  }
  video->files = {path};
  audio->files = {path};
}

// Concatenates a track's files into one, as a player appends them to its buffer.
std::string Concatenate(const TrackFiles& t, const TempDir& dir, const std::string& name,
                        std::string* error) {
  if (t.files.size() == 1) return t.files[0];
  std::string bytes;
  for (const std::string& f : t.files) {
    if (!fs::exists(f)) {
      *error = "missing " + f;
      return "";
    }
    bytes += ReadFile(f);
  }
  std::string path = dir / (name + ".mp4");
  WriteFile(path, bytes);
  return path;
}

}  // namespace

const TrackBoxes* BoxInfo::Find(const std::string& handler) const {
  for (const TrackBoxes& t : tracks)
    if (t.handler == handler) return &t;
  return nullptr;
}

BoxInfo ReadBoxes(const std::string& b) {
  BoxInfo info;
  std::vector<Box> top = Children(b, 0, b.size());
  if (const Box* moov = Child(top, "moov")) {
    std::vector<Box> kids = Children(b, moov->body, moov->end);
    if (const Box* mvhd = Child(kids, "mvhd")) {
      int version = static_cast<uint8_t>(b[mvhd->body]);
      info.movie_timescale = Be(b, mvhd->body + (version == 1 ? 20 : 12), 4);
    }
    const Box* mvex = Child(kids, "mvex");
    info.fragmented = mvex != nullptr;
    for (const Box& k : kids) {
      if (k.type != "trak") continue;
      TrackBoxes t;
      ReadTrak(b, k, &t);
      info.tracks.push_back(t);
    }
    if (mvex)
      for (const Box& trex : Children(b, mvex->body, mvex->end))
        if (trex.type == "trex")
          for (TrackBoxes& t : info.tracks)
            if (t.track_id == Be(b, trex.body + 4, 4))
              t.default_duration = Be(b, trex.body + 12, 4);
  }
  for (const Box& x : top) {
    if (x.type != "moof") continue;
    for (const Box& traf : Children(b, x.body, x.end))
      if (traf.type == "traf") ReadTraf(b, traf, &info);
  }
  return info;
}

std::string SyncSource(const SyncSourceOptions& o) {
  std::string rate = std::to_string(o.fps_num) + "/" + std::to_string(o.fps_den);
  std::string num = std::to_string(o.fps_num), den = std::to_string(o.fps_den);
  char dur[32];
  std::snprintf(dur, sizeof(dur), "%.3f", o.seconds);
  // Flash frame n: the first frame at or after an even second (the epsilons keep exact
  // boundaries, 50/25, from rounding the wrong way).
  std::string video =
      "color=c=black:s=" + std::to_string(o.width) + "x" + std::to_string(o.height) + ":r=" + rate +
      ":d=" + dur + ",format=yuv420p,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='eq(n," +
      "ceil(2*floor(n*" + den + "/(2*" + num + ")+1e-9)*" + num + "/" + den + "-1e-9))'";
  // The beep starts at that frame's time T and lasts one frame.
  std::string flash_time =
      "(ceil(2*floor(t/2+1e-9)*" + num + "/" + den + "-1e-9)*" + den + "/" + num + ")";
  std::string audio = "aevalsrc=exprs='0.5*sin(2*PI*1000*(t-" + flash_time + "))*gte(t," +
                      flash_time + ")*lt(t," + flash_time + "+" + den + "/" + num +
                      ")':s=48000:c=stereo:d=" + dur;
  std::vector<std::string> args = {"-f", "lavfi", "-i", video};
  if (o.audio_delay != 0) {
    char d[32];
    std::snprintf(d, sizeof(d), "%.6f", o.audio_delay);
    args.insert(args.end(), {"-itsoffset", d});
  }
  args.insert(args.end(),
              {"-f", "lavfi", "-i", audio, "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
               "-preset", "ultrafast", "-g", "1", "-bf", "0", "-c:a", "pcm_s16le"});
  char name[96];
  std::snprintf(name, sizeof(name), "avsync-%dx%d-%s-%d_%d-%.3f.mov", o.width, o.height, dur,
                o.fps_num, o.fps_den, o.audio_delay);
  return Fixture(name, args);
}

std::string SyncReport::Describe() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "offset mean %.2f ms (min %.2f, max %.2f, %zu events); first video %.2f ms, first "
                "audio %.2f ms; video end %.2f ms; %lld audio samples at %d Hz",
                mean_offset * 1000, min_offset * 1000, max_offset * 1000, offsets.size(),
                first_video * 1000, first_audio * 1000, video_end * 1000,
                static_cast<long long>(audio_samples), sample_rate);
  return buf;
}

SyncReport MeasureSync(const std::string& path, SyncReader reader) {
  SyncReport r;
  TrackFiles vf, af;
  PackageFiles(path, &vf, &af);
  if (vf.files.empty() || af.files.empty()) {
    r.error = "no video or no audio track found from " + path;
    return r;
  }
  TempDir scratch;
  std::string vpath = Concatenate(vf, scratch, "video", &r.error);
  std::string apath = r.error.empty() ? Concatenate(af, scratch, "audio", &r.error) : "";
  if (!r.error.empty()) return r;
  r.video_boxes = ReadBoxes(ReadFile(vpath));
  r.audio_boxes = vpath == apath ? r.video_boxes : ReadBoxes(ReadFile(apath));
  const TrackBoxes* vt = r.video_boxes.Find("vide");
  const TrackBoxes* at = r.audio_boxes.Find("soun");
  const bool own = reader == SyncReader::kPlayer;
  Track v = DecodeTrack(vpath, AVMEDIA_TYPE_VIDEO,
                        own ? EditMap::From(r.video_boxes, vt) : EditMap{}, own ? vt : nullptr);
  Track a = DecodeTrack(apath, AVMEDIA_TYPE_AUDIO,
                        own ? EditMap::From(r.audio_boxes, at) : EditMap{}, own ? at : nullptr);
  if (!v.error.empty() || !a.error.empty()) {
    r.error = v.error + (v.error.empty() ? "" : "; ") + a.error;
    return r;
  }
  if (v.frames.empty() || a.samples.empty()) {
    r.error = "no frames or no samples decoded";
    return r;
  }
  r.first_video = v.frames.front().first;
  r.video_end = v.frames.back().first + v.frame_duration;
  r.first_audio = a.audio_start;
  r.audio_samples = static_cast<int64_t>(a.samples.size());
  r.sample_rate = a.sample_rate;

  // Flashes: a bright frame after a dark one.
  for (size_t i = 0; i < v.frames.size(); ++i)
    if (v.frames[i].second > 128 && (i == 0 || v.frames[i - 1].second <= 128))
      r.flashes.push_back(v.frames[i].first);
  // Beeps: the first loud sample after at least 100 ms of quiet (the beep is 0.5 peak; coding
  // noise and pre-echo stay well under the threshold).
  const float kLoud = 0.2f;
  size_t quiet_needed = static_cast<size_t>(0.1 * a.sample_rate), quiet = quiet_needed;
  for (size_t i = 0; i < a.samples.size(); ++i) {
    if (std::fabs(a.samples[i]) > kLoud) {
      if (quiet >= quiet_needed) r.beeps.push_back(a.audio_start + double(i) / a.sample_rate);
      quiet = 0;
    } else {
      ++quiet;
    }
  }
  // The sine crosses the threshold ~0.07 ms after its onset (asin(0.4)/2π/1 kHz): take it off.
  const double kRise = std::asin(kLoud / 0.5) / (2 * M_PI * 1000);
  for (double& b : r.beeps) b -= kRise;
  for (double f : r.flashes) {
    double best = 1e9;
    for (double b : r.beeps)
      if (std::fabs(b - f) < std::fabs(best)) best = b - f;
    if (std::fabs(best) < 0.5) r.offsets.push_back(best);
  }
  if (r.offsets.empty()) {
    r.error = "no flash with a beep near it (" + std::to_string(r.flashes.size()) + " flashes, " +
              std::to_string(r.beeps.size()) + " beeps)";
    return r;
  }
  double sum = 0;
  r.min_offset = r.max_offset = r.offsets[0];
  for (double o : r.offsets) {
    sum += o;
    r.min_offset = std::min(r.min_offset, o);
    r.max_offset = std::max(r.max_offset, o);
  }
  r.mean_offset = sum / r.offsets.size();
  r.ok = true;
  return r;
}

}  // namespace reel::testing
