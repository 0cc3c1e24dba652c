#include "engine/demux_decode.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

#include "engine/interlace.h"
#include "layout/layout.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

// Snaps a measured frame rate to the standard rate it is meant to be (a phone's VFR clip
// averaging 29.87 fps is 30 fps), and caps it.
AVRational ChooseFrameRate(const AVStream* st, double requested) {
  static const AVRational kStandard[] = {{24000, 1001}, {24, 1},       {25, 1},
                                         {30000, 1001}, {30, 1},       {48, 1},
                                         {50, 1},       {60000, 1001}, {60, 1}};
  auto snap = [](double rate) -> AVRational {
    AVRational best{0, 1};
    double best_error = 0.01;  // relative
    for (AVRational s : kStandard) {
      double error = std::fabs(av_q2d(s) - rate) / rate;
      if (error < best_error) {
        best = s;
        best_error = error;
      }
    }
    return best;
  };
  auto usable = [](AVRational r) {
    return r.num > 0 && r.den > 0 && av_q2d(r) >= 1 && av_q2d(r) <= 1000;
  };
  if (requested > 0) {
    AVRational s = snap(requested);
    return s.num > 0 ? s : av_d2q(requested, 100000);
  }
  // A variable-frame-rate source averages an odd rate (a phone clip: 29.87 fps; a clip with
  // dropped frames: 23.5 fps); its base rate (r_frame_rate) is the grid it was shot on.
  for (AVRational r : {st->avg_frame_rate, st->r_frame_rate}) {
    if (!usable(r) || av_q2d(r) > presets::kMaxFps) continue;
    AVRational s = snap(av_q2d(r));
    if (s.num > 0) return s;
  }
  AVRational r = usable(st->avg_frame_rate) ? st->avg_frame_rate : st->r_frame_rate;
  if (!usable(r)) return {30, 1};
  if (av_q2d(r) > presets::kMaxFps) return {60, 1};
  return av_d2q(av_q2d(r), 100000);
}

// When the first frames of `path`'s video and audio streams (-1: none) are presented, in
// AV_TIME_BASE units (AV_NOPTS_VALUE: none). Stream and container start times count what the
// decoder drops (AAC priming an edit list skips, frames before an edit that cuts the start), so
// the frames themselves are asked: a read of its own, decoding until each stream gave one.
std::pair<int64_t, int64_t> FirstFrameTimes(const std::string& path, int video_index,
                                            int audio_index, const Successions& successions) {
  const int indexes[2] = {video_index, audio_index};
  int64_t first[2] = {AV_NOPTS_VALUE, AV_NOPTS_VALUE};
  Result<InputFormatPtr> in = OpenInput(path);
  if (!in.ok()) return {first[0], first[1]};
  AVFormatContext* fmt = in->get();
  CodecContextPtr dec[2];
  for (int i = 0; i < 2; ++i) {
    if (indexes[i] < 0) continue;
    AVStream* st = fmt->streams[indexes[i]];
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    CodecContextPtr c(codec ? avcodec_alloc_context3(codec) : nullptr);
    if (!c || avcodec_parameters_to_context(c.get(), st->codecpar) < 0) continue;
    c->pkt_timebase = st->time_base;
    c->thread_count = 1;
    if (avcodec_open2(c.get(), codec, nullptr) == 0) dec[i] = std::move(c);
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i)  // the streams the run reads, as it reads them
    if (int h = successions.Head(int(i));
        h != video_index && h != audio_index && !successions.MustRead(fmt->streams[i]))
      fmt->streams[i]->discard = AVDISCARD_ALL;
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame();
  StreamFollower follower(fmt, successions);
  ClockMender clock(fmt);
  auto receive = [&](int i) {
    while (first[i] == AV_NOPTS_VALUE && avcodec_receive_frame(dec[i].get(), frame.get()) >= 0) {
      if (frame->best_effort_timestamp != AV_NOPTS_VALUE)
        first[i] = av_rescale_q(frame->best_effort_timestamp, fmt->streams[indexes[i]]->time_base,
                                AV_TIME_BASE_Q);
      av_frame_unref(frame.get());
    }
  };
  auto waiting = [&](int i) { return dec[i] && first[i] == AV_NOPTS_VALUE; };
  // Up to 2000 packets of the two streams (every audio and video stream is read when streams
  // take over from others), and a bound on the rest.
  for (int packets = 0, others = 0;
       packets < 2000 && others < 100000 && (waiting(0) || waiting(1));) {
    if (follower.Read(pkt.get()) < 0) break;
    clock.Mend(pkt.get());
    bool ours = pkt->stream_index == indexes[0] || pkt->stream_index == indexes[1];
    ++(ours ? packets : others);
    for (int i = 0; i < 2; ++i)
      if (waiting(i) && pkt->stream_index == indexes[i] &&
          avcodec_send_packet(dec[i].get(), pkt.get()) >= 0)
        receive(i);
    av_packet_unref(pkt.get());
  }
  for (int i = 0; i < 2; ++i)
    if (waiting(i) && avcodec_send_packet(dec[i].get(), nullptr) >= 0) receive(i);
  return {first[0], first[1]};
}

