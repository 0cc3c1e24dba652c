// The remux of a chunked MP4 (stitch_file.h). A chunk's part is an MP4 of exactly its range's
// frames. Read with its edit list ignored, its timestamps are the encoder's moved by one
// constant, which its first packet gives back: in decode order that is the IDR the chunk forced
// on its first frame. The packets then go, with the encoder's timestamps, to the muxer an
// unchunked run uses (MuxStage::OpenFile: +faststart), so the file gets the same composition
// offsets and edit lists. Nothing is decoded.
#include "engine/stitch_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/av_util.h"
#include "engine/mux.h"
#include "engine/staging.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

struct ParametersDeleter {
  void operator()(AVCodecParameters* p) const { avcodec_parameters_free(&p); }
};
using ParametersPtr = std::unique_ptr<AVCodecParameters, ParametersDeleter>;

// A staged part (an MP4 a chunk or the audio task wrote); `raw_times`: its edit list ignored.
Result<InputFormatPtr> OpenPart(const std::string& path, bool raw_times) {
  AVFormatContext* raw = nullptr;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "format_whitelist", "mov", 0);
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  if (raw_times) av_dict_set(&opts, "ignore_editlist", "1", 0);
  int err = avformat_open_input(&raw, path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0) return AvStatus(err, "cannot open " + path);
  InputFormatPtr input(raw);
  err = avformat_find_stream_info(input.get(), nullptr);
  if (err < 0) return AvStatus(err, path + ": cannot read stream information");
  return input;
}

Result<int> FindStream(AVFormatContext* input, AVMediaType type) {
  int index = av_find_best_stream(input, type, -1, -1, nullptr, 0);
  if (index < 0)
    return FailedPrecondition(std::string("no ") + av_get_media_type_string(type) + " stream");
  return index;
}

// The chunks' video packets in order, with the encoder's timestamps (on the frame grid), each
// chunk checked: parameter sets equal to chunk 0's, first packet an IDR, every frame of its
// range exactly once, decode times increasing across the joins.
class ChunkVideo {
 public:
  ChunkVideo(const ChunkLayout& layout, const std::string& staging_dir, int index)
      : layout_(layout),
        staging_dir_(staging_dir),
        index_(index),
        grid_{layout.rate_den, layout.rate_num} {}

  Status Open() { return OpenChunk(0); }
  const AVCodecParameters* parameters() const { return params_.get(); }  // chunk 0's
  AVRational grid() const { return grid_; }
  // The next packet, timestamps in grid(); false after the last chunk's.
  Result<bool> Next(AVPacket* pkt);
  int64_t end_pts() const { return max_pts_ + 1; }

 private:
  Status OpenChunk(size_t k);
  Status FinishChunk() const;
  Status Fail(const std::string& what) const {
    return FailedPrecondition("stitch: chunk " + std::to_string(layout_.chunks[k_].index) +
                              ", outputs[" + std::to_string(index_) + "]: " + what);
  }

  const ChunkLayout& layout_;
  const std::string& staging_dir_;
  const int index_;
  const AVRational grid_;
  size_t k_ = 0;
  InputFormatPtr input_;
  AVStream* stream_ = nullptr;
  ParametersPtr params_;
  int64_t offset_ = 0;
  bool first_ = true;
  std::vector<bool> seen_;  // the chunk's frames met, from its first
  int64_t last_dts_ = INT64_MIN, max_pts_ = -1;
};

