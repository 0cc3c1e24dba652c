#include "engine/av_util.h"

#include <sys/stat.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/log.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
}

namespace reel::engine {

std::string AvErrorString(int averror) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(averror, buf, sizeof(buf));
  return buf;
}

Status AvStatus(int averror, const std::string& what) {
  if (averror >= 0) return Status::Ok();
  StatusCode code = StatusCode::kInternal;
  if (averror == AVERROR_INVALIDDATA || averror == AVERROR_DECODER_NOT_FOUND ||
      averror == AVERROR_DEMUXER_NOT_FOUND || averror == AVERROR_STREAM_NOT_FOUND ||
      averror == AVERROR(EINVAL) || averror == AVERROR_EOF)
    code = StatusCode::kInvalidArgument;
  if (averror == AVERROR(ENOENT)) code = StatusCode::kNotFound;
  if (averror == AVERROR(ENOSPC) || averror == AVERROR(EIO) || averror == AVERROR(EACCES) ||
      averror == AVERROR(EROFS))
    code = StatusCode::kUnavailable;
  return Status(code, what + ": " + AvErrorString(averror));
}

// Demuxers of self-contained media (names as libavformat 59 has them); see OpenInput.
constexpr const char* kSourceFormats =
    "mov,matroska,avi,flv,mpegts,mpeg,mpegvideo,mp3,aac,wav,w64,flac,ogg,asf,mxf,ivf,h264,hevc,"
    "m4v,obu,aiff,caf,amr,ac3,eac3,dts,truehd,wv,ape,tta,nut,dv,yuv4mpegpipe,gif,srt,ass,webvtt,"
    "live_flv,rm,au,loas,mpc,mpc8,dtshd,mlp,apng,png_pipe,jpeg_pipe,webp_pipe";

Status CheckSubtitleFile(const std::string& path) {
  AVFormatContext* raw = nullptr;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "format_whitelist", "srt,ass,webvtt", 0);
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  int err = avformat_open_input(&raw, path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0)
    return InvalidArgument("not an SRT, ASS or WebVTT file (" + AvErrorString(err) + ")");
  avformat_close_input(&raw);
  return Status::Ok();
}

namespace {

// While a source is opened (OpenInput), this thread's first complaint of libav: it names what is
// wrong with the file ("moov atom not found", "Invalid sample size -1") where the return code
// only says "Invalid data found".
// Its first error, else its first warning.
struct Complaints {
  std::string error, warning;
};
thread_local Complaints* t_open_complaint = nullptr;

class OpenComplaint {
 public:
  OpenComplaint() : previous_(t_open_complaint) { t_open_complaint = &said_; }
  ~OpenComplaint() { t_open_complaint = previous_; }
  OpenComplaint(const OpenComplaint&) = delete;
  OpenComplaint& operator=(const OpenComplaint&) = delete;
  // " (what libav said)", or "" when it said nothing.
  std::string Parenthesised() const {
    const std::string& text = said_.error.empty() ? said_.warning : said_.error;
    return text.empty() ? "" : " (" + text + ")";
  }
  // Forgets what was said: a second try's complaint is about that try.
  void Clear() { said_ = {}; }

 private:
  Complaints* previous_;
  Complaints said_;
};

// The demuxer libavformat picks for the first 64 KiB of `path`, judged with its name (extension
// included) or on the content alone; null when none.
const AVInputFormat* ProbeFormat(const std::string& path, bool by_name) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return nullptr;
  std::vector<unsigned char> buf(65536 + AVPROBE_PADDING_SIZE, 0);
  size_t n = std::fread(buf.data(), 1, 65536, f);
  std::fclose(f);
  AVProbeData pd{};
  pd.filename = by_name ? path.c_str() : "";
  pd.buf = buf.data();
  pd.buf_size = static_cast<int>(n);
  // As avformat_open_input's own probe: a match weaker than this is a guess, not a format.
  int score = AVPROBE_SCORE_RETRY;
  return av_probe_input_format2(&pd, 1, &score);
}

}  // namespace