// The source's time 0 (AV_TIME_BASE units): its first picture, or its first sound when that
// comes a frame or more sooner. The picture's first frame is then held from 0 and lands on a
// slot of the frame grid, so the sound keeps its sync exactly (starting less than a frame late,
// after silence). A sound that leads by less than a frame is encoder priming (AAC in MPEG-TS),
// which is cut.
int64_t TimelineZero(int64_t video, int64_t audio, AVRational rate, int64_t fallback) {
  if (video == AV_NOPTS_VALUE) return audio == AV_NOPTS_VALUE ? fallback : audio;
  if (audio == AV_NOPTS_VALUE || audio >= video) return video;
  double lead_frames = (video - audio) * av_q2d(rate) / AV_TIME_BASE;
  if (lead_frames < 1) return video;
  return video - std::llround(std::ceil(lead_frames - 1e-6) * AV_TIME_BASE / av_q2d(rate));
}

// The largest 16:9 box the outputs that get a drawn picture ask for (at most 1920x1080), else
// 1280x720: drawing bigger than any output shows would only cost time.
Size DrawnSize(const TranscodePlan& plan) {
  Size best{0, 0};
  auto ask = [&best](int width, int height, int lines) {
    if (lines > 0 && width == 0 && height == 0) height = lines;
    if (width > 0 && height == 0) height = width * 9 / 16;
    if (height > 0 && width == 0) width = height * 16 / 9;
    best.width = std::max(best.width, width);
    best.height = std::max(best.height, height);
  };
  for (const FileOutputPlan& f : plan.files)
    ask(f.preset.video.width, f.preset.video.height, f.preset.video.lines);
  for (const HlsOutputPlan& h : plan.hls) {
    if (!h.background && !h.single && plan.subtitles.empty()) continue;
    if (h.single) ask(h.single->video.width, h.single->video.height, h.single->video.lines);
    for (const presets::Rung& r : h.ladder.rungs) ask(0, 0, r.lines);
  }
  if (best.width <= 0 || best.height <= 0) return {1280, 720};
  best.width = std::clamp(best.width, 16, 1920) / 2 * 2;
  best.height = std::clamp(best.height, 16, 1080) / 2 * 2;
  return best;
}

// The highest rate those outputs ask for, else 25 fps.
AVRational DrawnFrameRate(const TranscodePlan& plan) {
  double fps = 0;
  for (const FileOutputPlan& f : plan.files) fps = std::max(fps, f.preset.video.fps);
  for (const HlsOutputPlan& h : plan.hls) {
    fps = std::max(fps, h.ladder.video.fps);
    for (const presets::Rung& r : h.ladder.rungs) fps = std::max(fps, r.fps);
    if (h.single) fps = std::max(fps, h.single->video.fps);
  }
  return fps > 0 ? ChooseFrameRate(nullptr, std::min(fps, presets::kMaxFps)) : AVRational{25, 1};
}

SourcePicture PictureOf(const AVCodecParameters* par, presets::Deinterlace deinterlace) {
  SourcePicture p;
  p.primaries = par->color_primaries;
  p.transfer = par->color_trc;
  p.colorspace = par->color_space;
  p.range = par->color_range;
  p.field_order = par->field_order;
  p.deinterlace = deinterlace;
  return p;
}

}  // namespace

double ContentDuration(const AVFormatContext* fmt) {
  double declared = fmt->duration == AV_NOPTS_VALUE ? 0 : fmt->duration / double(AV_TIME_BASE);
  if (fmt->start_time == AV_NOPTS_VALUE) return declared;
  double start = fmt->start_time / double(AV_TIME_BASE), end = start;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    AVMediaType type = st->codecpar->codec_type;
    if ((type != AVMEDIA_TYPE_VIDEO && type != AVMEDIA_TYPE_AUDIO) ||
        (st->disposition & AV_DISPOSITION_ATTACHED_PIC) || st->start_time == AV_NOPTS_VALUE ||
        st->duration == AV_NOPTS_VALUE || st->duration <= 0)
      continue;
    end = std::max(end, (st->start_time + st->duration) * av_q2d(st->time_base));
  }
  // Streams without durations of their own (Matroska): the container's is all there is. A
  // Matroska Duration is where the last frame ends (libavformat's muxer writes it so), so a file
  // whose timestamps start at 10 s declares 13 s for 3 s of media.
  if (end <= start) {
    bool matroska = fmt->iformat && std::string_view(fmt->iformat->name).starts_with("matroska");
    if (matroska && start > 0 && declared > start) return declared - start;
    return declared;
  }
  return declared > 0 ? std::min(declared, end - start) : end - start;
}

