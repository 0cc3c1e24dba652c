// Streams that take over from one another inside one file. An MPEG-TS recording joined byte for
// byte from two whose programs use different PIDs (`cat a.ts b.ts` of two channels, or of one
// channel before and after a re-tune) has its picture in one stream up to the join and in another
// after it: when the second PMT comes, libavformat lists the program's new streams in it and
// leaves the old ones listed in no program. Players follow the program across the change; ffmpeg's
// command line keeps the streams it chose, so the second recording is silently lost. reel follows
// the program: a stream that enters a program continues the stream of its kind that left it (the
// same codec; matched by language, else by place), and its packets are read as that stream's.
//
// What a stream continues is decided at its first packet in a read from the file's start (the
// clock's scan, clock.h), when the program lists what that part of the file carries; the program
// lists seen on opening are not trusted (libavformat's probe may have read the file's end, and
// packets it kept are handed on later). Every other reader follows those decisions. Internal to
// the engine.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/av_util.h"

namespace reel::engine {

// Which stream each stream continues, once decided.
struct Successions {
  std::vector<int> head;        // by stream index: the chain's first stream (absent: itself)
  std::vector<int> unfollowed;  // by head: a stream that took its place in another codec, or -1
  // By stream index: the stream it took over from (-1: none), and where in the file the first
  // packet of the stream that took over from it lies (-1: none did).
  std::vector<int> took_over_from;
  std::vector<int64_t> replaced_at;
  // libavformat hands on a PID's last PES only at the file's end, long after the next recording
  // began. Those remainders (by the stream they belong to) are put back where they belong, just
  // before the first packet of the stream that took over; read at the end, they are left out.
  std::shared_ptr<const std::vector<std::vector<PacketPtr>>> remainders;

  int Head(int index) const { return At(head, index, index); }
  int Unfollowed(int head_index) const { return At(unfollowed, head_index, -1); }
  int count() const;  // streams that continue another

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
  friend class SuccessionFinder;
  bool Late(const AVPacket* pkt) const;
  void MoveToHead(AVPacket* pkt);

  AVFormatContext* fmt_;
  const Successions& successions_;
  int64_t furthest_ = -1;  // the furthest file position a packet came from
  std::vector<bool> begun_;
  std::vector<int64_t> next_pts_;  // by stream: where its next audio packet starts (head's base)
  std::deque<PacketPtr> queued_;   // remainders put back, then the packet that came
};

// Decides, for a read from the file's start, what each stream continues as its first packet
// comes. Only audio and video streams of a format with programs continue others.
class SuccessionFinder {
 public:
  explicit SuccessionFinder(AVFormatContext* fmt) : fmt_(fmt) {}
  SuccessionFinder(const SuccessionFinder&) = delete;
  SuccessionFinder& operator=(const SuccessionFinder&) = delete;
  // av_read_frame, each new stream decided at its first packet, followed; late remainders kept
  // (at most kRemainderBytes) and skipped.
  int Read(AVPacket* pkt);
  // The decisions, with the remainders kept. Once, at the end.
  Successions TakeFound();

  static constexpr int64_t kRemainderBytes = 64 << 20;

 private:
  void Decide(int index, int64_t pos);
  const AVProgram* ProgramOf(int index) const;  // the first program listing it, or none

  AVFormatContext* fmt_;
  std::vector<bool> decided_;
  std::vector<int> latest_;  // by chain head: its member that came last
  Successions found_;
  std::vector<std::vector<PacketPtr>> remainders_;
  int64_t remainder_bytes_ = 0;
  StreamFollower follower_{fmt_, found_};
};

// "stream 2 (PID 0x200, mpeg2video)": how errors name a stream.
std::string DescribeStream(const AVFormatContext* fmt, int index);

}  // namespace reel::engine
