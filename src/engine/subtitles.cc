#include "engine/subtitles.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/av_util.h"
#include "engine/language.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

struct SubtitleDeleter {
  void operator()(AVSubtitle* s) const {
    avsubtitle_free(s);
    delete s;
  }
};

// Keeps a cue's text a single WebVTT cue payload whatever the file held: no "-->" (it would
// start a new cue), no blank line (it ends one), no stray carriage return, bounded.
std::string CleanCueText(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size() && out.size() < kMaxCueBytes; ++i) {
    char c = raw[i];
    if (c == '\r') continue;
    if (c == '\n' && (out.empty() || out.back() == '\n')) continue;
    if (raw.substr(i, 3) == "-->") {
      out += "->";
      i += 2;
      continue;
    }
    out += c;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// One subtitle stream being read: its decoder (to ASS events) and the WebVTT encoder (ASS
// events to WebVTT text, keeping italics, bold and underline).
struct StreamReader {
  int index = -1;
  CodecContextPtr decoder, encoder;
  SubtitleTrack track;
};

Status OpenReader(const AVStream* st, StreamReader* r) {
  const AVCodec* dec = avcodec_find_decoder(st->codecpar->codec_id);
  const AVCodec* enc = avcodec_find_encoder(AV_CODEC_ID_WEBVTT);
  if (!dec || !enc) return InvalidArgument("no decoder for this subtitle format");
  r->index = st->index;
  r->decoder.reset(avcodec_alloc_context3(dec));
  r->encoder.reset(avcodec_alloc_context3(enc));
  if (!r->decoder || !r->encoder) return Internal("out of memory");
  int err = avcodec_parameters_to_context(r->decoder.get(), st->codecpar);
  if (err < 0) return AvStatus(err, "subtitle decoder parameters");
  r->decoder->pkt_timebase = st->time_base;
  err = avcodec_open2(r->decoder.get(), dec, nullptr);
  if (err < 0) return AvStatus(err, "cannot open the subtitle decoder");
  // The encoder reads styles (italic, bold) from the decoder's ASS header.
  if (r->decoder->subtitle_header) {
    r->encoder->subtitle_header =
        static_cast<uint8_t*>(av_mallocz(r->decoder->subtitle_header_size + 1));
    if (!r->encoder->subtitle_header) return Internal("out of memory");
    memcpy(r->encoder->subtitle_header, r->decoder->subtitle_header,
           r->decoder->subtitle_header_size);
    r->encoder->subtitle_header_size = r->decoder->subtitle_header_size;
  }
  r->encoder->time_base = {1, 1000};
  err = avcodec_open2(r->encoder.get(), enc, nullptr);
  if (err < 0) return AvStatus(err, "cannot open the WebVTT converter");
  return Status::Ok();
}

// Decodes one packet into a cue, timed by the packet (the demuxer knows each event's start
// and duration); `origin` is the source's start, in seconds.
Status ReadCue(AVPacket* pkt, const AVStream* st, double origin, StreamReader* r) {
  std::unique_ptr<AVSubtitle, SubtitleDeleter> sub(new AVSubtitle{});
  int got = 0;
  int err = avcodec_decode_subtitle2(r->decoder.get(), sub.get(), &got, pkt);
  if (err < 0 || !got || sub->num_rects == 0) return Status::Ok();  // a damaged event is skipped
  for (unsigned i = 0; i < sub->num_rects; ++i)
    if (sub->rects[i]->type != SUBTITLE_ASS) return Status::Ok();
  if (pkt->pts == AV_NOPTS_VALUE) return Status::Ok();
  double start = pkt->pts * av_q2d(st->time_base) - origin;
  double duration = pkt->duration > 0 ? pkt->duration * av_q2d(st->time_base)
                                      : (sub->end_display_time - sub->start_display_time) / 1e3;
  if (duration <= 0 || duration > 24 * 3600) duration = 5;  // no end given: a readable default
  sub->start_display_time = 0;                              // the encoder insists
  std::vector<uint8_t> buf(kMaxCueBytes * 4);
  int n = avcodec_encode_subtitle(r->encoder.get(), buf.data(), static_cast<int>(buf.size()),
                                  sub.get());
  if (n <= 0) return Status::Ok();
  std::string text = CleanCueText(std::string_view(reinterpret_cast<char*>(buf.data()), n));
  if (text.empty() || start + duration <= 0) return Status::Ok();
  if (r->track.cues.size() >= kMaxSubtitleCues)
    return InvalidArgument("more than " + std::to_string(kMaxSubtitleCues) + " subtitle cues");
  r->track.cues.push_back({std::max(0.0, start), start + duration, std::move(text)});
  return Status::Ok();
}

bool IsTextSubtitle(AVCodecID id) {
  return id == AV_CODEC_ID_SUBRIP || id == AV_CODEC_ID_TEXT || id == AV_CODEC_ID_ASS ||
         id == AV_CODEC_ID_SSA || id == AV_CODEC_ID_MOV_TEXT || id == AV_CODEC_ID_WEBVTT;
}

// Reads every packet of `readers`' streams, ignoring the rest; cues end up in time order.
Status ReadAll(AVFormatContext* fmt, double origin, std::vector<StreamReader>* readers,
               const std::atomic<bool>* cancel) {
  std::vector<int> which(fmt->nb_streams, -1);
  for (size_t i = 0; i < readers->size(); ++i) which[(*readers)[i].index] = static_cast<int>(i);
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (which[i] < 0) fmt->streams[i]->discard = AVDISCARD_ALL;
  PacketPtr pkt = MakePacket();
  while (true) {
    if (cancel && cancel->load()) return Canceled("transcode canceled");
    int err = av_read_frame(fmt, pkt.get());
    if (err == AVERROR_EOF) break;
    if (err < 0) return AvStatus(err, "reading subtitles");
    int r = pkt->stream_index < static_cast<int>(which.size()) ? which[pkt->stream_index] : -1;
    Status s = r < 0 ? Status::Ok()
                     : ReadCue(pkt.get(), fmt->streams[pkt->stream_index], origin, &(*readers)[r]);
    av_packet_unref(pkt.get());
    REEL_RETURN_IF_ERROR(s);
  }
  for (StreamReader& r : *readers)
    std::stable_sort(r.track.cues.begin(), r.track.cues.end(),
                     [](const SubtitleCue& a, const SubtitleCue& b) { return a.start < b.start; });
  return Status::Ok();
}

std::string Tag(const AVStream* st, const char* key) {
  const AVDictionaryEntry* e = av_dict_get(st->metadata, key, nullptr, 0);
  return e && e->value ? e->value : "";
}

// "00:01:02.345"
std::string VttTime(double seconds) {
  int64_t ms = std::llround(std::max(0.0, seconds) * 1000);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld.%03lld", (long long)(ms / 3600000),
                (long long)(ms / 60000 % 60), (long long)(ms / 1000 % 60), (long long)(ms % 1000));
  return buf;
}