Source::~Source() {
  std::error_code ec;
  if (!subtitles_copy_.empty()) fs::remove(subtitles_copy_, ec);
}

AVRational Source::FrameRate(double fps) const {
  if (video_index_ < 0) return fps > 0 ? ChooseFrameRate(nullptr, fps) : format_.frame_rate;
  return ChooseFrameRate(input_->streams[video_index_], fps);
}

Status Source::Open() {
  if (Joined()) {
    REEL_RETURN_IF_ERROR(ProbeSources());
    for (double d : segment_durations_) duration_ += d;
  }
  REEL_RETURN_IF_ERROR(OpenSource(0));
  has_audio_ = audio_index_ >= 0 || join_has_audio_;
  return Status::Ok();
}

// Several sources: probe them all first, for the total duration and the main geometry.
Status Source::ProbeSources() {
  double longest = -1;
  size_t main = 0;
  for (size_t i = 0; i < plan_.inputs.size(); ++i) {
    Result<MediaInfo> info = Probe(plan_.inputs[i]);
    if (!info.ok()) return info.status().WithContext("sources[" + std::to_string(i) + "]");
    segment_durations_.push_back(info->duration);
    bool video = info->BestVideo() != nullptr;
    if (!video)
      return InvalidArgument("sources[" + std::to_string(i) +
                             "]: has no video stream; every source joined needs a picture");
    join_has_audio_ |= info->BestAudio() != nullptr;
    if (plan_.main_input == static_cast<int>(i) ||
        (plan_.main_input < 0 && video && info->duration > longest)) {
      longest = info->duration;
      main = i;
    }
  }
  Result<MediaInfo> info = Probe(plan_.inputs[main]);
  const StreamInfo* v = info->BestVideo();
  if (!v)
    return InvalidArgument("sources[" + std::to_string(main) + "]: the main source has no video");
  DisplaySize d = SourceDisplaySize(v->width, v->height, v->sar_num, v->sar_den, v->rotation);
  presets::VideoSettings none;
  join_size_ = FitOutputSize(d, none);
  // The rate of the main source, snapped like a single source's.
  Result<InputFormatPtr> in = OpenInput(plan_.inputs[main]);
  if (!in.ok()) return in.status();
  join_rate_ = ChooseFrameRate((*in)->streams[v->index], 0);
  return Status::Ok();
}

Status Source::OpenDecoder(AVFormatContext* fmt, int index, CodecContextPtr* out) {
  AVStream* st = fmt->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec)
    return InvalidArgument(SourcePath(segment_) + ": no decoder for " +
                           avcodec_get_name(st->codecpar->codec_id) + " (stream " +
                           std::to_string(index) + ")");
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  int err = avcodec_parameters_to_context(dec.get(), st->codecpar);
  if (err < 0) return AvStatus(err, "decoder parameters");
  dec->pkt_timebase = st->time_base;
  dec->thread_count = threads_;
  err = avcodec_open2(dec.get(), codec, nullptr);
  if (err < 0) return AvStatus(err, SourcePath(segment_) + ": cannot open decoder");
  *out = std::move(dec);
  return Status::Ok();
}