Status ChunkVideo::OpenChunk(size_t k) {
  k_ = k;
  const ChunkRange& c = layout_.chunks[k];
  std::string path = StagedFilePart(ChunkStagingDir(staging_dir_, c.index), index_);
  Result<InputFormatPtr> in = OpenPart(path, true);
  if (!in.ok()) return Fail(in.status().message());
  input_ = std::move(in).value();
  Result<int> s = FindStream(input_.get(), AVMEDIA_TYPE_VIDEO);
  if (!s.ok()) return Fail(s.status().message());
  stream_ = input_->streams[*s];
  const AVCodecParameters* p = stream_->codecpar;
  if (k == 0) {
    params_.reset(avcodec_parameters_alloc());
    if (!params_ || avcodec_parameters_copy(params_.get(), p) < 0) return Internal("out of memory");
  } else if (p->extradata_size != params_->extradata_size ||
             !std::equal(p->extradata, p->extradata + p->extradata_size, params_->extradata) ||
             p->width != params_->width || p->height != params_->height) {
    return Fail(
        "its parameter sets differ from chunk 0's (its encoder was configured differently); "
        "re-encode the chunk");
  }
  first_ = true;
  seen_.assign(c.end_frame >= 0 ? c.end_frame - c.first_frame : 0, false);
  return Status::Ok();
}

Status ChunkVideo::FinishChunk() const {
  if (first_) return Fail("no frames");
  if (std::find(seen_.begin(), seen_.end(), false) != seen_.end())
    return Fail("frames of its range are missing");
  return Status::Ok();
}

Result<bool> ChunkVideo::Next(AVPacket* pkt) {
  while (input_) {
    int err = av_read_frame(input_.get(), pkt);
    if (err == AVERROR_EOF) {
      REEL_RETURN_IF_ERROR(FinishChunk());
      input_.reset();
      if (k_ + 1 < layout_.chunks.size()) REEL_RETURN_IF_ERROR(OpenChunk(k_ + 1));
      continue;
    }
    if (err < 0) return Fail(AvErrorString(err));
    if (pkt->stream_index != stream_->index) {
      av_packet_unref(pkt);
      continue;
    }
    av_packet_rescale_ts(pkt, stream_->time_base, grid_);
    const int64_t first_frame = layout_.chunks[k_].first_frame;
    if (first_) {
      if (!(pkt->flags & AV_PKT_FLAG_KEY)) return Fail("does not start with a keyframe");
      offset_ = first_frame - pkt->pts;
      first_ = false;
    }
    pkt->pts += offset_;
    pkt->dts += offset_;
    int64_t n = pkt->pts - first_frame;
    if (n < 0 || (layout_.chunks[k_].end_frame >= 0 && n >= int64_t(seen_.size())))
      return Fail("a frame outside its range");
    if (n >= int64_t(seen_.size())) seen_.resize(n + 1, false);  // the last chunk
    if (seen_[n]) return Fail("a frame twice");
    seen_[n] = true;
    if (pkt->dts <= last_dts_) return Fail("decode times go back at its start");
    last_dts_ = pkt->dts;
    max_pts_ = std::max(max_pts_, pkt->pts);
    pkt->pos = -1;
    return true;
  }
  return false;
}

// A codec context that describes a staged stream to MuxStage::OpenFile as its encoder would.
Result<CodecContextPtr> ContextFor(const AVCodecParameters* p, AVRational time_base) {
  CodecContextPtr ctx(avcodec_alloc_context3(nullptr));
  if (!ctx) return Internal("out of memory");
  int err = avcodec_parameters_to_context(ctx.get(), p);
  if (err < 0) return AvStatus(err, "stream parameters");
  ctx->time_base = time_base;
  ctx->codec_tag = 0;  // the muxer picks it, as for an encoder's stream
  if (p->codec_type == AVMEDIA_TYPE_VIDEO) ctx->framerate = av_inv_q(time_base);
  return ctx;
}

// What the audio task said of file `index` (its loudness normalisation), to report as it would.
nlohmann::json AudioDetails(const std::string& staging_dir, int index) {
  std::ifstream in(AudioStagingDir(staging_dir) + "/result.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json r = nlohmann::json::parse(text.str(), nullptr, false);
  nlohmann::json details;
  if (!r.is_object() || !r.contains("outputs")) return details;
  for (const nlohmann::json& o : r["outputs"])
    if (o.value("index", -1) == index && o.contains("normalized"))
      details["normalized"] = o["normalized"];
  return details;
}

}  // namespace

