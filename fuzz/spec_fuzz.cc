// Fuzz target: a job document from raw bytes through ParseJobDocument and ParseJobSpec, as the
// API reads a POST /v1/jobs body. Beyond not crashing, what the hardening promises is checked: a
// refusal names its field without control characters, and an accepted spec holds only bounded
// numbers and control-free names.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "job/spec.h"

#include "require.h"

namespace {

using reel::job::JobSpec;

bool Clean(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

void CheckAccepted(const JobSpec& spec) {
  Require(spec.priority >= -100 && spec.priority <= 100);
  Require(!spec.source.empty() && !spec.outputs.empty());
  Require(spec.outputs.size() <= reel::job::kMaxOutputs);
  Require(spec.source.rfind("data:", 0) == 0 || (Clean(spec.source) && spec.source.size() <= 4096));
  for (const std::string& s : spec.sources) Require(s.rfind("data:", 0) == 0 || Clean(s));
  Require(Clean(spec.audio) && Clean(spec.subtitles));
  for (const auto& out : spec.outputs) {
    Require(Clean(out.destination) && out.destination.size() <= 4096);
    Require(Clean(out.waveform.image));
    Require(out.method == "PUT" || out.method == "POST");
    Require(out.presign_seconds >= 0 && out.presign_seconds <= 7 * 86400);
    Require(out.thumbnail.count >= 1 && out.thumbnail.count <= 100);
    Require(out.thumbnail.at.value >= 0 && out.thumbnail.at.value <= 1e7);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  reel::Result<nlohmann::json> doc = reel::job::ParseJobDocument(text);
  if (!doc.ok()) return 0;
  reel::job::FieldError error;
  reel::Result<JobSpec> spec = reel::job::ParseJobSpec(*doc, &error);
  if (spec.ok()) {
    CheckAccepted(*spec);
    // What the API stores and answers with is the document dumped back: it must dump.
    (void)doc->dump();
  } else {
    Require(spec.status().code() == reel::StatusCode::kInvalidArgument);
    Require(!error.message.empty());
    Require(Clean(error.field) && error.field.size() < 256);
    Require(Clean(spec.status().message()));
  }
  return 0;
}