Status Source::OpenSource(size_t segment) {
  segment_ = segment;
  Result<InputFormatPtr> in = OpenInput(SourcePath(segment));
  if (!in.ok()) {
    if (Joined()) return in.status().WithContext("sources[" + std::to_string(segment) + "]");
    return in.status();
  }
  input_ = std::move(in).value();
  AVFormatContext* fmt = input_.get();
  Result<SourceClock> clock = ReadSourceClock(fmt, SourcePath(segment));
  if (!clock.ok()) return clock.status();
  clock_.emplace(fmt);
  successions_ = clock->successions;
  follower_.emplace(fmt, successions_);
  clock_jumps_ = clock->jumps;
  first_clock_jump_ = clock->first_jump;
  if (!Joined()) duration_ = clock->duration;
  video_dec_.reset();
  if (!audio_input_) audio_dec_.reset();
  demuxed_end_ = 0;
  read_error_ = 0;
  video_end_pts_ = 0;
  if (!audio_input_) audio_next_pts_ = AV_NOPTS_VALUE;  // in this source's time base

  video_index_ = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (video_index_ >= 0 && (fmt->streams[video_index_]->disposition & AV_DISPOSITION_ATTACHED_PIC))
    video_index_ = -1;  // cover art is not video
  audio_index_ = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  for (int* index : {&video_index_, &audio_index_}) {
    if (*index < 0)
      *index = -1;
    else if (int displaced = successions_.Displaced(*index); displaced >= 0)
      *index = displaced;
    else
      *index = successions_.Head(*index);
  }
  if (video_index_ < 0 && audio_index_ < 0)
    return InvalidArgument(SourcePath(segment) + ": contains no audio or video stream");

  // A replacement audio track comes from its own file; the source's audio is then ignored.
  AVFormatContext* audio_fmt = fmt;
  if (audio_input_) {
    audio_fmt = audio_input_.get();
    audio_index_ = aux_audio_index_;
  } else if (!plan_.audio_input.empty()) {
    Result<InputFormatPtr> a = OpenInput(plan_.audio_input);
    if (!a.ok()) return a.status().WithContext("audio");
    audio_input_ = std::move(a).value();
    audio_fmt = audio_input_.get();
    audio_clock_.emplace(audio_fmt);
    audio_index_ = av_find_best_stream(audio_fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (audio_index_ < 0)
      return InvalidArgument("audio: " + plan_.audio_input + " has no audio stream");
    aux_audio_index_ = audio_index_;
  }

  AVRational grid = video_index_ < 0 ? AVRational{25, 1}
                    : Joined()       ? join_rate_
                                     : ChooseFrameRate(fmt->streams[video_index_], 0);
  auto [first_video, first_audio] = FirstFrameTimes(SourcePath(segment), video_index_,
                                                    audio_input_ ? -1 : audio_index_, successions_);
  int64_t start = TimelineZero(first_video, first_audio, grid,
                               fmt->start_time == AV_NOPTS_VALUE ? 0 : fmt->start_time);
  timeline_zero_ = start / double(AV_TIME_BASE);
  start_us_ = start;
  if (video_index_ >= 0) {
    AVStream* st = fmt->streams[video_index_];
    REEL_RETURN_IF_ERROR(OpenDecoder(fmt, video_index_, &video_dec_));
    start_pts_video_ = av_rescale_q(start, AV_TIME_BASE_Q, st->time_base);
    const AVCodecParameters* par = st->codecpar;
    if (par->width <= 0 || par->height <= 0)
      return InvalidArgument(SourcePath(segment) + ": video stream has no picture size");
    AVRational sar = av_guess_sample_aspect_ratio(fmt, st, nullptr);
    int rotation = StreamRotation(st);
    display_ = SourceDisplaySize(par->width, par->height, sar.num, sar.den, rotation);
    picture_ = PictureOf(par, plan_.deinterlace);
    // Kept HDR needs one picture on one timeline: joined sources are always tone-mapped.
    picture_.keep_hdr = !Joined() && *HdrTransfer(picture_.transfer) && PlanKeepsHdr(plan_);
    if (plan_.deinterlace != presets::Deinterlace::kOff && PlanReadsPicture(plan_) &&
        !InterlacedFieldOrder(par->field_order)) {
      // Not declared interlaced: look at the first frames (a short pre-pass, interlace.h), to
      // know whether to deinterlace (auto) and which field comes first (all modes). Not for a
      // job whose outputs only read the sound (waveform, loudness).
      Result<FieldsSeen> seen = DetectInterlacing(SourcePath(segment), video_index_);
      if (!seen.ok()) return seen.status();
      picture_.detected_order = seen->order;
    }
    ColourAfterPictureFilters(picture_, &format_);
    if (picture_.keep_hdr) {
      Result<HdrMetadata> hdr = ReadHdrMetadata(SourcePath(segment), video_index_);
      if (!hdr.ok()) return hdr.status();
      format_.hdr = *hdr;
    }

    NormaliseGraphSpec spec;
    spec.coded_width = par->width;
    spec.coded_height = par->height;
    spec.rotation = rotation;
    spec.frame_rate = Joined() ? join_rate_ : ChooseFrameRate(st, 0);
    spec.picture = SourcePictureFilters(picture_);
    // One picture per field: twice the frames on the grid, within the rate cap. Joined sources
    // keep the main one's grid.
    if (DeinterlaceDoublesRate(picture_) && !Joined() &&
        av_q2d(spec.frame_rate) * 2 <= presets::kMaxFps + 0.01)
      spec.frame_rate = av_mul_q(spec.frame_rate, {2, 1});
    if (Joined()) {
      display_ = {double(join_size_.width), double(join_size_.height)};
      spec.join = true;
      spec.join_size = join_size_;
      spec.start_time = segment_offset_;
    }
    if (!plan_.subtitles.empty()) {
      if (subtitles_copy_.empty()) REEL_RETURN_IF_ERROR(CopySubtitles());
      spec.subtitles = subtitles_copy_;
    }
    int pix_fmt = par->format >= 0 ? par->format : AV_PIX_FMT_YUV420P;
    Result<FilterChain> fc =
        BuildChain(true, VideoSourceArgs(par->width, par->height, pix_fmt, st->time_base, sar),
                   NormaliseGraph(spec), threads_);
    if (!fc.ok() && !plan_.subtitles.empty())
      return InvalidArgument("subtitles: cannot burn in " + plan_.subtitles + " (" +
                             fc.status().message() + "); is it a valid ASS or SRT file?");
    if (!fc.ok()) return fc.status();
    normalise_ = std::move(fc).value();
    format_.frame_rate = spec.frame_rate;
  }
  if (audio_index_ >= 0) {
    AVStream* st = audio_fmt->streams[audio_index_];
    REEL_RETURN_IF_ERROR(OpenDecoder(audio_fmt, audio_index_, &audio_dec_));
    reshape_audio_.Keep(audio_dec_.get());
    int64_t audio_start = audio_fmt->start_time == AV_NOPTS_VALUE ? 0 : audio_fmt->start_time;
    start_pts_audio_ =
        av_rescale_q(audio_input_ ? audio_start : start, AV_TIME_BASE_Q, st->time_base);
    audio_channels_ = std::clamp(st->codecpar->ch_layout.nb_channels, 1, 2);
    if (Joined() && !audio_input_) {
      // Sources may differ in rate and layout: each is brought to 48 kHz stereo first.
      audio_channels_ = 2;
      Result<FilterChain> fc =
          BuildChain(false, AudioSourceArgs(audio_dec_.get(), st->time_base.num, st->time_base.den),
                     JoinedAudioGraph(), 1);
      if (!fc.ok()) return fc.status();
      audio_convert_ = std::move(fc).value();
    }
  }
  if (video_index_ < 0 && audio_dec_ && !Joined() && PictureAsked())
    REEL_RETURN_IF_ERROR(OpenDrawnPicture());
  if (video_dec_ || drawn_) normalise_open_ = true;
  return Status::Ok();
}

// Whether an output needs a picture that an audio-only source would have to be drawn for.
bool Source::PictureAsked() const {
  if (!plan_.subtitles.empty() || !plan_.files.empty()) return true;
  for (const HlsOutputPlan& h : plan_.hls)
    if (h.background || h.single) return true;  // a preview is a picture
  for (const ThumbnailPlan& t : plan_.thumbnails)
    if (t.background) return true;
  for (const SpritePlan& s : plan_.sprites)
    if (s.background) return true;
  return false;
}

// The picture of an audio-only source, drawn from its audio as it is decoded (see filter.h).
// It stands for the normalise graph: the renditions read it the same way.
Status Source::OpenDrawnPicture() {
  DrawnPictureSpec spec;
  spec.background = plan_.background;
  spec.size = DrawnSize(plan_);
  spec.frame_rate = DrawnFrameRate(plan_);
  if (!plan_.subtitles.empty()) {
    if (subtitles_copy_.empty()) REEL_RETURN_IF_ERROR(CopySubtitles());
    spec.subtitles = subtitles_copy_;
  }
  Result<FilterChain> fc = BuildDrawnChain(AudioArgs(), DrawnPictureGraph(spec), threads_);
  if (!fc.ok() && !plan_.subtitles.empty())
    return InvalidArgument("subtitles: cannot burn in " + plan_.subtitles + " (" +
                           fc.status().message() + "); is it a valid ASS or SRT file?");
  if (!fc.ok()) return fc.status();
  normalise_ = std::move(fc).value();
  drawn_ = true;
  display_ = {double(spec.size.width), double(spec.size.height)};
  format_.frame_rate = spec.frame_rate;
  return Status::Ok();
}

// The subtitles filter takes a file name inside the filter graph text, where quotes, colons
// and commas are syntax. Rather than escape a user's path (two levels of libavfilter quoting),
// the file is copied to a temporary name made only of safe characters.
Status Source::CopySubtitles() {
  std::string ext = fs::path(plan_.subtitles).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".ass" && ext != ".ssa" && ext != ".srt" && ext != ".vtt")
    return InvalidArgument("subtitles: " + plan_.subtitles +
                           " is not an .ass, .ssa, .srt or .vtt file");
  std::error_code ec;
  if (!fs::is_regular_file(plan_.subtitles, ec))
    return NotFound("subtitles: " + plan_.subtitles + " does not exist");
  std::string temp = layout::SubtitlesCopyTemplate(fs::temp_directory_path().string(), ext);
  int fd = mkstemps(temp.data(), static_cast<int>(ext.size()));
  if (fd < 0) return Unavailable("cannot create a temporary file for the subtitles");
  close(fd);
  subtitles_copy_ = temp;
  fs::copy_file(plan_.subtitles, temp, fs::copy_options::overwrite_existing, ec);
  if (ec) return Unavailable("subtitles: cannot read " + plan_.subtitles + ": " + ec.message());
  // The copy is what the filter reads, so checking it checks what is burnt in.
  Status readable = CheckSubtitleFile(temp);
  if (!readable.ok()) return readable.WithContext("subtitles: " + plan_.subtitles);
  return Status::Ok();
}