// Length of the valid UTF-8 sequence at the start of `s` (0: not valid there). Playlists must
// be UTF-8 and the job's result is JSON, which refuses anything else.
size_t Utf8Length(std::string_view s) {
  auto u = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (u(i) & 0xC0) == 0x80; };
  unsigned char c = u(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if ((c == 0xE0 && u(1) < 0xA0) || (c == 0xED && u(1) > 0x9F)) return 0;  // overlong, UTF-16
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if ((c == 0xF0 && u(1) < 0x90) || (c == 0xF4 && u(1) > 0x8F)) return 0;
    return 4;
  }
  return 0;
}

// A stream's tags become attributes of playlists and manifests: a language keeps only what a
// language tag may hold, a title no quote, no control character and no invalid UTF-8, cut at a
// character boundary within 64 bytes.
std::string TagName(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    size_t n = Utf8Length(s);
    if (n == 0) {  // a stray byte (Latin-1 titles are common): dropped
      s.remove_prefix(1);
      continue;
    }
    if (out.size() + n > 64) break;
    char c = s[0];
    bool control = n == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f);
    if (!control) out.append(n == 1 && c == '"' ? std::string_view("'") : s.substr(0, n));
    s.remove_prefix(n);
  }
  return out;
}

}  // namespace

std::string StreamLanguage(std::string_view s) { return Bcp47Language(s); }

Result<SubtitleTrack> ReadSubtitleFile(const SubtitleInput& input) {
  REEL_RETURN_IF_ERROR(CheckSubtitleFile(input.path).WithContext(input.field));
  AVFormatContext* raw = nullptr;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "format_whitelist", "srt,ass,webvtt", 0);
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  int err = avformat_open_input(&raw, input.path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0) return AvStatus(err, input.field + ": cannot open");
  InputFormatPtr fmt(raw);
  err = avformat_find_stream_info(fmt.get(), nullptr);
  if (err < 0) return AvStatus(err, input.field + ": cannot read");
  std::vector<StreamReader> readers(1);
  for (unsigned i = 0; i < fmt->nb_streams && readers[0].index < 0; ++i)
    if (IsTextSubtitle(fmt->streams[i]->codecpar->codec_id))
      REEL_RETURN_IF_ERROR(OpenReader(fmt->streams[i], &readers[0]).WithContext(input.field));
  if (readers[0].index < 0) return InvalidArgument(input.field + ": holds no text subtitles");
  REEL_RETURN_IF_ERROR(ReadAll(fmt.get(), 0, &readers, nullptr).WithContext(input.field));
  SubtitleTrack t = std::move(readers[0].track);
  t.language = input.language;
  t.name = input.name;
  return t;
}

