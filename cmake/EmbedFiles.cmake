# cmake -DOUT=<file.inc> -DFILES=<a.kl;b.kl> -P EmbedFiles.cmake
# Writes a C fragment: one { "name", "text" } entry per file, as byte arrays,
# so the prelude's .kl sources are compiled into klc.
set(content "/* Generated from the prelude .kl files by cmake/EmbedFiles.cmake. */\n")
set(index 0)
set(entries "")
foreach(f IN LISTS FILES)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" hex "${hex}")
  get_filename_component(name ${f} NAME)
  string(APPEND content "static const unsigned char prelude_file_${index}[] = {\n${hex}0x00};\n")
  string(APPEND entries "    {\"${name}\", prelude_file_${index}, sizeof prelude_file_${index} - 1},\n")
  math(EXPR index "${index} + 1")
endforeach()
string(APPEND content "static const struct { const char *name; const unsigned char *text; unsigned long len; } prelude_files[] = {\n${entries}};\n")
string(APPEND content "enum { N_PRELUDE_FILES = ${index} };\n")
file(WRITE ${OUT}.tmp "${content}")
file(RENAME ${OUT}.tmp ${OUT})
