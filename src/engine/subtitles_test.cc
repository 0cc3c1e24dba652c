// Subtitle renditions of HLS/DASH packages: attached SRT, ASS and WebVTT files and the source's
// own text streams (SubRip in MKV, mov_text in MP4) read back from the package as a player
// would (master playlist, segmented WebVTT aligned to the video, the MPD's text sets), and the
// audio rendition's language.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "engine/av_util.h"
#include "engine/engine.h"
#include "engine/hls.h"
#include "layout/layout.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using testing::Clip;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

TranscodeResult MustTranscode(const TranscodePlan& plan) {
  Result<TranscodeResult> r = Transcode(plan, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TranscodeResult{};
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::vector<double> Extinfs(const std::string& playlist_path) {
  Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(playlist_path);
  EXPECT_TRUE(pl.ok()) << pl.status().ToString();
  std::vector<double> out;
  if (pl.ok())
    for (const hls::Segment& s : pl->segments) out.push_back(s.duration);
  return out;
}

// The cues ffprobe's WebVTT demuxer finds in a file: "start-end" in milliseconds.
std::vector<std::string> ProbeCues(const std::string& vtt) {
  testing::CommandResult c =
      testing::RunCommand({"ffprobe", "-v", "error", "-f", "webvtt", "-show_entries",
                           "packet=pts,duration", "-of", "csv=p=0", vtt});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  std::vector<std::string> out;
  std::istringstream in(c.stdout_text);
  for (std::string line; std::getline(in, line);) {
    size_t comma = line.find(',');
    if (comma == std::string::npos) continue;
    long long pts = std::stoll(line.substr(0, comma)), d = std::stoll(line.substr(comma + 1));
    out.push_back(std::to_string(pts) + "-" + std::to_string(pts + d));
  }
  return out;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

constexpr char kAss[] =
    "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, "
    "PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, "
    "StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    "MarginL, MarginR, MarginV, Encoding\nStyle: Default,Arial,20,&H00FFFFFF,&H00FFFFFF,"
    "&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\n\n[Events]\nFormat: Layer, "
    "Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    "Dialogue: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,{\\i1}Hallo{\\i0} Welt\\NZweite Zeile\n";

TEST(SubtitleRenditions, AttachedFilesBecomeSegmentedWebVttAlignedToTheVideo) {
  std::string src = Clip(640, 360, 8, 30);
  TempDir dir;
  // A cue across the 6 s segment boundary, one after it, and a hostile "-->" and blank line.
  WriteFile(dir / "fr.srt",
            "1\n00:00:01,000 --> 00:00:02,500\nBonjour\n\n"
            "2\n00:00:05,500 --> 00:00:06,500\nA cheval\n\n"
            "3\n00:00:07,000 --> 00:00:07,800\n<i>Fin</i> --> x\n\n");
  WriteFile(dir / "de.ass", kAss);
  WriteFile(dir / "c.vtt", "WEBVTT\n\n00:00:00.500 --> 00:00:01.000\nKommentar\n");
  TranscodePlan plan;
  plan.input = src;
  plan.subtitle_tracks = {{dir / "fr.srt", "subtitle_tracks[0]", "fr", "Français"},
                          {dir / "de.ass", "subtitle_tracks[1]", "de", ""},
                          {dir / "c.vtt", "subtitle_tracks[2]", "", "Commentary"}};
  HlsOutputPlan h;
  h.directory = dir / "pkg";
  h.ladder = *presets::FindLadder("default");
  h.dash = true;
  plan.hls.push_back(h);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 1u);
  ASSERT_FALSE(r.outputs[0].variants.empty());

  std::string master = ReadFile(dir / "pkg/master.m3u8");
  EXPECT_NE(master.find("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Français\","
                        "LANGUAGE=\"fr\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,"
                        "URI=\"sub_0/index.m3u8\""),
            std::string::npos)
      << master;
  EXPECT_NE(master.find("NAME=\"de\",LANGUAGE=\"de\",DEFAULT=NO,AUTOSELECT=YES"), std::string::npos)
      << "a track without a name is named by its language\n"
      << master;
  EXPECT_NE(master.find("NAME=\"Commentary\",DEFAULT=NO,AUTOSELECT=NO"), std::string::npos)
      << "without a language it is not selected automatically\n"
      << master;
  int variants = Count(master, "#EXT-X-STREAM-INF:");
  EXPECT_EQ(variants, int(r.outputs[0].variants.size()));
  EXPECT_EQ(Count(master, "SUBTITLES=\"subs\",CLOSED-CAPTIONS=NONE\n"), variants)
      << "every variant names the group; the source has no captions\n"
      << master;
  EXPECT_LT(master.find("TYPE=SUBTITLES"), master.find("#EXT-X-STREAM-INF:"));

  // Segments follow the video's, one for one.
  std::vector<double> video = Extinfs(dir / ("pkg/" + r.outputs[0].variants[0].playlist));
  ASSERT_EQ(video.size(), 2u);
  for (int i = 0; i < 3; ++i) {
    std::string folder = dir / ("pkg/sub_" + std::to_string(i));
    EXPECT_EQ(Extinfs(folder + "/index.m3u8"), video) << folder;
    for (int s = 0; s < 2; ++s) {
      std::string seg = ReadFile(folder + "/" + layout::SubtitleSegmentName(s));
      EXPECT_EQ(seg.rfind("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n", 0), 0u) << seg;
    }
  }
  std::string fr0 = ReadFile(dir / "pkg/sub_0/seg_00000.vtt");
  std::string fr1 = ReadFile(dir / "pkg/sub_0/seg_00001.vtt");
  EXPECT_NE(fr0.find("00:00:01.000 --> 00:00:02.500\nBonjour\n"), std::string::npos) << fr0;
  EXPECT_EQ(fr1.find("Bonjour"), std::string::npos) << fr1;
  EXPECT_NE(fr0.find("00:00:05.500 --> 00:00:06.500\nA cheval\n"), std::string::npos) << fr0;
  EXPECT_NE(fr1.find("00:00:05.500 --> 00:00:06.500\nA cheval\n"), std::string::npos)
      << "a cue across a boundary is in both segments\n"
      << fr1;
  EXPECT_NE(fr1.find("00:00:07.000 --> 00:00:07.800\n<i>Fin</i> -> x\n"), std::string::npos)
      << "italics kept, and the text cannot start a cue of its own\n"
      << fr1;
  std::string de = ReadFile(dir / "pkg/sub_1/seg_00000.vtt");
  EXPECT_NE(de.find("00:00:02.000 --> 00:00:03.000\n<i>Hallo</i> Welt\nZweite Zeile\n"),
            std::string::npos)
      << "ASS converted to WebVTT\n"
      << de;
  EXPECT_NE(
      ReadFile(dir / "pkg/sub_2/seg_00000.vtt").find("00:00:00.500 --> 00:00:01.000\nKommentar"),
      std::string::npos);

  // DASH: one text set per track over a whole WebVTT file, which a WebVTT reader takes.
  std::string mpd = ReadFile(dir / "pkg/manifest.mpd");
  EXPECT_NE(mpd.find("<AdaptationSet id=\"100\" contentType=\"text\" mimeType=\"text/vtt\" "
                     "lang=\"fr\">\n      <Label>Français</Label>\n      <Role "
                     "schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>"),
            std::string::npos)
      << mpd;
  EXPECT_NE(mpd.find("<BaseURL>sub_2/subtitles.vtt</BaseURL>"), std::string::npos) << mpd;
  EXPECT_EQ(ProbeCues(dir / "pkg/sub_0/subtitles.vtt"),
            (std::vector<std::string>{"1000-2500", "5500-6500", "7000-7800"}));
  EXPECT_EQ(ProbeCues(dir / "pkg/sub_1/subtitles.vtt"), (std::vector<std::string>{"2000-3000"}));

  // A second run into the same folder replaces the package: its subtitle files are reel's own.
  MustTranscode(plan);
}

TEST(SubtitleRenditions, TheSourcesTextStreamsAndAudioLanguageAreKept) {
  TempDir dir;
  WriteFile(dir / "en.srt", "1\n00:00:00,500 --> 00:00:01,500\nHello\n\n");
  WriteFile(dir / "es.srt", "1\n00:00:02,000 --> 00:00:03,000\nHola\n\n");
  for (std::string container : {"mkv", "mp4"}) {
    SCOPED_TRACE(container);
    bool mkv = container == "mkv";
    // AAC's priming would make ffmpeg shift the MKV's video and subtitles by 23 ms (a real
    // offset, which the package keeps); FLAC has none, so the cues stay where the SRT has them.
    std::vector<std::string> args = Words(
        "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=4 "
        "-f lavfi -i sine=frequency=440:duration=4");
    args.insert(args.end(), {"-i", dir / "en.srt", "-i", dir / "es.srt"});
    for (std::string more : Words("-map 0:v -map 1:a -map 2 -map 3 -c:v libx264 -preset ultrafast "
                                  "-metadata:s:a:0 language=eng -metadata:s:s:0 language=eng "
                                  "-metadata:s:s:1 language=spa"))
      args.push_back(more);
    args.insert(args.end(),
                {"-metadata:s:s:1", "title=Español \"latino\"", "-c:a", mkv ? "flac" : "aac",
                 "-c:s", mkv ? "srt" : "mov_text", dir / ("src." + container)});
    testing::CommandResult made = testing::RunCommand(args);
    ASSERT_EQ(made.exit_code, 0) << made.output;
    TranscodePlan plan;
    plan.input = dir / ("src." + container);
    HlsOutputPlan h;
    h.directory = dir / ("pkg-" + container);
    h.ladder = *presets::FindLadder("default");
    h.dash = true;
    plan.hls.push_back(h);
    MustTranscode(plan);
    std::string master = ReadFile(h.directory + "/master.m3u8");
    EXPECT_NE(master.find("TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",LANGUAGE=\"en\","
                          "DEFAULT=YES,AUTOSELECT=YES"),
              std::string::npos)
        << master;
    EXPECT_NE(master.find("NAME=\"en\",LANGUAGE=\"en\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,"
                          "URI=\"sub_0/index.m3u8\""),
              std::string::npos)
        << master;
    // MP4 keeps no stream title (ffmpeg's muxer drops it): the language names the track.
    EXPECT_NE(master.find(mkv ? "NAME=\"Español 'latino'\",LANGUAGE=\"es\""
                              : "NAME=\"es\",LANGUAGE=\"es\""),
              std::string::npos)
        << "the stream's title names it, its quotes made harmless\n"
        << master;
    EXPECT_NE(ReadFile(h.directory + "/sub_0/seg_00000.vtt")
                  .find("00:00:00.500 --> 00:00:01.500\nHello\n"),
              std::string::npos);
    EXPECT_NE(ReadFile(h.directory + "/sub_1/seg_00000.vtt")
                  .find("00:00:02.000 --> 00:00:03.000\nHola\n"),
              std::string::npos);
    EXPECT_NE(ReadFile(h.directory + "/manifest.mpd").find("lang=\"es\""), std::string::npos);
    // The audio set says its language as the HLS audio rendition does.
    EXPECT_NE(ReadFile(h.directory + "/manifest.mpd")
                  .find("contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"en\""),
              std::string::npos);
  }
}

// Debian's ffmpeg CLI cannot make CEA-608 captions, but libx264 writes them (SEI) from frames'
// A53 side data: a 2 s clip whose every frame carries a caption pair ("RC" on field 1, CC1).
void WriteCaptionedClip(const std::string& path) {
  AVFormatContext* raw = nullptr;
  ASSERT_GE(avformat_alloc_output_context2(&raw, nullptr, "mp4", path.c_str()), 0);
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> fmt(raw, [](AVFormatContext* f) {
    avio_closep(&f->pb);
    avformat_free_context(f);
  });
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  ASSERT_NE(codec, nullptr);
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->width = 320;
  enc->height = 240;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = {1, 30};
  enc->framerate = {30, 1};
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "preset", "ultrafast", 0);
  ASSERT_GE(avcodec_open2(enc.get(), codec, &opts), 0);
  av_dict_free(&opts);
  AVStream* st = avformat_new_stream(fmt.get(), nullptr);
  avcodec_parameters_from_context(st->codecpar, enc.get());
  st->time_base = enc->time_base;
  ASSERT_GE(avio_open(&fmt->pb, path.c_str(), AVIO_FLAG_WRITE), 0);
  ASSERT_GE(avformat_write_header(fmt.get(), nullptr), 0);
  PacketPtr pkt = MakePacket();
  auto drain = [&] {
    while (avcodec_receive_packet(enc.get(), pkt.get()) >= 0) {
      av_packet_rescale_ts(pkt.get(), enc->time_base, st->time_base);
      pkt->stream_index = 0;
      av_interleaved_write_frame(fmt.get(), pkt.get());
    }
  };
  for (int i = 0; i < 60; ++i) {
    FramePtr f = MakeFrame();
    f->width = 320;
    f->height = 240;
    f->format = AV_PIX_FMT_YUV420P;
    ASSERT_GE(av_frame_get_buffer(f.get(), 0), 0);
    for (int p = 0; p < 3; ++p)
      memset(f->data[p], p == 0 ? 16 + i * 3 : 128, f->linesize[p] * (p == 0 ? 240 : 120));
    f->pts = i;
    // cc_valid | NTSC field 1, then the pair with odd parity: 0x14 0x20 (resume caption loading).
    const uint8_t cc[] = {0xfc, 0x94, 0x20};
    AVFrameSideData* sd = av_frame_new_side_data(f.get(), AV_FRAME_DATA_A53_CC, sizeof(cc));
    ASSERT_NE(sd, nullptr);
    memcpy(sd->data, cc, sizeof(cc));
    ASSERT_GE(avcodec_send_frame(enc.get(), f.get()), 0);
    drain();
  }
  avcodec_send_frame(enc.get(), nullptr);
  drain();
  ASSERT_GE(av_write_trailer(fmt.get()), 0);
}

// How many decoded frames of a file (or of reel's own HLS playlist) carry A53 captions.
int FramesWithCaptions(const std::string& path) {
  Result<InputFormatPtr> in = OpenInput(path, true);
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  if (!in.ok()) return -1;
  int index = av_find_best_stream(in->get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  const AVStream* st = (*in)->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(dec.get(), st->codecpar);
  EXPECT_GE(avcodec_open2(dec.get(), codec, nullptr), 0);
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame();
  int with = 0;
  auto receive = [&] {
    while (avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
      with += av_frame_get_side_data(frame.get(), AV_FRAME_DATA_A53_CC) != nullptr;
      av_frame_unref(frame.get());
    }
  };
  while (av_read_frame(in->get(), pkt.get()) >= 0) {
    if (pkt->stream_index == index) avcodec_send_packet(dec.get(), pkt.get());
    av_packet_unref(pkt.get());
    receive();
  }
  avcodec_send_packet(dec.get(), nullptr);
  receive();
  return with;
}

TEST(SubtitleRenditions, ClosedCaptionsAreCarriedThroughAndDeclared) {
  TempDir dir;
  WriteCaptionedClip(dir / "cc.mp4");
  ASSERT_EQ(FramesWithCaptions(dir / "cc.mp4"), 60) << "the source has captions to carry";
  TranscodePlan plan;
  plan.input = dir / "cc.mp4";
  HlsOutputPlan h;
  h.directory = dir / "pkg";
  h.ladder = *presets::FindLadder("default");
  plan.hls.push_back(h);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_FALSE(r.outputs.empty());
  std::string master = ReadFile(dir / "pkg/master.m3u8");
  EXPECT_NE(master.find("#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\","
                        "DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC1\"\n"),
            std::string::npos)
      << master;
  EXPECT_EQ(Count(master, "CLOSED-CAPTIONS=\"cc\"\n"), Count(master, "#EXT-X-STREAM-INF:"))
      << master;
  for (const VariantResult& v : r.outputs[0].variants)
    EXPECT_EQ(FramesWithCaptions(dir / ("pkg/" + v.playlist)), 60) << v.name;
}

// A Matroska file's text tracks as libavformat reads them back.
struct TextTrackRead {
  AVCodecID codec = AV_CODEC_ID_NONE;
  std::string language, title;
  std::vector<std::string> cues;  // "start-end text" in milliseconds
};
std::vector<TextTrackRead> ReadTextTracks(const std::string& path) {
  std::vector<TextTrackRead> out;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return out;
  }
  std::map<int, size_t> which;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    if (st->codecpar->codec_type != AVMEDIA_TYPE_SUBTITLE) continue;
    which[int(i)] = out.size();
    TextTrackRead t;
    t.codec = st->codecpar->codec_id;
    if (auto* e = av_dict_get(st->metadata, "language", nullptr, 0)) t.language = e->value;
    if (auto* e = av_dict_get(st->metadata, "title", nullptr, 0)) t.title = e->value;
    out.push_back(t);
  }
  AVPacket* pkt = av_packet_alloc();
  while (av_read_frame(fmt, pkt) >= 0) {
    if (auto it = which.find(pkt->stream_index); it != which.end()) {
      AVRational tb = fmt->streams[pkt->stream_index]->time_base;
      int64_t start = av_rescale_q(pkt->pts, tb, {1, 1000});
      int64_t end = av_rescale_q(pkt->pts + pkt->duration, tb, {1, 1000});
      out[it->second].cues.push_back(std::to_string(start) + "-" + std::to_string(end) + " " +
                                     std::string(reinterpret_cast<char*>(pkt->data), pkt->size));
    }
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  avformat_close_input(&fmt);
  return out;
}

// MKV outputs carry the subtitle files and the source's text streams as S_TEXT/UTF8 tracks with
// their language (ISO 639-2, as Matroska has it) and name, on the file's timeline.
TEST(SubtitleRenditions, MatroskaFilesCarryThemAsTextTracks) {
  TempDir dir;
  WriteFile(dir / "es.srt", "1\n00:00:02,000 --> 00:00:03,000\nHola & <b>adiós</b>\n\n");
  WriteFile(dir / "de.srt",
            "1\n00:00:00,500 --> 00:00:01,250\n<i>Hallo</i>\n\n"
            "2\n00:00:03,500 --> 00:00:09,000\nBis gleich\n\n");
  // The source: a SubRip stream in Spanish (FLAC: no priming to shift the cues, as above).
  std::vector<std::string> args = Words(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=4 "
      "-f lavfi -i sine=frequency=440:duration=4");
  args.insert(args.end(), {"-i", dir / "es.srt"});
  for (std::string more : Words("-map 0:v -map 1:a -map 2 -c:v libx264 -preset ultrafast -c:a "
                                "flac -c:s srt -metadata:s:s:0 language=spa"))
    args.push_back(more);
  args.push_back(dir / "src.mkv");
  testing::CommandResult made = testing::RunCommand(args);
  ASSERT_EQ(made.exit_code, 0) << made.output;

  TranscodePlan plan;
  plan.input = dir / "src.mkv";
  plan.subtitle_tracks = {{dir / "de.srt", "subtitle_tracks[0]", "de", "Deutsch"}};
  FileOutputPlan mkv;
  mkv.path = dir / "out.mkv";
  mkv.kind = "mkv";
  mkv.preset = *presets::FindPreset("h264-360p");
  mkv.preset.container = presets::Container::kMatroska;
  plan.files.push_back(mkv);
  FileOutputPlan mp4;
  mp4.index = 1;
  mp4.path = dir / "out.mp4";
  mp4.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(mp4);
  MustTranscode(plan);

  std::vector<TextTrackRead> tracks = ReadTextTracks(dir / "out.mkv");
  ASSERT_EQ(tracks.size(), 2u) << "the file's track, then the source's";
  EXPECT_EQ(tracks[0].codec, AV_CODEC_ID_SUBRIP);
  EXPECT_EQ(tracks[0].language, "ger");
  EXPECT_EQ(tracks[0].title, "Deutsch");
  // The second cue ends with the file (4 s), not past it.
  EXPECT_EQ(tracks[0].cues,
            (std::vector<std::string>{"500-1250 <i>Hallo</i>", "3500-4000 Bis gleich"}));
  EXPECT_EQ(tracks[1].codec, AV_CODEC_ID_SUBRIP);
  EXPECT_EQ(tracks[1].language, "spa");
  EXPECT_EQ(tracks[1].cues, (std::vector<std::string>{"2000-3000 Hola & <b>adiós</b>"}))
      << "WebVTT's &amp; is a plain & again in SubRip";
  // The picture and sound are all there, and in time.
  testing::MediaSummary m = testing::ReadMedia(dir / "out.mkv");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->packets, 100);
  EXPECT_NE(m.Find("audio"), nullptr);
  EXPECT_TRUE(ReadTextTracks(dir / "out.mp4").empty()) << "MP4 outputs are unchanged";
}

TEST(SubtitleRenditions, ASubtitleFileThatIsNotOneFailsTheRunNamingTheField) {
  TempDir dir;
  WriteFile(dir / "x.srt", "#EXTM3U\n#EXTINF:1,\n" + Clip(320, 240, 1, 30) + "\n");
  TranscodePlan plan;
  plan.input = Clip(320, 240, 1, 30);
  plan.subtitle_tracks = {{dir / "x.srt", "subtitle_tracks[0]", "en", "English"}};
  HlsOutputPlan h;
  h.directory = dir / "pkg";
  h.ladder = *presets::FindLadder("default");
  plan.hls.push_back(h);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("subtitle_tracks[0]"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(dir / "pkg"));
}

}  // namespace
}  // namespace reel::engine
