#include "engine/succession.h"

#include <algorithm>
#include <cstdio>

namespace reel::engine {
namespace {

bool Followable(const AVStream* st) {
  AVMediaType type = st->codecpar->codec_type;
  return (type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO) &&
         !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

std::string Language(const AVStream* st) {
  const AVDictionaryEntry* e = av_dict_get(st->metadata, "language", nullptr, 0);
  return e && e->value ? e->value : "";
}

}  // namespace

int Successions::count() const {
  int n = 0;
  for (size_t i = 0; i < head.size(); ++i) n += head[i] >= 0 && head[i] != static_cast<int>(i);
  return n;
}

bool StreamFollower::Late(const AVPacket* pkt) const {
  const std::vector<int64_t>& at = successions_.replaced_at;
  const int index = pkt->stream_index;
  return static_cast<size_t>(index) < at.size() && at[index] >= 0 && pkt->pos >= 0 &&
         pkt->pos < at[index] && furthest_ >= at[index];
}

void StreamFollower::MoveToHead(AVPacket* pkt) {
  const int index = pkt->stream_index, to = successions_.Head(index);
  if (to == index || static_cast<unsigned>(to) >= fmt_->nb_streams) return;
  AVRational from_tb = fmt_->streams[index]->time_base, to_tb = fmt_->streams[to]->time_base;
  if (av_cmp_q(from_tb, to_tb) != 0) av_packet_rescale_ts(pkt, from_tb, to_tb);
  pkt->stream_index = to;
  // A stream that began after libavformat's probe has no sample rate, so libavformat times its
  // first audio packet only (from the PES header) and leaves the rest untimed. In the codec of the
  // stream it continues, each lasts a frame of that stream's, and follows the one before.
  AVCodecParameters* par = fmt_->streams[to]->codecpar;
  if (par->codec_type != AVMEDIA_TYPE_AUDIO) return;
  if (next_pts_.size() <= static_cast<size_t>(index)) next_pts_.resize(index + 1, AV_NOPTS_VALUE);
  int64_t& next = next_pts_[index];
  if (pkt->pts == AV_NOPTS_VALUE && pkt->dts == AV_NOPTS_VALUE) pkt->pts = pkt->dts = next;
  if (pkt->duration <= 0 && par->sample_rate > 0) {
    int samples = av_get_audio_frame_duration2(par, pkt->size);
    if (samples > 0) pkt->duration = av_rescale_q(samples, {1, par->sample_rate}, to_tb);
  }
  next =
      pkt->pts != AV_NOPTS_VALUE && pkt->duration > 0 ? pkt->pts + pkt->duration : AV_NOPTS_VALUE;
}

int StreamFollower::Read(AVPacket* pkt) {
  for (;;) {
    if (!queued_.empty()) {
      av_packet_move_ref(pkt, queued_.front().get());
      queued_.pop_front();
      return 0;
    }
    int err = av_read_frame(fmt_, pkt);
    if (err < 0) return err;
    const int index = pkt->stream_index;
    if (index < 0 || static_cast<unsigned>(index) >= fmt_->nb_streams) return 0;
    furthest_ = std::max(furthest_, pkt->pos);
    if (Late(pkt)) {  // put back already, or beyond what was kept
      av_packet_unref(pkt);
      continue;
    }
    if (begun_.size() <= static_cast<size_t>(index)) begun_.resize(index + 1, false);
    const bool first = !begun_[index];
    begun_[index] = true;
    const std::vector<int>& from = successions_.took_over_from;
    const auto* kept = successions_.remainders.get();
    if (!first || static_cast<size_t>(index) >= from.size() || from[index] < 0 || !kept ||
        static_cast<size_t>(from[index]) >= kept->size() || (*kept)[from[index]].empty()) {
      MoveToHead(pkt);
      return 0;
    }
    for (const PacketPtr& remainder : (*kept)[from[index]]) {
      PacketPtr copy = MakePacket();
      if (av_packet_ref(copy.get(), remainder.get()) < 0) continue;
      MoveToHead(copy.get());
      queued_.push_back(std::move(copy));
    }
    PacketPtr current = MakePacket();
    av_packet_move_ref(current.get(), pkt);
    MoveToHead(current.get());
    queued_.push_back(std::move(current));
  }
}

const AVProgram* SuccessionFinder::ProgramOf(int index) const {
  for (unsigned p = 0; p < fmt_->nb_programs; ++p) {
    const AVProgram* program = fmt_->programs[p];
    for (unsigned j = 0; j < program->nb_stream_indexes; ++j)
      if (program->stream_index[j] == static_cast<unsigned>(index)) return program;
  }
  return nullptr;
}

int SuccessionFinder::Read(AVPacket* pkt) {
  for (;;) {
    int err = av_read_frame(fmt_, pkt);
    if (err < 0) return err;
    const int index = pkt->stream_index;
    if (index < 0 || static_cast<unsigned>(index) >= fmt_->nb_streams) return 0;
    follower_.furthest_ = std::max(follower_.furthest_, pkt->pos);
    if (decided_.size() <= static_cast<size_t>(index)) decided_.resize(index + 1, false);
    if (!decided_[index]) {
      decided_[index] = true;
      Decide(index, pkt->pos);
    }
    if (!follower_.Late(pkt)) {
      follower_.MoveToHead(pkt);
      return 0;
    }
    if (remainder_bytes_ + pkt->size <= kRemainderBytes) {
      remainder_bytes_ += pkt->size;
      if (remainders_.size() <= static_cast<size_t>(index)) remainders_.resize(index + 1);
      PacketPtr kept = MakePacket();
      av_packet_move_ref(kept.get(), pkt);
      remainders_[index].push_back(std::move(kept));
    }
    av_packet_unref(pkt);
  }
}

Successions SuccessionFinder::TakeFound() {
  Successions found = std::move(found_);
  found.remainders =
      std::make_shared<const std::vector<std::vector<PacketPtr>>>(std::move(remainders_));
  return found;
}

// A stream in a program at its first packet continues the chain of its kind whose first stream
// has left every program: the first such chain in its language, else the one at its own place
// among the program's streams of its kind, unless a stream in a program continues that chain
// already. The streams of two programs on the air together are all listed, so none continues
// another.
void SuccessionFinder::Decide(int index, int64_t pos) {
  const AVStream* st = fmt_->streams[index];
  const AVProgram* program = fmt_->nb_programs > 0 ? ProgramOf(index) : nullptr;
  if (!program || !Followable(st)) return;
  const AVMediaType type = st->codecpar->codec_type;
  auto of_kind = [&](int i) {
    const AVStream* s = fmt_->streams[i];
    return i != index && s->codecpar->codec_type == type && Followable(s);
  };
  int place = 0;
  for (int i = 0; i < index; ++i)
    if (of_kind(i) && ProgramOf(i) == program) ++place;
  auto taken = [&](int chain) {
    for (size_t m = 0; m < found_.head.size(); ++m)
      if (found_.head[m] == chain && ProgramOf(static_cast<int>(m)) != nullptr) return true;
    return false;
  };
  std::vector<int> left;  // decided chains whose first stream left the programs, in order
  for (size_t h = 0; h < decided_.size(); ++h) {
    int i = static_cast<int>(h);
    if (decided_[h] && found_.Head(i) == i && of_kind(i) && ProgramOf(i) == nullptr)
      left.push_back(i);
  }
  int chosen = -1;
  const std::string language = Language(st);
  if (!language.empty())
    for (int h : left)
      if (Language(fmt_->streams[h]) == language && !taken(h)) {
        chosen = h;
        break;
      }
  if (chosen < 0 && place < static_cast<int>(left.size()) && !taken(left[place]))
    chosen = left[place];
  if (chosen < 0) return;
  if (fmt_->streams[chosen]->codecpar->codec_id != st->codecpar->codec_id) {
    if (found_.unfollowed.size() <= static_cast<size_t>(chosen))
      found_.unfollowed.resize(chosen + 1, -1);
    if (found_.unfollowed[chosen] < 0) found_.unfollowed[chosen] = index;
    return;
  }
  if (found_.head.size() <= static_cast<size_t>(index)) found_.head.resize(index + 1, -1);
  found_.head[index] = chosen;
  if (latest_.size() <= static_cast<size_t>(chosen)) latest_.resize(chosen + 1, -1);
  int replaced = latest_[chosen] >= 0 ? latest_[chosen] : chosen;
  latest_[chosen] = index;
  if (found_.replaced_at.size() <= static_cast<size_t>(replaced))
    found_.replaced_at.resize(replaced + 1, -1);
  found_.replaced_at[replaced] = pos;
  if (found_.took_over_from.size() <= static_cast<size_t>(index))
    found_.took_over_from.resize(index + 1, -1);
  found_.took_over_from[index] = replaced;
}

std::string DescribeStream(const AVFormatContext* fmt, int index) {
  const AVStream* st = fmt->streams[index];
  char buf[96];
  std::snprintf(buf, sizeof(buf), "stream %d (PID 0x%x, %s)", index, st->id,
                avcodec_get_name(st->codecpar->codec_id));
  return buf;
}

}  // namespace reel::engine
