#include "testing/media_fixtures.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/av_util.h"
#include "testing/av_sync.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

extern char** environ;

namespace reel::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string base = fs::temp_directory_path().string() + "/reel-test-XXXXXX";
  if (!mkdtemp(base.data())) std::abort();
  path_ = base;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::ofstream out(path, std::ios::binary);
  out << content;
}

namespace {

// Starts argv with stdout and stderr redirected into `scratch`; returns the pid or -1.
int Spawn(const std::vector<std::string>& argv, const TempDir& scratch) {
  std::string out_path = scratch / "out", all_path = scratch / "all";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, all_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return err == 0 ? pid : -1;
}

CommandResult Collect(int pid, const TempDir& scratch, const int* reaped_status = nullptr) {
  CommandResult r;
  int status = 0;
  if (reaped_status)
    status = *reaped_status;
  else
    waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.stdout_text = ReadFile(scratch / "out");
  r.output = r.stdout_text + ReadFile(scratch / "all");
  return r;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv) {
  TempDir scratch;
  int pid = Spawn(argv, scratch);
  if (pid < 0) return {-1, "cannot start " + argv[0], ""};
  return Collect(pid, scratch);
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& argv)
    : pid_(Spawn(argv, scratch_)) {}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void BackgroundCommand::Signal(int signo) {
  if (pid_ > 0 && !reaped_) kill(pid_, signo);
}

std::string BackgroundCommand::OutputSoFar() const {
  return ReadFile(scratch_ / "out") + ReadFile(scratch_ / "all");
}

bool BackgroundCommand::Running() {
  if (pid_ <= 0 || reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

CommandResult BackgroundCommand::Wait() {
  if (pid_ <= 0) return {-1, "not started", ""};
  CommandResult r = Collect(pid_, scratch_, reaped_ ? &status_ : nullptr);
  pid_ = -1;
  return r;
}

std::string ReelBinary() {
  const char* bin = std::getenv("REEL_BINARY");
  return bin ? bin : "reel";
}

std::string Fixture(const std::string& file_name, const std::vector<std::string>& ffmpeg_args) {
  std::string joined;
  for (const std::string& a : ffmpeg_args) joined += a + "\x1f";
  size_t hash = std::hash<std::string>{}(joined);
  std::string dir = fs::temp_directory_path().string() + "/reel-fixtures";
  fs::create_directories(dir);
  std::string path = dir + "/" + std::to_string(hash) + "-" + file_name;
  if (fs::exists(path)) return path;
  // Generate under a private name and rename, so tests running in parallel never see half a file.
  std::string ext = fs::path(file_name).extension().string();
  std::string temp = path + ".tmp" + std::to_string(getpid()) + ext;
  std::vector<std::string> argv = {"ffmpeg",    "-nostdin", "-hide_banner",
                                   "-loglevel", "error",    "-y"};
  argv.insert(argv.end(), ffmpeg_args.begin(), ffmpeg_args.end());
  argv.push_back(temp);
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "fixture " << file_name << " failed: " << r.output;
    return path;
  }
  fs::rename(temp, path);
  return path;
}

namespace {

std::string MakeClip(int width, int height, double seconds, int fps, bool audio, bool bt709) {
  std::string size = std::to_string(width) + "x" + std::to_string(height);
  std::string dur = std::to_string(seconds);
  std::vector<std::string> args = {
      "-f", "lavfi", "-i",
      "testsrc2=size=" + size + ":rate=" + std::to_string(fps) + ":duration=" + dur};
  if (audio) {
    args.insert(args.end(),
                {"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + dur, "-ac",
                 "2", "-c:a", "aac", "-b:a", "96k"});
  }
  args.insert(args.end(), {"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                           "-movflags", "+faststart"});
  if (bt709)
    args.insert(args.end(), {"-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace",
                             "bt709", "-color_range", "tv"});
  return Fixture("clip-" + size + "-" + dur + "s-" + std::to_string(fps) +
                     (audio ? "" : "-silent") + (bt709 ? "-bt709" : "") + ".mp4",
                 args);
}

}  // namespace

std::string Clip(int width, int height, double seconds, int fps, bool audio) {
  return MakeClip(width, height, seconds, fps, audio, false);
}

std::string Bt709Clip(int width, int height, double seconds, int fps) {
  return MakeClip(width, height, seconds, fps, true, true);
}

namespace {

SyncSourceOptions TimestampSyncOptions() {
  SyncSourceOptions o;
  o.fps_num = 25;
  return o;
}

}  // namespace

std::string EditListOffsetSource() {
  return Fixture("edit-list-offset.mp4",
                 {"-i", SyncSource(TimestampSyncOptions()), "-output_ts_offset", "10", "-c:v",
                  "copy", "-c:a", "aac", "-b:a", "192k"});
}

std::string WrappingTsSource() {
  // 2^33 / 90000 = 95443.72 s; the TS muxer adds its own 1.4 s of delay on top of the offset.
  return Fixture("pts-wrap.ts", {"-i", SyncSource(TimestampSyncOptions()), "-c:v", "copy", "-c:a",
                                 "aac", "-b:a", "192k", "-output_ts_offset", "95438"});
}

std::string ClockJumpTsSource(double second_starts_at, int audio_tracks, const TsJoin& join) {
  std::string tracks = audio_tracks == 1 ? "" : "-" + std::to_string(audio_tracks) + "a";
  auto codecs = [&](const std::vector<std::string>& given) {
    std::vector<std::string> all(audio_tracks, "aac");
    for (size_t i = 0; i < given.size() && i < all.size(); ++i) all[i] = given[i];
    return all;
  };
  auto named = [](const std::vector<std::string>& all) {
    std::string name;
    for (const std::string& c : all) name += "-" + c;
    return name;
  };
  std::string kind =
      named(codecs(join.first_audio)) + named(codecs(join.second_audio)) +
      (join.second_start_pid > 0 ? "-pid" + std::to_string(join.second_start_pid) : "");
  auto part = [&](double offset, bool second) {
    std::string at = std::to_string(offset);
    std::vector<std::string> audio = codecs(second ? join.second_audio : join.first_audio);
    int pid = second ? join.second_start_pid : 0;
    std::vector<std::string> args = {"-i", SyncSource(TimestampSyncOptions()), "-map", "0:v"};
    for (int i = 0; i < audio_tracks; ++i) args.insert(args.end(), {"-map", "0:a"});
    args.insert(args.end(), {"-c:v", "copy", "-b:a", "192k", "-output_ts_offset", at});
    for (int i = 0; i < audio_tracks; ++i)
      args.insert(args.end(), {"-c:a:" + std::to_string(i), audio[i]});
    if (pid > 0) args.insert(args.end(), {"-mpegts_start_pid", std::to_string(pid)});
    return Fixture("clock-" + at + tracks + named(audio) +
                       (pid > 0 ? "-pid" + std::to_string(pid) : "") + ".ts",
                   args);
  };
  std::string first = part(second_starts_at < 0 ? -second_starts_at : 0, false);
  std::string second = part(second_starts_at < 0 ? 0 : second_starts_at, true);
  std::string path =
      fs::path(first).parent_path() /
      ("clock-jump-" + std::to_string(second_starts_at) + tracks + "-" + kind + "-" +
       std::to_string(fs::file_size(first)) + "-" + std::to_string(fs::file_size(second)) + ".ts");
  if (fs::exists(path)) return path;
  std::string temp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(temp, std::ios::binary);
    for (const std::string& p : {first, second}) out << std::ifstream(p, std::ios::binary).rdbuf();
    if (!out) ADD_FAILURE() << "cannot write " << temp;
  }
  fs::rename(temp, path);
  return path;
}

namespace {

// The CRC an Ogg page carries (polynomial 0x04c11db7, unreflected, over the page with the field
// zeroed).
uint32_t OggCrc(const std::string& page) {
  uint32_t crc = 0;
  for (unsigned char byte : page) {
    crc ^= uint32_t(byte) << 24;
    for (int bit = 0; bit < 8; ++bit) crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u : crc << 1;
  }
  return crc;
}

}  // namespace

std::string CorruptGranuleOgg(const std::string& ogg, bool first_page) {
  fs::path from(ogg);
  std::string path =
      from.parent_path() /
      (from.stem().string() + (first_page ? "-corrupt-first-granule-" : "-corrupt-granule-") +
       std::to_string(fs::file_size(from)) + ".ogg");
  if (fs::exists(path)) return path;
  std::ifstream in(ogg, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Pages: "OggS", version, flags, granule (8 bytes LE) at 6, serial at 14, CRC at 22, the
  // segment count at 26 and the lacing values after it.
  struct Page {
    size_t at, size;
    uint32_t serial;
    int64_t granule;
  };
  std::vector<Page> pages;
  uint32_t first = 0;
  for (size_t at = 0; at + 27 <= data.size() && data.compare(at, 4, "OggS") == 0;) {
    size_t segments = static_cast<unsigned char>(data[at + 26]), size = 27 + segments;
    for (size_t i = 0; i < segments && at + 27 + i < data.size(); ++i)
      size += static_cast<unsigned char>(data[at + 27 + i]);
    Page page{at, size, 0, 0};
    std::memcpy(&page.serial, &data[at + 14], 4);
    std::memcpy(&page.granule, &data[at + 6], 8);
    if (pages.empty()) first = page.serial;
    pages.push_back(page);
    at += size;
  }
  std::vector<Page> timed;
  for (const Page& p : pages)
    if (p.serial == first && p.granule > 0) timed.push_back(p);
  if (timed.size() < 4) ADD_FAILURE() << ogg << ": too few pages to corrupt";
  if (timed.empty()) return ogg;
  const Page& victim = timed[first_page ? 0 : timed.size() / 2];
  int64_t granule = 0x7ffffffffffff000;
  std::memcpy(&data[victim.at + 6], &granule, 8);
  std::memset(&data[victim.at + 22], 0, 4);
  uint32_t crc = OggCrc(data.substr(victim.at, victim.size));
  std::memcpy(&data[victim.at + 22], &crc, 4);
  std::string temp = path + ".tmp" + std::to_string(getpid());
  std::ofstream(temp, std::ios::binary) << data;
  fs::rename(temp, path);
  return path;
}

std::string CorruptGranuleOggSource(bool first_page) {
  return CorruptGranuleOgg(
      Fixture("avsync-theora.ogg", {"-i", SyncSource(TimestampSyncOptions()), "-c:v", "libtheora",
                                    "-q:v", "7", "-c:a", "flac"}),
      first_page);
}

std::string CutStartSource() {
  std::string gop = Fixture("avsync-gop.mp4",
                            {"-i", SyncSource(TimestampSyncOptions()), "-c:v", "libx264", "-preset",
                             "ultrafast", "-g", "50", "-crf", "18", "-c:a", "aac", "-b:a", "192k"});
  return Fixture("cut-start.mp4", {"-ss", "3.32", "-i", gop, "-c", "copy"});
}

std::string StaggeredSource(double video_delay) {
  std::string sync = SyncSource(TimestampSyncOptions());
  char delay[32], name[64];
  std::snprintf(delay, sizeof(delay), "%.3f", std::abs(video_delay));
  std::snprintf(name, sizeof(name), "staggered-%.3f.mov", video_delay);
  std::vector<std::string> args = {"-itsoffset", delay, "-i", sync, "-i", sync};
  args.insert(args.end(), {"-map", video_delay > 0 ? "0:v" : "1:v", "-map",
                           video_delay > 0 ? "1:a" : "0:a", "-c", "copy"});
  return Fixture(name, args);
}

std::string AudioOnlySource(double seconds) {
  return Fixture("audio-only-" + std::to_string(seconds) + ".m4a",
                 {"-f", "lavfi", "-i",
                  "sine=frequency=440:sample_rate=48000:duration=" + std::to_string(seconds),
                  "-c:a", "aac", "-b:a", "128k"});
}

const StreamSummary* MediaSummary::Find(const std::string& type) const {
  for (const StreamSummary& s : streams)
    if (s.type == type) return &s;
  return nullptr;
}

MediaSummary ReadMedia(const std::string& path) {
  MediaSummary m;
  Result<engine::InputFormatPtr> in = engine::OpenInput(path, /*own_output=*/true);
  if (!in.ok()) {
    ADD_FAILURE() << "cannot read back " << path << ": " << in.status().message();
    return m;
  }
  AVFormatContext* fmt = in->get();
  m.container = fmt->iformat->name;
  m.duration = fmt->duration == AV_NOPTS_VALUE ? 0 : fmt->duration / double(AV_TIME_BASE);
  std::vector<int64_t> last_dts(fmt->nb_streams, AV_NOPTS_VALUE);
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    AVStream* st = fmt->streams[i];
    StreamSummary s;
    s.index = i;
    const char* type = av_get_media_type_string(st->codecpar->codec_type);
    s.type = type ? type : "?";
    s.codec = avcodec_get_name(st->codecpar->codec_id);
    s.width = st->codecpar->width;
    s.height = st->codecpar->height;
    s.sar_num = st->codecpar->sample_aspect_ratio.num;
    s.sar_den = st->codecpar->sample_aspect_ratio.den;
    s.rotation = engine::StreamRotation(st);
    if (const AVPixFmtDescriptor* d =
            av_pix_fmt_desc_get(static_cast<AVPixelFormat>(st->codecpar->format)))
      s.pixel_format = d->name;
    const AVCodecParameters* par = st->codecpar;
    auto name = [](const char* n) { return n ? std::string(n) : std::string(); };
    s.profile = name(avcodec_profile_name(par->codec_id, par->profile));
    s.color_primaries = name(av_color_primaries_name(par->color_primaries));
    s.color_transfer = name(av_color_transfer_name(par->color_trc));
    s.color_space = name(av_color_space_name(par->color_space));
    s.color_range = name(av_color_range_name(par->color_range));
    s.channels = st->codecpar->ch_layout.nb_channels;
    s.sample_rate = st->codecpar->sample_rate;
    s.first_pts = -1;
    m.streams.push_back(s);
  }
  AVPacket* pkt = av_packet_alloc();
  while (av_read_frame(fmt, pkt) >= 0) {
    StreamSummary& s = m.streams[pkt->stream_index];
    AVRational tb = fmt->streams[pkt->stream_index]->time_base;
    ++s.packets;
    if (pkt->pts != AV_NOPTS_VALUE) {
      double pts = pkt->pts * av_q2d(tb);
      if (s.first_pts < 0 || pts < s.first_pts) s.first_pts = pts;
      s.end = std::max(s.end, pts + pkt->duration * av_q2d(tb));
      if (pkt->flags & AV_PKT_FLAG_KEY) s.keyframes.push_back(pts);
    }
    if (pkt->dts != AV_NOPTS_VALUE && (pkt->flags & AV_PKT_FLAG_KEY))
      s.keyframe_dts.push_back(pkt->dts * av_q2d(tb));
    int64_t& last = last_dts[pkt->stream_index];
    if (pkt->dts != AV_NOPTS_VALUE) {
      if (last != AV_NOPTS_VALUE && pkt->dts <= last) s.monotonic_dts = false;
      last = pkt->dts;
    }
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  return m;
}

}  // namespace reel::testing
