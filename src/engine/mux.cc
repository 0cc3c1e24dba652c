#include "engine/mux.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "engine/language.h"
#include "engine/staging.h"
#include "engine/subtitles.h"
#include "layout/layout.h"

namespace reel::engine {

Muxer::~Muxer() {
  if (!ctx_) return;
  if (!(ctx_->oformat->flags & AVFMT_NOFILE) && ctx_->pb) avio_closep(&ctx_->pb);
  avformat_free_context(ctx_);
}

Status Muxer::Create(const char* format) {
  int err = avformat_alloc_output_context2(&ctx_, nullptr, format, path_.c_str());
  if (err < 0 || !ctx_) return AvStatus(err, std::string("cannot create ") + format + " muxer");
  return Status::Ok();
}

Result<int> Muxer::AddStream(const AVCodecContext* enc) {
  AVStream* st = avformat_new_stream(ctx_, nullptr);
  if (!st) return Internal("cannot add stream");
  int err = avcodec_parameters_from_context(st->codecpar, enc);
  if (err < 0) return AvStatus(err, "stream parameters");
  st->time_base = enc->time_base;
  if (enc->codec_type == AVMEDIA_TYPE_VIDEO) {
    st->avg_frame_rate = enc->framerate;
    st->sample_aspect_ratio = enc->sample_aspect_ratio;
    // Apple players want HEVC in MP4 tagged hvc1 (parameter sets in the sample entry).
    if (enc->codec_id == AV_CODEC_ID_HEVC) st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    // Kept HDR's mastering display and light levels (hdr.h): the muxers write them from the
    // stream's side data (MP4 mdcv/clli, Matroska colour elements).
    for (int i = 0; i < enc->nb_coded_side_data; ++i) {
      const AVPacketSideData& sd = enc->coded_side_data[i];
      if (sd.type != AV_PKT_DATA_MASTERING_DISPLAY_METADATA &&
          sd.type != AV_PKT_DATA_CONTENT_LIGHT_LEVEL)
        continue;
      uint8_t* copy = av_stream_new_side_data(st, sd.type, sd.size);
      if (!copy) return Internal("cannot add stream side data");
      std::memcpy(copy, sd.data, sd.size);
    }
  }
  return st->index;
}

Result<int> Muxer::AddSubtitleStream(const std::string& language, const std::string& title) {
  AVStream* st = avformat_new_stream(ctx_, nullptr);
  if (!st) return Internal("cannot add stream");
  st->codecpar->codec_type = AVMEDIA_TYPE_SUBTITLE;
  st->codecpar->codec_id = AV_CODEC_ID_SUBRIP;
  st->time_base = {1, 1000};
  av_dict_set(&st->metadata, "language", language.c_str(), 0);
  if (!title.empty()) av_dict_set(&st->metadata, "title", title.c_str(), 0);
  return st->index;
}

void Muxer::QueueCue(int stream_index, int64_t start_ms, int64_t end_ms, std::string text) {
  cues_.emplace(start_ms, Cue{stream_index, end_ms, std::move(text)});
}

Status Muxer::WriteCues(int64_t until_ms) {
  while (!cues_.empty() && cues_.begin()->first <= until_ms) {
    auto it = cues_.begin();
    PacketPtr pkt = MakePacket();
    int err = av_new_packet(pkt.get(), static_cast<int>(it->second.text.size()));
    if (err < 0) return AvStatus(err, "subtitle packet");
    std::memcpy(pkt->data, it->second.text.data(), it->second.text.size());
    AVStream* st = ctx_->streams[it->second.stream_index];
    pkt->stream_index = it->second.stream_index;
    pkt->pts = pkt->dts = av_rescale_q(it->first, {1, 1000}, st->time_base);
    pkt->duration = av_rescale_q(it->second.end_ms - it->first, {1, 1000}, st->time_base);
    pkt->flags |= AV_PKT_FLAG_KEY;
    cues_.erase(it);
    err = av_interleaved_write_frame(ctx_, pkt.get());
    if (err < 0) return AvStatus(err, "cannot write " + path_);
  }
  return Status::Ok();
}

Status Muxer::WriteHeader(AVDictionary** options) {
  if (!(ctx_->oformat->flags & AVFMT_NOFILE)) {
    // A staged output is opened through the descriptor it was created with, never by its name;
    // so is it when the MP4 muxer opens it again to move its index to the front (by the url).
    std::string target = StagedFileDescriptorPath(path_);
    if (target != path_) {
      av_free(ctx_->url);
      ctx_->url = av_strdup(target.c_str());
      if (!ctx_->url) return Internal("out of memory");
    }
    int err = avio_open(&ctx_->pb, target.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) {
      av_dict_free(options);
      return AvStatus(err, "cannot open " + path_);
    }
  }
  int err = avformat_write_header(ctx_, options);
  av_dict_free(options);
  if (err < 0) return AvStatus(err, "cannot start " + path_);
  header_written_ = true;
  return Status::Ok();
}

Status Muxer::Write(AVPacket* pkt, int stream_index, AVRational encoder_time_base) {
  std::lock_guard lock(mu_);
  pkt->stream_index = stream_index;
  if (!cues_.empty()) {
    int64_t t = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (t != AV_NOPTS_VALUE)
      REEL_RETURN_IF_ERROR(WriteCues(av_rescale_q(t, encoder_time_base, {1, 1000})));
  }
  av_packet_rescale_ts(pkt, encoder_time_base, ctx_->streams[stream_index]->time_base);
  int err = av_interleaved_write_frame(ctx_, pkt);
  return AvStatus(err, "cannot write " + path_);
}

Status Muxer::Finish() {
  std::lock_guard lock(mu_);
  if (!header_written_ || trailer_written_) return Status::Ok();
  trailer_written_ = true;
  REEL_RETURN_IF_ERROR(WriteCues(INT64_MAX));  // those after the last picture and sound
  int err = av_write_trailer(ctx_);
  if (err < 0) return AvStatus(err, "cannot finish " + path_);
  if (!(ctx_->oformat->flags & AVFMT_NOFILE) && ctx_->pb) {
    err = avio_closep(&ctx_->pb);
    if (err < 0) return AvStatus(err, "cannot close " + path_);
  }
  return Status::Ok();
}

Status SendPackets(AVCodecContext* enc, AVPacket* pkt, const std::vector<MuxTarget>& targets,
                   const std::function<Status(const AVPacket*)>& observe) {
  for (;;) {
    int err = avcodec_receive_packet(enc, pkt);
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, std::string("encoder ") + enc->codec->name);
    if (observe) REEL_RETURN_IF_ERROR(observe(pkt));
    std::vector<const MuxTarget*> takers;
    for (const MuxTarget& t : targets)
      if (pkt->pts == AV_NOPTS_VALUE || (pkt->pts >= t.first_pts && pkt->pts < t.end_pts))
        takers.push_back(&t);
    for (size_t i = 0; i < takers.size(); ++i) {
      const MuxTarget& target = *takers[i];
      // Each muxer takes ownership of what it is given; the last one gets the original.
      if (i + 1 < takers.size()) {
        PacketPtr copy(av_packet_clone(pkt));
        REEL_RETURN_IF_ERROR(target.muxer->Write(copy.get(), target.stream_index, enc->time_base));
      } else {
        REEL_RETURN_IF_ERROR(target.muxer->Write(pkt, target.stream_index, enc->time_base));
      }
    }
    av_packet_unref(pkt);
  }
}