Result<InputFormatPtr> OpenInput(const std::string& path, bool own_output) {
  InitLibavLogging();
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return Status(errno == ENOENT ? StatusCode::kNotFound : StatusCode::kUnavailable,
                  path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path + ": is a directory, not a media file");
  if (st.st_size == 0) return InvalidArgument(path + ": file is empty (0 bytes)");

  AVFormatContext* raw = nullptr;
  // Probe a larger window than the default so streams that start late are found.
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "probesize", "20000000", 0);
  // Sources are files in a job's reach, and must stay the only files read: demuxers that open
  // other files by name (HLS and DASH playlists, concat lists, image sequences) would read
  // anything on the host that a crafted source names, so only self-contained formats are probed.
  if (!own_output) {
    av_dict_set(&opts, "format_whitelist", kSourceFormats, 0);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
  }
  AVDictionary* retry_opts = nullptr;
  av_dict_copy(&retry_opts, opts, 0);
  OpenComplaint complaint;
  int err = avformat_open_input(&raw, path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err == AVERROR(EINVAL) && !own_output) {
    // The name can outrank the content: a lone photo.jpg goes to image2 (a numbered sequence of
    // files, refused) before jpeg_pipe. What the content alone says is opened when it is allowed.
    const AVInputFormat* by_content = ProbeFormat(path, false);
    if (by_content && av_match_list(by_content->name, kSourceFormats, ',') > 0) {
      raw = nullptr;
      complaint.Clear();  // the first try's "Format image2 is not on the whitelist"
      err = avformat_open_input(&raw, path.c_str(), by_content, &retry_opts);
    }
  }
  av_dict_free(&retry_opts);
  if (err < 0) {
    if (err == AVERROR(EINVAL)) {
      const AVInputFormat* seen = ProbeFormat(path, true);
      return InvalidArgument(path + ": not a format reel reads" +
                             (seen ? std::string(" (") + seen->name + ")" : std::string()) +
                             ": playlists and lists of other files are refused: give the media "
                             "itself");
    }
    if (err == AVERROR_INVALIDDATA)
      return InvalidArgument(path + ": not a media file that reel can read (" + AvErrorString(err) +
                             ")" + complaint.Parenthesised());
    return AvStatus(err, path);
  }
  InputFormatPtr input(raw);
  // A stream that starts late (a second sound track a minute in) is known only once read: up to
  // 60 s, within the 20 MB above.
  input->max_analyze_duration = 60 * AV_TIME_BASE;
  err = avformat_find_stream_info(input.get(), nullptr);
  if (err < 0) {
    Status failed = AvStatus(err, path + ": cannot read stream information");
    return Status(failed.code(), failed.message() + complaint.Parenthesised());
  }
  bool has_media = false;
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    auto type = input->streams[i]->codecpar->codec_type;
    if (type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO) has_media = true;
  }
  if (!has_media)
    return InvalidArgument(path + ": contains no audio or video stream" +
                           complaint.Parenthesised());
  return input;
}

int StreamRotation(const AVStream* stream) {
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (!matrix) return 0;
  double theta = -av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(theta)) return 0;
  theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
  int degrees = static_cast<int>(std::lround(theta / 90.0)) * 90 % 360;
  return degrees < 0 ? degrees + 360 : degrees;
}

namespace {

// libav's complaints (a corrupt stretch of the source, a stream it cannot place) as log lines of
// the attempt. A damaged file can make the decoder complain for every packet: a burst passes,
// then one line in two seconds, and the next line that passes says how many were left out.
void AvLogToLog(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > av_log_get_level()) return;
  char text[1024];
  std::vsnprintf(text, sizeof(text), fmt, vl);
  std::string msg = text;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r' || msg.back() == ' '))
    msg.pop_back();
  if (msg.empty()) return;
  log::Level ours = level <= AV_LOG_ERROR     ? log::Level::kError
                    : level <= AV_LOG_WARNING ? log::Level::kWarn
                                              : log::Level::kDebug;
  if (!log::Enabled(ours)) return;
  static std::mutex mu;
  static log::Throttle throttle(20, 0.5);
  // Those refused after the last that passed are told when the process ends (the attempt's end).
  static struct Untold {
    std::atomic<int64_t> count{0};
    ~Untold() {
      if (count > 0)
        log::Warn("more messages of the engine were left out",
                  {{"source", "ffmpeg"}, {"suppressed", count.load()}});
    }
  } untold;
  int64_t skipped = 0;
  {
    std::lock_guard lock(mu);
    double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (!throttle.Allow(now, &skipped)) {
      ++untold.count;
      return;
    }
    untold.count = 0;
  }
  const AVClass* cls = avcl ? *static_cast<const AVClass* const*>(avcl) : nullptr;
  log::Fields fields = {{"source", "ffmpeg"}};
  const char* name = cls && cls->item_name ? cls->item_name(avcl) : nullptr;
  if (name && std::strcmp(name, "NULL") != 0) fields.push_back({"component", name});
  if (skipped > 0) fields.push_back({"suppressed_before", skipped});
  log::Write(ours, msg, fields);
}

std::atomic<bool> g_service_log{false};

// Every libav message: the complaint of an open under way noted, then the service's log (a
// service process) or libav's own printing (silent unless REEL_AV_LOG asks).
void AvLogCallback(void* avcl, int level, const char* fmt, va_list vl) {
  std::string* first = nullptr;
  if (t_open_complaint && level <= AV_LOG_WARNING)
    first = level <= AV_LOG_ERROR ? &t_open_complaint->error : &t_open_complaint->warning;
  if (first && first->empty()) {
    va_list copy;
    va_copy(copy, vl);
    char text[256];
    std::vsnprintf(text, sizeof(text), fmt, copy);
    va_end(copy);
    std::string msg = text;
    while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
    *first = msg;
  }
  if (g_service_log.load(std::memory_order_relaxed))
    AvLogToLog(avcl, level, fmt, vl);
  else
    av_log_default_callback(avcl, level, fmt, vl);
}

}  // namespace

void InitLibavLogging() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* level = std::getenv("REEL_AV_LOG");
    if (log::Configured()) {
      // A service process (serve, worker, run-job): warnings and errors go to its log.
      g_service_log = true;
      av_log_set_level(level ? std::atoi(level) : AV_LOG_WARNING);
    } else {
      av_log_set_level(level ? std::atoi(level) : AV_LOG_QUIET);
    }
    av_log_set_callback(AvLogCallback);
    // SVT-AV1 prints its configuration to stderr on every open unless told otherwise (its own
    // log, not libav's); errors only. Set once, before the engine starts threads of its own.
    setenv("SVT_LOG", "1", /*overwrite=*/0);
  });
}

}  // namespace reel::engine