// A file that ends well before the duration its header declares has been cut short (an
// interrupted upload); encoding what is there would pass a fragment off as the video.
Status Source::CheckComplete(double declared) const {
  if (declared > 1 && demuxed_end_ < declared * 0.97 - 0.5) {
    char buf[160];
    if (read_error_ != 0) {  // damaged, not cut short: say what the demuxer could not read
      std::snprintf(buf, sizeof(buf), ": file is damaged: reading stopped at %.2f s of %.2f s (",
                    demuxed_end_, declared);
      return InvalidArgument(SourcePath(segment_) + buf + AvErrorString(read_error_) + ")");
    }
    std::snprintf(buf, sizeof(buf), ": file is truncated: media ends at %.2f s of %.2f s declared",
                  demuxed_end_, declared);
    return InvalidArgument(SourcePath(segment_) + buf);
  }
  return Status::Ok();
}

// Between two sources: drain the finished one into the renditions without ending them, and move
// the timeline on by its length.
Status Source::EndSegment() {
  if (video_dec_ && !skip_video_) {
    REEL_RETURN_IF_ERROR(DecodePacket(video_dec_.get(), nullptr, true));
    REEL_RETURN_IF_ERROR(HandleVideoFrame(nullptr));
  }
  if (audio_dec_ && !audio_input_) {
    REEL_RETURN_IF_ERROR(DecodePacket(audio_dec_.get(), nullptr, false));
    REEL_RETURN_IF_ERROR(HandleAudioFrame(nullptr));
  }
  double declared = segment_durations_[segment_];
  REEL_RETURN_IF_ERROR(CheckComplete(declared));
  segment_offset_ += demuxed_end_ > 0 ? demuxed_end_ : declared;
  return Status::Ok();
}