Result<Muxer*> MuxStage::Add(const std::string& path, const char* format) {
  muxers_.push_back(std::make_unique<Muxer>(path));
  REEL_RETURN_IF_ERROR(muxers_.back()->Create(format));
  return muxers_.back().get();
}

Result<MuxTarget> MuxStage::OpenHls(const std::string& dir, double segment_seconds,
                                    const AVCodecContext* enc, int first_segment) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create " + dir + ": " + ec.message());
  Result<Muxer*> m = Add(dir + "/" + std::string(layout::kMediaPlaylist), "hls");
  if (!m.ok()) return m.status();
  Result<int> stream = (*m)->AddStream(enc);
  if (!stream.ok()) return stream.status();
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "hls_time", std::to_string(segment_seconds).c_str(), 0);
  av_dict_set(&opts, "hls_playlist_type", "vod", 0);
  av_dict_set(&opts, "hls_segment_type", "fmp4", 0);
  av_dict_set(&opts, "hls_fmp4_init_filename", std::string(layout::kInitSegment).c_str(), 0);
  av_dict_set(&opts, "hls_segment_filename", (dir + "/" + layout::SegmentPattern()).c_str(), 0);
  av_dict_set(&opts, "hls_flags", "independent_segments", 0);

  // Presentation starts at 0 on both tracks, as in the MP4 outputs: the muxer's default shift of
  // each track to 0 pushed the video two frames late (its B-frame delay) and left the AAC
  // priming in the audio, so audio led by 45-59 ms. Unshifted, each track's init segment has one
  // edit whose media_time skips what comes before 0: the video's B-frame delay (its decode times
  // start that much before its first picture), the audio's priming (the encoder's
  // initial_padding). That single edit is what Chromium, Safari, GStreamer and libavformat all
  // honour. Negative composition offsets (a version-1 trun) put the video at 0 for MSE players,
  // but libavformat and so ffmpeg, ffprobe and mpv present such a track two frames late.
  av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
  std::string segment_options;
  if (first_segment >= 0) {
    // A chunk of a chunked encoding continues the whole package: its segments numbered from
    // its first, fragment sequence numbers likewise, and frag_discont makes the first fragment's
    // decode time (tfdt) its first picture's time instead of 0.
    av_dict_set(&opts, "start_number", std::to_string(first_segment).c_str(), 0);
    segment_options = "movflags=+frag_discont:fragment_index=" + std::to_string(first_segment + 1);
  }
  if (!segment_options.empty())
    av_dict_set(&opts, "hls_segment_options", segment_options.c_str(), 0);
  REEL_RETURN_IF_ERROR((*m)->WriteHeader(&opts));
  return MuxTarget{*m, *stream};
}

