// A package checker for tests: reads every playlist and MPD of an HLS (and DASH) package reel
// wrote and checks it the way an outside review of reel's packages did, from the files alone
// (playlists parsed here, bitstreams read with ffprobe and the init segments' boxes), so that
// it does not trust reel's own code. Also plays packages to the end with GStreamer.
#pragma once

#include <string>
#include <vector>

namespace reel::testing {

struct PackageReport {
  std::vector<std::string> problems;  // empty when every rule holds
  double media_duration = 0;          // seconds the package presents (video, else audio)
  int playlists = 0;                  // media and I-frame playlists read
  bool ok() const { return problems.empty(); }
  std::string Describe() const;  // the problems, one a line
};

// Checks the package in `dir` (master.m3u8, and manifest.mpd when present):
//  - every playlist: #EXTM3U, EXT-X-VERSION >= 6, EXT-X-MAP, TARGETDURATION >= every rounded
//    EXTINF, PLAYLIST-TYPE:VOD and ENDLIST; the master: INDEPENDENT-SEGMENTS;
//  - each variant: BANDWIDTH >= the measured peak (video + the largest audio rendition's segment
//    peak), AVERAGE-BANDWIDTH within 2 % of the measured mean (video + the largest audio mean),
//    CODECS from the init segments' avcC/esds, RESOLUTION and FRAME-RATE as the bitstream has
//    them;
//  - each audio group: exactly one DEFAULT=YES rendition, which AUTOSELECTs, names unique;
//  - a keyframe first in every video segment, segments starting at the same time in every
//    variant; every audio rendition with as many segments as the video, ending within two audio
//    frames of it;
//  - I-frame playlists: each byte range, after the init segment, is exactly one keyframe; one
//    per keyframe of the variant, each EXTINF the time to the next (the last: to the end);
//  - the MPD: mediaPresentationDuration equal to the media's duration (within 1 ms), each
//    representation's timeline as long as its playlist and its bandwidth >= its measured peak.
PackageReport CheckPackage(const std::string& dir);

// Plays `playlist_or_mpd` with GStreamer's playbin (fake sinks) to the end: problems if it does
// not reach EOS or reports a warning or an error.
PackageReport PlayWithGStreamer(const std::string& playlist_or_mpd);

}  // namespace reel::testing
