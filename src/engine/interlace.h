// Interlace detection for sources whose stream does not say they are interlaced: many files of
// broadcast, DV or older cameras carry woven fields but a "progressive" or no field order. A
// short pre-pass runs libavfilter's idet over the first frames of the video stream and tells
// the source which field comes first, so that bwdif deinterlaces it (filter.h). Internal to
// the engine.
#pragma once

#include <string>

#include "common/status.h"

extern "C" {
#include <libavcodec/codec_par.h>
}

namespace reel::engine {

inline constexpr int kInterlaceProbeFrames = 50;

struct FieldsSeen {
  // idet's multiple-frame counts over the frames read.
  int64_t tff = 0, bff = 0, progressive = 0, undetermined = 0;
  int frames = 0;
  // AV_FIELD_TT or AV_FIELD_BB when the frames are mostly woven fields, else
  // AV_FIELD_PROGRESSIVE (a static or too short start is taken as progressive).
  AVFieldOrder order = AV_FIELD_PROGRESSIVE;
};

// Decodes at most `max_frames` frames of stream `stream_index` of `path` through idet.
Result<FieldsSeen> DetectInterlacing(const std::string& path, int stream_index,
                                     int max_frames = kInterlaceProbeFrames, int threads = 1);
// How many times this process ran DetectInterlacing: the tests see which runs skipped it.
int64_t InterlacingPrePasses();

// Whether some output of `plan` reads the source's picture (a package, a file, a thumbnail or a
// sprite), so that the pre-pass has a use; waveform and loudness outputs read only the sound.
struct TranscodePlan;
bool PlanReadsPicture(const TranscodePlan& plan);

}  // namespace reel::engine