Result<std::vector<SubtitleTrack>> ReadSubtitleStreams(const std::string& path, double origin,
                                                       const std::atomic<bool>* cancel) {
  Result<InputFormatPtr> fmt = OpenInput(path);
  if (!fmt.ok()) return fmt.status();
  AVFormatContext* f = fmt->get();
  std::vector<StreamReader> readers;
  for (unsigned i = 0; i < f->nb_streams && readers.size() < kMaxSourceSubtitleStreams; ++i) {
    const AVStream* st = f->streams[i];
    if (st->codecpar->codec_type != AVMEDIA_TYPE_SUBTITLE ||
        !IsTextSubtitle(st->codecpar->codec_id))
      continue;
    StreamReader r;
    if (!OpenReader(st, &r).ok()) continue;  // a stream we cannot read is left out, as before
    r.track.language = StreamLanguage(Tag(st, "language"));
    r.track.name = TagName(Tag(st, "title"));
    readers.push_back(std::move(r));
  }
  std::vector<SubtitleTrack> out;
  if (readers.empty()) return out;
  REEL_RETURN_IF_ERROR(ReadAll(f, origin, &readers, cancel).WithContext("source subtitles"));
  for (StreamReader& r : readers) out.push_back(std::move(r.track));
  return out;
}

std::string SubRipText(std::string_view webvtt) {
  static const std::pair<std::string_view, std::string_view> kReferences[] = {
      {"&amp;", "&"},       {"&lt;", "<"},       {"&gt;", ">"},
      {"&nbsp;", "\u00a0"}, {"&lrm;", "\u200e"}, {"&rlm;", "\u200f"}};
  std::string out;
  for (size_t i = 0; i < webvtt.size();) {
    bool replaced = false;
    if (webvtt[i] == '&') {
      for (auto [from, to] : kReferences) {
        if (webvtt.substr(i, from.size()) != from) continue;
        out += to;
        i += from.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += webvtt[i++];
  }
  return out;
}

std::string WebVttText(const std::vector<SubtitleCue>& cues, double from, double to,
                       bool timestamp_map) {
  std::ostringstream out;
  out << "WEBVTT\n";
  // The package's media starts at 0 (its first tfdt), so local time 0 is media time 0.
  if (timestamp_map) out << "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n";
  out << "\n";
  for (const SubtitleCue& c : cues) {
    if (c.end <= from || c.start >= to) continue;
    out << VttTime(c.start) << " --> " << VttTime(c.end) << "\n" << c.text << "\n\n";
  }
  return out.str();
}

Status WriteSubtitleRendition(const SubtitleTrack& track,
                              const std::vector<double>& segment_durations,
                              const std::string& folder) {
  auto write = [](const fs::path& path, const std::string& text) -> Status {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f) return Unavailable("cannot write " + path.string());
    return Status::Ok();
  };
  std::ostringstream pl;
  double longest = 1;
  for (double d : segment_durations) longest = std::max(longest, d);
  pl << "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:" << std::llround(std::ceil(longest))
     << "\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  double t = 0;
  for (size_t i = 0; i < segment_durations.size(); ++i) {
    double end = t + segment_durations[i];
    // The last segment takes every cue still to come (none is lost past the media's end).
    if (i + 1 == segment_durations.size()) end = std::max(end, 1e9);
    std::string name = layout::SubtitleSegmentName(static_cast<int>(i));
    REEL_RETURN_IF_ERROR(write(fs::path(folder) / name, WebVttText(track.cues, t, end, true)));
    char extinf[48];
    std::snprintf(extinf, sizeof(extinf), "#EXTINF:%.6f,\n", segment_durations[i]);
    pl << extinf << name << "\n";
    t += segment_durations[i];
  }
  pl << "#EXT-X-ENDLIST\n";
  REEL_RETURN_IF_ERROR(write(fs::path(folder) / layout::kMediaPlaylist, pl.str()));
  return write(fs::path(folder) / layout::kSubtitleFile, WebVttText(track.cues, 0, 1e18, false));
}

Result<TextRenditions> WriteSubtitleRenditions(const std::vector<SubtitleTrack>& tracks,
                                               const std::vector<double>& segment_durations,
                                               const std::string& package_dir) {
  TextRenditions out;
  for (size_t i = 0; i < tracks.size(); ++i) {
    const SubtitleTrack& t = tracks[i];
    std::string folder = layout::SubtitleRendition(static_cast<int>(i));
    std::error_code ec;
    fs::create_directory(fs::path(package_dir) / folder, ec);
    if (ec) return Unavailable("cannot create " + folder + " in the package: " + ec.message());
    REEL_RETURN_IF_ERROR(
        WriteSubtitleRendition(t, segment_durations, (fs::path(package_dir) / folder).string()));
    // NAME is required and unique within the group.
    std::string name = t.name.empty() ? (t.language.empty() ? "Subtitles" : t.language) : t.name;
    for (const hls::SubtitleEntry& e : out.hls)
      if (e.name == name) name += " (" + std::to_string(i + 1) + ")";
    out.hls.push_back({layout::MediaPlaylistUri(folder), t.language, name});
    out.dash.push_back(
        {folder, layout::RenditionFile(folder, layout::kSubtitleFile), t.language, name});
  }
  return out;
}

}  // namespace reel::engine