Status MuxStage::OpenFile(const std::string& path, presets::Container container,
                          const AVCodecContext* video, const AVCodecContext* audio,
                          MuxTarget* video_target, MuxTarget* audio_target,
                          const FileSubtitles& subtitles) {
  const char* format = container == presets::Container::kWebm       ? "webm"
                       : container == presets::Container::kMatroska ? "matroska"
                                                                    : "mp4";
  Result<Muxer*> m = Add(path, format);
  if (!m.ok()) return m.status();
  if (video) {
    Result<int> stream = (*m)->AddStream(video);
    if (!stream.ok()) return stream.status();
    *video_target = {*m, *stream};
  }
  if (audio) {
    Result<int> stream = (*m)->AddStream(audio);
    if (!stream.ok()) return stream.status();
    *audio_target = {*m, *stream};
  }
  if (container == presets::Container::kMatroska && subtitles.tracks) {
    double end = subtitles.length > 0 ? subtitles.from + subtitles.length : 1e18;
    auto ms = [&](double seconds) {
      return std::llround((std::clamp(seconds, subtitles.from, end) - subtitles.from) * 1000);
    };
    for (const SubtitleTrack& t : *subtitles.tracks) {
      Result<int> stream = (*m)->AddSubtitleStream(Iso639_2Language(t.language), t.name);
      if (!stream.ok()) return stream.status();
      for (const SubtitleCue& c : t.cues)
        if (ms(c.end) > ms(c.start))
          (*m)->QueueCue(*stream, ms(c.start), ms(c.end), SubRipText(c.text));
    }
  }
  AVDictionary* opts = nullptr;
  if (container == presets::Container::kMp4) av_dict_set(&opts, "movflags", "+faststart", 0);
  // Matroska has no edit list: the muxer's default shift of every track by the audio's priming
  // (AAC's 1024 samples, Opus's pre-skip) started the video 7-21 ms late. Unshifted, the video
  // starts at 0 and the priming packet keeps its negative time, as the MP4 outputs have it.
  if (container == presets::Container::kMatroska)
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
  return (*m)->WriteHeader(&opts);
}

Status MuxStage::FinishAll() {
  for (auto& m : muxers_) REEL_RETURN_IF_ERROR(m->Finish());
  return Status::Ok();
}

}  // namespace reel::engine