Result<OutputResult> StitchFile(const FileOutputPlan& f, const ChunkLayout& layout,
                                const std::string& staging_dir, bool audio, Staging* staging) {
  if (layout.chunks.empty()) return InvalidArgument("stitch: no chunks");
  ChunkVideo video(layout, staging_dir, f.index);
  REEL_RETURN_IF_ERROR(video.Open());
  Result<CodecContextPtr> video_ctx = ContextFor(video.parameters(), video.grid());
  if (!video_ctx.ok()) return video_ctx.status();

  // The audio, encoded once by the audio task, as the muxer of an unchunked run got it.
  InputFormatPtr audio_in;
  AVStream* audio_stream = nullptr;
  CodecContextPtr audio_ctx;
  if (audio) {
    std::string path = StagedFilePart(AudioStagingDir(staging_dir), f.index);
    Result<InputFormatPtr> in = OpenPart(path, false);
    if (!in.ok())
      return in.status().WithContext("stitch: the audio of outputs[" + std::to_string(f.index) +
                                     "]");
    audio_in = std::move(in).value();
    Result<int> s = FindStream(audio_in.get(), AVMEDIA_TYPE_AUDIO);
    if (!s.ok()) return s.status().WithContext("stitch: " + path);
    audio_stream = audio_in->streams[*s];
    Result<CodecContextPtr> ctx = ContextFor(audio_stream->codecpar, audio_stream->time_base);
    if (!ctx.ok()) return ctx.status();
    audio_ctx = std::move(ctx).value();
  }

  Result<std::string> temp = staging->StageFile(f.path);
  if (!temp.ok()) return temp.status();
  MuxStage mux;
  MuxTarget video_target, audio_target;
  REEL_RETURN_IF_ERROR(mux.OpenFile(*temp, presets::Container::kMp4, video_ctx->get(),
                                    audio_ctx.get(), &video_target, &audio_target));

  // Fed in decode-time order, so the muxer's interleaving holds few packets.
  PacketPtr v = MakePacket(), a = MakePacket();
  Result<bool> have_v = video.Next(v.get());
  if (!have_v.ok()) return have_v.status();
  auto next_audio = [&]() -> Result<bool> {
    while (audio_in) {
      int err = av_read_frame(audio_in.get(), a.get());
      if (err == AVERROR_EOF) return false;
      if (err < 0)
        return AvStatus(err, "stitch: the audio of outputs[" + std::to_string(f.index) + "]");
      if (a->stream_index == audio_stream->index) return true;
      av_packet_unref(a.get());
    }
    return false;
  };
  Result<bool> have_a = next_audio();
  if (!have_a.ok()) return have_a.status();
  while (*have_v || *have_a) {
    bool take_video = *have_v && (!*have_a || av_compare_ts(v->dts, video.grid(), a->dts,
                                                            audio_stream->time_base) <= 0);
    if (take_video) {
      REEL_RETURN_IF_ERROR(
          video_target.muxer->Write(v.get(), video_target.stream_index, video.grid()));
      have_v = video.Next(v.get());
      if (!have_v.ok()) return have_v.status();
    } else {
      a->pos = -1;
      REEL_RETURN_IF_ERROR(
          audio_target.muxer->Write(a.get(), audio_target.stream_index, audio_stream->time_base));
      have_a = next_audio();
      if (!have_a.ok()) return have_a.status();
    }
  }
  REEL_RETURN_IF_ERROR(mux.FinishAll());

  OutputResult out;
  out.index = f.index;
  out.kind = f.kind.empty() ? presets::ContainerName(f.preset.container) : f.kind;
  out.path = f.path;
  out.width = video.parameters()->width;
  out.height = video.parameters()->height;
  out.video_codec = presets::VideoCodecName(f.preset.video.codec);
  out.duration = video.end_pts() * av_q2d(video.grid());  // as the encoder's end of last frame
  if (audio) {
    out.audio_codec = presets::AudioCodecName(f.preset.audio.codec);
    out.details = AudioDetails(staging_dir, f.index);
  }
  std::error_code ec;
  out.bytes = static_cast<int64_t>(fs::file_size(*temp, ec));
  return out;
}

}  // namespace reel::engine
