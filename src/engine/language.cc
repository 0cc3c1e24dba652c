#include "engine/language.h"

#include <algorithm>
#include <cctype>

namespace reel::engine {
namespace {

// ISO 639-2 codes (terminology and bibliographic) with their ISO 639-1 codes, from Debian's
// iso-codes (iso_639-2.json): five letters each, sorted, space-separated.
constexpr std::string_view kTwoLetter =
    "aaraa abkab afraf akaak albsq amham araar argan armhy asmas avaav aveae aymay azeaz "
    "bakba bambm baqeu belbe benbn bihbh bisbi bodbo bosbs brebr bulbg burmy catca cescs "
    "chach chece chizh chucu chvcv corkw cosco crecr cymcy czecs danda deude divdv dutnl "
    "dzodz ellel engen epoeo estet euseu eweee faofo fasfa fijfj finfi frafr frefr fryfy "
    "fulff geoka gerde glagd glega glggl glvgv greel grngn gujgu hatht hauha hebhe herhz "
    "hinhi hmoho hrvhr hunhu hyehy iboig iceis idoio iiiii ikuiu ileie inaia indid ipkik "
    "islis itait javjv jpnja kalkl kankn kasks katka kaukr kazkk khmkm kikki kinrw kirky "
    "komkv konkg korko kuakj kurku laolo latla lavlv limli linln litlt ltzlb lublu luglg "
    "macmk mahmh malml maomi marmr mayms mkdmk mlgmg mltmt monmn mrimi msams myamy nauna "
    "navnv nblnr ndend ndong nepne nldnl nnonn nobnb norno nyany ocioc ojioj orior ormom "
    "ossos panpa perfa plipi polpl porpt pusps quequ rohrm ronro rumro runrn rusru sagsg "
    "sansa sinsi slksk slosk slvsl smese smosm snasn sndsd somso sotst spaes sqisq srdsc "
    "srpsr sswss sunsu swasw swesv tahty tamta tattt telte tgktg tgltl thath tibbo tirti "
    "tonto tsntn tsots tuktk turtr twitw uigug ukruk urdur uzbuz venve vievi volvo welcy "
    "wlnwa wolwo xhoxh yidyi yoryo zhaza zhozh zulzu ";

// The bibliographic codes of the languages whose two ISO 639-2 codes differ.
constexpr std::string_view kBibliographic =
    "alb arm baq bur chi cze dut fre geo ger gre ice mac mao may per rum slo tib wel ";

}  // namespace

std::string Iso639_2Language(std::string_view tag) {
  std::string bcp = Bcp47Language(tag);
  std::string primary = bcp.substr(0, bcp.find('-'));
  if (primary.size() == 3) return primary;
  if (primary.size() != 2) return "und";
  std::string found;
  for (size_t at = 0; at + 6 <= kTwoLetter.size(); at += 6) {
    if (kTwoLetter.substr(at + 3, 2) != primary) continue;
    std::string code(kTwoLetter.substr(at, 3));
    if (found.empty() || kBibliographic.find(code + " ") != std::string_view::npos) found = code;
  }
  return found.empty() ? "und" : found;
}

std::string Bcp47Language(std::string_view tag) {
  if (tag.empty() || tag.size() > 35) return "";
  for (char c : tag)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return "";
  size_t dash = std::min(tag.find('-'), tag.size());
  if (dash < 2 || dash > 3) return "";
  std::string primary(tag.substr(0, dash));
  for (char& c : primary) {
    if (!std::isalpha(static_cast<unsigned char>(c))) return "";
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (primary == "und") return "";
  if (primary.size() == 3) {
    // Entries are 6 characters apart ("engen "): a binary search over them.
    size_t lo = 0, hi = kTwoLetter.size() / 6;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      std::string_view key = kTwoLetter.substr(mid * 6, 3);
      if (key == primary) {
        primary = std::string(kTwoLetter.substr(mid * 6 + 3, 2));
        break;
      }
      if (key < primary)
        lo = mid + 1;
      else
        hi = mid;
    }
  }
  return primary + std::string(tag.substr(dash));
}

}  // namespace reel::engine
