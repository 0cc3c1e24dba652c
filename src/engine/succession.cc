#include "engine/succession.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace reel::engine {
namespace {

std::string Language(const AVStream* st) {
  const AVDictionaryEntry* e = av_dict_get(st->metadata, "language", nullptr, 0);
  return e && e->value ? e->value : "";
}

}  // namespace

bool PictureOrSound(const AVStream* st) {
  AVMediaType type = st->codecpar->codec_type;
  return (type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO) &&
         !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

int Successions::count() const {
  int n = 0;
  for (size_t i = 0; i < head.size(); ++i) n += head[i] >= 0 && head[i] != static_cast<int>(i);
  return n;
}

bool StreamFollower::Late(const AVPacket* pkt) const {
  const size_t index = static_cast<size_t>(pkt->stream_index);
  return index < put_back_.size() && put_back_[index];
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
    if (Late(pkt)) {  // put back already (or beyond what was kept)
      av_packet_unref(pkt);
      continue;
    }
    if (begun_.size() <= static_cast<size_t>(index)) begun_.resize(index + 1, false);
    const bool first = !begun_[index];
    begun_[index] = true;
    if (!first || successions_.put_back_before.empty()) {
      MoveToHead(pkt);
      return 0;
    }
    // The first packet of the recording that follows: every stream that ended before it has
    // its remainders put back first, before the clock meets anything of the new recording.
    const std::vector<int>& before = successions_.put_back_before;
    const auto* kept = successions_.remainders.get();
    for (size_t m = 0; m < before.size(); ++m) {
      if (before[m] != index) continue;
      if (put_back_.size() <= m) put_back_.resize(m + 1, false);
      put_back_[m] = true;
      if (!kept || m >= kept->size()) continue;
      for (const PacketPtr& remainder : (*kept)[m]) {
        PacketPtr copy = MakePacket();
        if (av_packet_ref(copy.get(), remainder.get()) < 0) continue;
        MoveToHead(copy.get());
        queued_.push_back(std::move(copy));
      }
    }
    PacketPtr current = MakePacket();
    av_packet_move_ref(current.get(), pkt);
    MoveToHead(current.get());
    queued_.push_back(std::move(current));
  }
}

void SuccessionFinder::Watch(const AVPacket* pkt) {
  const int index = pkt->stream_index;
  if (index < 0 || static_cast<unsigned>(index) >= fmt_->nb_streams ||
      !PictureOrSound(fmt_->streams[index]))
    return;
  if (seen_.size() <= static_cast<size_t>(index)) seen_.resize(index + 1);
  Seen& s = seen_[index];
  const int64_t order = order_++;
  if (!s.any) {
    s.any = true;
    s.first_pos = pkt->pos;
    s.first_order = order;
  }
  ++s.count;
  s.max_pos = std::max(s.max_pos, pkt->pos);
  // What a kept packet costs: its bytes, its side data, and the packet and buffer around them.
  auto cost = [](const AVPacket* p) {
    int64_t bytes = int64_t(p->buf ? p->buf->size : p->size) + 512;  // it pins its buffer
    for (int i = 0; i < p->side_data_elems; ++i) bytes += int64_t(p->side_data[i].size);
    return bytes;
  };
  PacketPtr reused;  // the oldest's packet, so that a read of millions allocates 16 per stream
  if (s.last.size() == kKept) {
    if (PacketPtr& oldest = s.last.front().pkt) {
      kept_bytes_ -= cost(oldest.get());
      av_packet_unref(oldest.get());
      reused = std::move(oldest);
    }
    s.last.pop_front();
  }
  Kept k{pkt->pos, order, nullptr};
  if (kept_bytes_ + cost(pkt) <= kKeptBytes) {
    k.pkt = reused ? std::move(reused) : MakePacket();
    if (av_packet_ref(k.pkt.get(), pkt) < 0)
      k.pkt.reset();
    else
      kept_bytes_ += cost(pkt);
  }
  s.last.push_back(std::move(k));
}

bool SuccessionFinder::EndedBefore(int m, const Seen& x) const {
  const Seen& s = seen_[m];
  if (!s.any || s.first_order >= x.first_order || x.first_pos < 0) return false;
  // Every packet of it lies before x's first in the file (a frame a parser split off a PES has
  // no position of its own, but its PES's first frame has), so any read after x's first are
  // remainders.
  if (s.max_pos < 0 || s.max_pos >= x.first_pos) return false;
  size_t after = 0;
  for (const Kept& k : s.last) after += k.order > x.first_order;
  // More packets after X's first than were kept: it went on beside X.
  if (after == s.last.size() && s.count > static_cast<int64_t>(s.last.size())) return false;
  int64_t last_before = s.first_order;  // its last packet read before x's first
  for (const Kept& k : s.last)
    if (k.order < x.first_order) last_before = std::max(last_before, k.order);
  return x.first_order - last_before <= kJoinPackets;
}

// Streams of two programs listed at the end of the read (the services of a multiplex) are two
// programs' streams, whatever their timing. A stream whose PMT was replaced is listed in none.
bool SuccessionFinder::SameProgramIfListed(int m, int x) const {
  const AVProgram *pm = nullptr, *px = nullptr;
  for (unsigned p = 0; p < fmt_->nb_programs; ++p) {
    const AVProgram* program = fmt_->programs[p];
    for (unsigned j = 0; j < program->nb_stream_indexes; ++j) {
      if (program->stream_index[j] == static_cast<unsigned>(m) && !pm) pm = program;
      if (program->stream_index[j] == static_cast<unsigned>(x) && !px) px = program;
    }
  }
  return !pm || !px || pm->id == px->id;
}

