// Language tags of streams as BCP 47 (RFC 5646) wants them: containers tag streams with ISO
// 639-2 codes ("eng", "fre"), but HLS's LANGUAGE and DASH's lang are BCP 47 tags, where a
// language with a two-letter ISO 639-1 code must use it ("en", "fr"); players compare them with
// the device's languages.
#pragma once

#include <string>
#include <string_view>

namespace reel::engine {

// "eng" -> "en", "fre"/"fra" -> "fr", "eng-US" -> "en-US"; a three-letter code without a
// two-letter one ("haw") and a tag already in that form ("pt-BR") are kept, the primary subtag
// in lower case. "" for "" and "und" and for what is not shaped like a tag (letters, digits and
// hyphens, a 2-3 letter primary subtag, at most 35 characters).
std::string Bcp47Language(std::string_view tag);

// The other way, for Matroska's Language element (ISO 639-2, bibliographic where it differs):
// "en" -> "eng", "fr-CA" -> "fre", "de" -> "ger", "haw" -> "haw"; "und" when unknown.
std::string Iso639_2Language(std::string_view tag);

}  // namespace reel::engine
