# Writes the dashboard's assets into the binary, so that `reel serve` carries them (nothing to
# install beside it). Run at build time by CMakeLists.txt with ASSETS = "url|file,url|file,..."
# (the content type follows the file's extension). It writes two small files:
#   ASM_OUTPUT  an assembler file that pulls each asset's bytes in with `.incbin`, so the
#               assembler copies them as they are: a 21 MB C++ array of them took minutes to
#               compile on every clean build;
#   OUTPUT      the C++ table of Assets() over the assembler's symbols.
# The object of ASM_OUTPUT depends on the asset files (OBJECT_DEPENDS in CMakeLists.txt): the
# assembler reads them, so it must run again when one changes.
set(asm "# Generated from src/dashboard/assets by embed.cmake; do not edit.\n")
string(APPEND asm "\t.section .rodata.reel_dashboard,\"a\",%progbits\n")
set(body "// Generated from src/dashboard/assets by embed.cmake; do not edit.\n")
string(APPEND body "#include <cstdint>\n\n#include \"dashboard/dashboard.h\"\n\n")
set(externs "")
set(table "")
set(n 0)
string(REPLACE "," ";" ASSETS "${ASSETS}")
foreach(entry IN LISTS ASSETS)
  string(REPLACE "|" ";" fields "${entry}")
  list(GET fields 0 url)
  list(GET fields 1 file)
  get_filename_component(ext "${file}" LAST_EXT)
  if(ext STREQUAL ".html")
    set(type "text/html; charset=utf-8")
  elseif(ext STREQUAL ".css")
    set(type "text/css; charset=utf-8")
  elseif(ext STREQUAL ".js")
    set(type "text/javascript; charset=utf-8")
  elseif(ext STREQUAL ".json")
    set(type "application/json")
  else()
    message(FATAL_ERROR "no content type for ${file}")
  endif()
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "${file} is missing")
  endif()
  # The path inside an assembler string: backslashes and quotes escaped.
  string(REPLACE "\\" "\\\\" quoted "${file}")
  string(REPLACE "\"" "\\\"" quoted "${quoted}")
  set(sym "reel_dashboard_asset_${n}")
  # The bytes, then their count as a 64-bit word (a symbol of its own: subtracting the addresses
  # of two objects is not defined in C++).
  string(APPEND asm
    "\n\t.balign 16\n\t.globl ${sym}\n\t.hidden ${sym}\n\t.type ${sym}, %object\n${sym}:\n"
    "\t.incbin \"${quoted}\"\n.L${sym}_end:\n\t.size ${sym}, .L${sym}_end - ${sym}\n"
    "\t.balign 8\n\t.globl ${sym}_size\n\t.hidden ${sym}_size\n\t.type ${sym}_size, %object\n"
    "${sym}_size:\n\t.quad .L${sym}_end - ${sym}\n\t.size ${sym}_size, 8\n")
  string(APPEND externs "extern const char ${sym}[];\nextern const std::uint64_t ${sym}_size;\n")
  string(APPEND table "      {\"${url}\", \"${type}\", {${sym}, ${sym}_size}},\n")
  math(EXPR n "${n} + 1")
endforeach()
# No executable stack for the binary on account of this object.
string(APPEND asm "\n\t.section .note.GNU-stack,\"\",%progbits\n")
string(APPEND body "extern \"C\" {\n${externs}}\n\nnamespace reel::dashboard {\n\n")
string(APPEND body "const std::vector<Asset>& Assets() {\n")
string(APPEND body "  static const std::vector<Asset> assets = {\n${table}  };\n  return assets;\n}\n\n")
string(APPEND body "}  // namespace reel::dashboard\n")
file(WRITE "${ASM_OUTPUT}" "${asm}")
file(WRITE "${OUTPUT}" "${body}")