Status Source::PullNormalised() {
  for (;;) {
    FramePtr frame = MakeFrame();
    int err = av_buffersink_get_frame(normalise_.sink, frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "video filter");
    double tb = av_q2d(av_buffersink_get_time_base(normalise_.sink));
    double start = frame->pts * tb, end = start + 1 / av_q2d(format_.frame_rate);
    REEL_RETURN_IF_ERROR(sink_->Video(frame.get(), start, end));
    if (run_->ShouldStop()) return Status::Ok();
  }
}

Status Source::HandleVideoFrame(AVFrame* frame) {
  int err;
  if (frame) {
    frame->pts = frame->best_effort_timestamp;
    if (frame->pts != AV_NOPTS_VALUE) {
      // From the source's own clock to the output timeline (a later source starts later).
      AVRational tb = input_->streams[video_index_]->time_base;
      frame->pts += -start_pts_video_ +
                    av_rescale_q(std::llround(segment_offset_ * AV_TIME_BASE), AV_TIME_BASE_Q, tb);
      int64_t duration = frame->pkt_duration;
      if (duration <= 0) duration = av_rescale_q(1, av_inv_q(format_.frame_rate), tb);
      video_end_pts_ = std::max(video_end_pts_, frame->pts + duration);
    }
    ++video_frames_decoded_;
    err = av_buffersrc_add_frame_flags(normalise_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
  } else {
    // Close at the end of the last frame, not its start, so `fps` keeps the last frame.
    if (!normalise_open_) return Status::Ok();
    normalise_open_ = false;
    err = av_buffersrc_close(normalise_.source, video_end_pts_, 0);
  }
  if (err < 0) return AvStatus(err, "video filter");
  return PullNormalised();
}

Status Source::DecodePacket(AVCodecContext* dec, AVPacket* pkt, bool video, int track) {
  int err = avcodec_send_packet(dec, pkt);
  if (err < 0 && err != AVERROR_EOF) {
    // A damaged packet costs a frame, not the job; a source that is all damage is caught below.
    ++decode_errors_;
    return Status::Ok();
  }
  FramePtr frame = MakeFrame();
  for (;;) {
    err = avcodec_receive_frame(dec, frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) {
      ++decode_errors_;
      return Status::Ok();
    }
    REEL_RETURN_IF_ERROR(video       ? HandleVideoFrame(frame.get())
                         : track > 0 ? HandleExtraAudio(track, frame.get())
                                     : HandleAudioFrame(frame.get()));
    av_frame_unref(frame.get());
    if (run_->ShouldStop()) return Status::Ok();
  }
}

Status Source::Run(DecodedSink* sink) {
  sink_ = sink;
  PacketPtr pkt = MakePacket();
  AVFormatContext* aux = audio_input_.get();  // the replacement audio, read alongside
  int read_error = 0;
  bool main_eof = false, aux_eof = aux == nullptr;
  double main_pos = 0, aux_pos = 0;
  bool stopped_early = false;  // a window's end was passed: the rest is not read
  if (window_ && video_index_ >= 0 && window_from_ > 0) {
    // Seeking backward lands on the keyframe at or before the time; `fps` then puts the frames
    // on the same global grid as a whole run (its output times are absolute, not per start).
    AVStream* st = input_->streams[video_index_];
    int64_t ts = start_pts_video_ + av_rescale_q(std::llround(window_from_ * AV_TIME_BASE),
                                                 AV_TIME_BASE_Q, st->time_base);
    int err = av_seek_frame(input_.get(), video_index_, ts, AVSEEK_FLAG_BACKWARD);
    if (err < 0) return AvStatus(err, SourcePath(0) + ": cannot seek");
  }
  for (;;) {
    AVFormatContext* main = input_.get();
    if (main_eof && segment_ + 1 < plan_.inputs.size() && !run_->ShouldStop()) {
      REEL_RETURN_IF_ERROR(EndSegment());  // on to the next source
      REEL_RETURN_IF_ERROR(OpenSource(segment_ + 1));
      main_eof = false;
      continue;
    }
    if (run_->ShouldStop() || (main_eof && aux_eof)) break;
    // Two files are read in step, by timestamp, so neither runs far ahead of the other.
    bool from_aux = !aux_eof && (main_eof || aux_pos <= main_pos);
    AVFormatContext* fmt = from_aux ? aux : main;
    int err = from_aux ? av_read_frame(fmt, pkt.get()) : follower_->Read(pkt.get());
    if (err < 0) {
      if (!from_aux && err != AVERROR_EOF) read_error = read_error_ = err;
      (from_aux ? aux_eof : main_eof) = true;
      continue;
    }
    (from_aux ? audio_clock_ : clock_)->Mend(pkt.get());
    int index = pkt->stream_index;
    bool video = !from_aux && index == video_index_ && !skip_video_;
    bool audio = index == audio_index_ && from_aux == (aux != nullptr);
    int extra = from_aux ? -1 : ExtraTrackOf(index);
    if (Status s = from_aux ? Status::Ok() : CheckFollowed(index); !s.ok()) {
      av_packet_unref(pkt.get());
      return s;
    }
    if (video || audio || extra > 0) {
      AVStream* st = fmt->streams[index];
      int64_t start = fmt->start_time == AV_NOPTS_VALUE ? 0 : fmt->start_time;
      if (pkt->pts != AV_NOPTS_VALUE) {
        // In doubles: a crafted file's timestamps can sit at int64's limits.
        double end = (double(pkt->pts) + double(std::max<int64_t>(pkt->duration, 0))) *
                         av_q2d(st->time_base) -
                     start / double(AV_TIME_BASE);
        if (from_aux) {
          aux_pos = end;
          if (duration_ > 0 && aux_pos > duration_ + 1) aux_eof = true;  // the rest is cut anyway
        } else {
          main_pos = segment_offset_ + end;
          demuxed_end_ = std::max(demuxed_end_, end);
          decoded_seconds_.store(main_pos, std::memory_order_relaxed);
          // A header can say less than the packets do (an MP4's mvhd, a Matroska Duration).
          if (longest_ > 0 && main_pos > longest_ + 1) {
            av_packet_unref(pkt.get());
            return CheckSourceDuration(main_pos, longest_);
          }
          // A margin past the window's end lets reordered frames and `fps` finish its last slot.
          // Judged on the picture: sound interleaved far ahead must not stop it short, and a
          // window reaching past the picture's end reads to the end, for the sound that holds
          // its last frame there.
          if (window_ && window_until_ >= 0 && video && main_pos > window_until_ + 1) {
            main_eof = stopped_early = true;
          }
        }
      }
      Status s = extra > 0
                     ? DecodePacket(extra_audio_[extra - 1].dec.get(), pkt.get(), false, extra)
                     : DecodePacket(video ? video_dec_.get() : audio_dec_.get(), pkt.get(), video);
      if (!s.ok()) {
        av_packet_unref(pkt.get());
        return s;
      }
    }
    av_packet_unref(pkt.get());
    sink_->Tick();
  }
  if (run_->ShouldStop()) return Status::Ok();

  // End of input: flush decoders, then the filters behind them.
  bool picture = video_dec_ && !skip_video_;
  if (picture) {
    REEL_RETURN_IF_ERROR(DecodePacket(video_dec_.get(), nullptr, true));
    if (video_frames_decoded_ == 0)
      return InvalidArgument(SourcePath(segment_) + ": no video frame could be decoded" +
                             (read_error ? " (" + AvErrorString(read_error) + ")" : ""));
  }
  if (audio_dec_) {
    REEL_RETURN_IF_ERROR(DecodePacket(audio_dec_.get(), nullptr, false));
    if (audio_frames_decoded_ == 0 && !video_dec_)
      return InvalidArgument(SourcePath(segment_) + ": no audio frame could be decoded");
  }
  if (picture) {
    // The source's own sound going on after its picture ends (a clip over a song) holds the
    // last picture to its end, as players of the file do: a package whose video stopped first
    // would declare the shorter length, and DASH players stop there. A replacement track ends
    // with the picture instead. A chunk holds it as the whole run does (the scheduler keeps
    // only the chunk's frames), unless its window stopped before the picture's end. Less than
    // a frame more (the last AAC frame's padding) is no reason for another picture.
    if (audio_dec_ && !audio_input_ && !Joined() && !stopped_early) {
      AVRational tb = input_->streams[video_index_]->time_base;
      int64_t sound_end = av_rescale_q(audio_end_pts_, AudioStream()->time_base, tb);
      int64_t frame = av_rescale_q(1, av_inv_q(format_.frame_rate), tb);
      // Never past the source's length: one stray audio timestamp must not hold a picture
      // (and its encoders) for hours.
      int64_t length_end = start_pts_video_ +
                           av_rescale_q(std::llround(duration_ * AV_TIME_BASE), AV_TIME_BASE_Q, tb);
      sound_end = std::min(sound_end, length_end);
      if (sound_end - video_end_pts_ > frame) video_end_pts_ = sound_end;
    }
    REEL_RETURN_IF_ERROR(HandleVideoFrame(nullptr));
  }
  if (audio_dec_) {
    REEL_RETURN_IF_ERROR(HandleAudioFrame(nullptr));
    if (Joined() && !audio_input_) REEL_RETURN_IF_ERROR(sink_->Audio(0, nullptr));
  } else if (has_audio_) {
    REEL_RETURN_IF_ERROR(sink_->Audio(0, nullptr));  // the last source is silent; the audio ends
  }
  for (size_t i = 0; i < extra_audio_.size(); ++i) {
    int track = static_cast<int>(i) + 1;
    REEL_RETURN_IF_ERROR(DecodePacket(extra_audio_[i].dec.get(), nullptr, false, track));
    REEL_RETURN_IF_ERROR(HandleExtraAudio(track, nullptr));
  }
  REEL_RETURN_IF_ERROR(sink_->InputEnd());
  if (stopped_early) return Status::Ok();
  return CheckComplete(Joined() ? segment_durations_[segment_] : duration_);
}

Status Source::RunSeeking(const std::vector<VideoTap*>& taps, DecodedSink* sink) {
  AVFormatContext* fmt = input_.get();
  AVStream* st = fmt->streams[video_index_];
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (int(i) != video_index_) fmt->streams[i]->discard = AVDISCARD_ALL;
  // Rotation only: the frame rate grid and start padding of the normalise graph are for
  // continuous decoding.
  // Tone mapping too: a thumbnail of an HDR source is SDR like every other picture. (An
  // interlaced source is never decoded this way: see SeekingSuitsSource.)
  std::string turn = ToneMapFilters(picture_);
  std::string rotation = RotationFilters(StreamRotation(st));
  if (!turn.empty() && !rotation.empty()) turn += ",";
  turn += rotation;
  const AVCodecParameters* par = st->codecpar;
  AVRational sar = av_guess_sample_aspect_ratio(fmt, st, nullptr);
  Result<FilterChain> chain =
      BuildChain(true, VideoSourceArgs(par->width, par->height, par->format, st->time_base, sar),
                 turn.empty() ? "null" : turn, 1);
  if (!chain.ok()) return chain.status();
  double frame_seconds = 1 / av_q2d(format_.frame_rate);
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame(), turned = MakeFrame();
  for (VideoTap* tap : taps) {
    while (std::optional<double> target = tap->NextTarget()) {
      if (run_->ShouldStop()) return Status::Ok();
      int64_t ts = av_rescale_q(static_cast<int64_t>(*target * AV_TIME_BASE), AV_TIME_BASE_Q,
                                st->time_base) +
                   start_pts_video_;
      if (av_seek_frame(fmt, video_index_, ts, AVSEEK_FLAG_BACKWARD) < 0)
        av_seek_frame(fmt, video_index_, start_pts_video_, AVSEEK_FLAG_BACKWARD);
      avcodec_flush_buffers(video_dec_.get());
      bool eof = false;
      while (tap->NextTarget() == target && !eof) {
        int err = av_read_frame(fmt, pkt.get());
        eof = err < 0;
        if (!eof && pkt->stream_index != video_index_) {
          av_packet_unref(pkt.get());
          continue;
        }
        avcodec_send_packet(video_dec_.get(), eof ? nullptr : pkt.get());
        av_packet_unref(pkt.get());
        while (avcodec_receive_frame(video_dec_.get(), frame.get()) >= 0) {
          int64_t pts = frame->best_effort_timestamp;
          double start =
              pts == AV_NOPTS_VALUE ? 0 : (pts - start_pts_video_) * av_q2d(st->time_base);
          double end =
              start + (frame->pkt_duration > 0 ? frame->pkt_duration * av_q2d(st->time_base)
                                               : frame_seconds);
          if (av_buffersrc_add_frame(chain->source, frame.get()) < 0 ||
              av_buffersink_get_frame(chain->sink, turned.get()) < 0)
            return Internal("cannot turn a frame for a thumbnail");
          Status s = tap->OnFrame(turned.get(), start, end);
          av_frame_unref(turned.get());
          if (!s.ok()) return s;
        }
      }
      if (eof) break;  // past the last frame: Finish() uses the last one seen
    }
  }
  return sink->InputEnd();
}

}  // namespace reel::engine