// In the order the streams began: a stream continues a chain whose last stream ended before it
// began, in the same codec: the one in its language at its own place among the streams that
// begin there, else in its language, else at its place, else the first. Without a chain in its
// codec it begins a chain of its own, and the chain it would have continued is marked unfollowed.
Successions SuccessionFinder::Decide() {
  Successions found;
  std::vector<int> streams;
  for (size_t i = 0; i < seen_.size(); ++i)
    if (seen_[i].any) streams.push_back(static_cast<int>(i));
  std::sort(streams.begin(), streams.end(),
            [&](int a, int b) { return seen_[a].first_order < seen_[b].first_order; });
  struct Chain {
    int head, last;
  };
  std::vector<Chain> chains;
  auto remainders = std::make_shared<std::vector<std::vector<PacketPtr>>>();
  auto grow = [](auto& v, int index, auto fill) {
    if (v.size() <= static_cast<size_t>(index)) v.resize(index + 1, fill);
  };
  for (int x : streams) {
    const Seen& sx = seen_[x];
    const AVCodecParameters* par = fmt_->streams[x]->codecpar;
    std::vector<size_t> candidates;  // of the kind, ended before x began, by head
    int64_t join = -1;               // the latest first packet among their last streams
    for (size_t c = 0; c < chains.size(); ++c) {
      const AVCodecParameters* cp = fmt_->streams[chains[c].last]->codecpar;
      if (cp->codec_type != par->codec_type || !EndedBefore(chains[c].last, sx) ||
          !SameProgramIfListed(chains[c].last, x))
        continue;
      candidates.push_back(c);
      join = std::max(join, seen_[chains[c].last].first_order);
    }
    if (candidates.empty()) {
      chains.push_back({x, x});
      continue;
    }
    size_t place = 0;  // among the streams of its kind that began since
    for (int y : streams) {
      if (y == x) break;
      if (seen_[y].first_order > join && fmt_->streams[y]->codecpar->codec_type == par->codec_type)
        ++place;
    }
    const std::string language = Language(fmt_->streams[x]);
    int chosen = -1, best = -1;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const Chain& c = chains[candidates[i]];
      if (fmt_->streams[c.last]->codecpar->codec_id != par->codec_id) continue;
      bool same_language = !language.empty() && Language(fmt_->streams[c.head]) == language;
      int score = (same_language ? 2 : 0) + (i == place ? 1 : 0);
      if (score > best) {
        best = score;
        chosen = static_cast<int>(candidates[i]);
      }
    }
    if (chosen < 0) {
      int head = chains[candidates[std::min(place, candidates.size() - 1)]].head;
      grow(found.unfollowed, head, -1);
      if (found.unfollowed[head] < 0) found.unfollowed[head] = x;
      chains.push_back({x, x});
      continue;
    }
    Chain& c = chains[chosen];
    grow(found.head, x, -1);
    found.head[x] = c.head;
    // Its remainders go back before the first packet of any stream that began after its last
    // packet before x (no packet of it lies between that one and x's first).
    const Seen& sm = seen_[c.last];
    int64_t last_before = sm.first_order;
    for (const Kept& k : sm.last)
      if (k.order < sx.first_order) last_before = std::max(last_before, k.order);
    int before = x;
    for (int y : streams)
      if (seen_[y].first_order > last_before) {
        before = y;
        break;
      }
    grow(found.put_back_before, c.last, -1);
    found.put_back_before[c.last] = before;
    if (remainders->size() <= static_cast<size_t>(c.last)) remainders->resize(c.last + 1);
    for (Kept& k : seen_[c.last].last) {
      if (k.order <= sx.first_order || !k.pkt) continue;
      // Copied out of the demuxer's buffer, which may be far larger: these outlive the read.
      PacketPtr exact = MakePacket();
      if (av_new_packet(exact.get(), k.pkt->size) < 0) continue;
      if (k.pkt->size > 0) memcpy(exact->data, k.pkt->data, k.pkt->size);
      av_packet_copy_props(exact.get(), k.pkt.get());
      (*remainders)[c.last].push_back(std::move(exact));
    }
    if (static_cast<size_t>(c.head) < found.unfollowed.size()) found.unfollowed[c.head] = -1;
    c.last = x;
  }
  found.remainders = std::move(remainders);
  for (size_t h = 0; h < found.unfollowed.size(); ++h)
    if (found.unfollowed[h] >= 0) {
      grow(found.displaced, found.unfollowed[h], -1);
      found.displaced[found.unfollowed[h]] = static_cast<int>(h);
    }
  return found;
}

std::string DescribeStream(const AVFormatContext* fmt, int index) {
  const AVStream* st = fmt->streams[index];
  char buf[96];
  std::snprintf(buf, sizeof(buf), "stream %d (PID 0x%x, %s)", index, st->id,
                avcodec_get_name(st->codecpar->codec_id));
  return buf;
}

}  // namespace reel::engine
