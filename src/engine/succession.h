// Streams that take over from one another inside one file. An MPEG-TS recording joined byte for
// byte from two whose programs use different PIDs (`cat a.ts b.ts` of two channels, or of one
// channel before and after a re-tune) has its picture in one stream up to the join and in another
// after it: libavformat adds the new PIDs as streams of their own. Players follow the program
// across the change; ffmpeg's command line keeps the streams it chose, so the second recording is
// silently lost. reel follows the picture and sound: a stream that begins just after another of
// its kind ended, at an abrupt join, continues it (the same codec and program; matched by
// language, else by place among the streams that begin there), and its packets are read as that
// stream's.
//
// The decisions are made once the clock's scan (clock.h) has read the whole file, from where each
// stream's packets lie (not from libavformat's program lists, which its probe may have moved
// ahead of the packets); every reader then follows them. Internal to the engine.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/av_util.h"

namespace reel::engine {

// A stream of picture or sound (not cover art): the streams whose clocks are judged (clock.h)
// and that may continue one another.
bool PictureOrSound(const AVStream* st);

// Which stream each stream continues, once decided.
struct Successions {
  std::vector<int> head;        // by stream index: the chain's first stream (absent: itself)
  std::vector<int> unfollowed;  // by head: a stream that took its place in another codec, or -1
  std::vector<int> displaced;   // by stream index: the inverse of unfollowed
  // libavformat hands on a PID's last PES only at the file's end, long after the next recording
  // began. Those remainders (by the stream they belong to) are put back where they belong, just
  // before the first packet of the next recording (put_back_before: a stream, by the stream they
  // belong to, -1: none); read at the end, they are left out.
  std::vector<int> put_back_before;
  std::shared_ptr<const std::vector<std::vector<PacketPtr>>> remainders;

  int Head(int index) const { return At(head, index, index); }
  int Unfollowed(int head_index) const { return At(unfollowed, head_index, -1); }
  // The chain whose place stream `index` took in another codec (its first stream), or -1: what a
  // reader that chose `index` (libavformat's best stream can be it) reads instead, to fail at
  // the join saying why.
  int Displaced(int index) const { return At(displaced, index, -1); }
  int count() const;  // streams that continue another
  // Whether a reader that wants some chains must still read stream `st`: with streams that take
  // over from others, every picture and sound stream, as the first packet of the next recording
  // (whichever stream it is) puts the last one's remainders back.
  bool MustRead(const AVStream* st) const { return count() > 0 && PictureOrSound(st); }

 private:
  static int At(const std::vector<int>& v, int index, int absent) {
    return index >= 0 && static_cast<size_t>(index) < v.size() && v[index] >= 0 ? v[index] : absent;
  }
};

// Reads packets as the decisions say: each chain's under its first stream, every remainder in
// its place.
class StreamFollower {
 public:
  StreamFollower(AVFormatContext* fmt, const Successions& successions)
      : fmt_(fmt), successions_(successions) {}
  // av_read_frame, followed: a packet moved onto its chain's first stream (its index and, if
  // their time bases differ, its timestamps), a remainder put back in its place.
  int Read(AVPacket* pkt);

 private:
  bool Late(const AVPacket* pkt) const;
  void MoveToHead(AVPacket* pkt);

  AVFormatContext* fmt_;
  const Successions& successions_;
  std::vector<bool> begun_, put_back_;
  std::vector<int64_t> next_pts_;  // by stream: where its next audio packet starts (head's base)
  std::deque<PacketPtr> queued_;   // remainders put back, then the packet that came
};

// Watches a read of every packet from the file's start, then decides what each stream continues.
// Only audio and video streams continue others. Stream X continues the chain whose last stream M
// ended before X began: every packet of M read after X's first lies before it in the file (the
// PES remainders libavformat hands on at the end), and there are at most kKept of them.
class SuccessionFinder {
 public:
  explicit SuccessionFinder(const AVFormatContext* fmt) : fmt_(fmt) {}
  SuccessionFinder(const SuccessionFinder&) = delete;
  SuccessionFinder& operator=(const SuccessionFinder&) = delete;
  // Each packet as read, before anything moves it.
  void Watch(const AVPacket* pkt);
  // After the read: the decisions, with the remainders kept.
  Successions Decide();

  static constexpr size_t kKept = 16;              // last packets kept per stream
  static constexpr int64_t kKeptBytes = 32 << 20;  // at most, all streams together
  // A join is abrupt: the new stream's first packet is read at most this many audio and video
  // packets (about 2 s of a picture and a sound) after the old one's last before it. Streams
  // further apart (a track that stops and another that starts later) are streams of their own.
  static constexpr int64_t kJoinPackets = 256;

 private:
  struct Kept {
    int64_t pos = -1, order = 0;
    PacketPtr pkt;  // null past kKeptBytes
  };
  struct Seen {
    bool any = false;
    int64_t first_pos = -1, first_order = 0, count = 0;
    int64_t max_pos = -1;  // the furthest in the file any of its packets lies
    std::deque<Kept> last;
  };
  bool EndedBefore(int m, const Seen& x) const;
  bool SameProgramIfListed(int m, int x) const;

  const AVFormatContext* fmt_;
  std::deque<Seen> seen_;  // by stream index (a deque: Seen cannot be copied, nor moved noexcept)
  int64_t order_ = 0, kept_bytes_ = 0;
};

// "stream 2 (PID 0x200, mpeg2video)": how errors name a stream.
std::string DescribeStream(const AVFormatContext* fmt, int index);

}  // namespace reel::engine
