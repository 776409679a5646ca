// A tiny bitmap font of our own: 5x7 pixel glyphs for the printable ASCII
// characters (32 ' ' to 126 '~'), enough to label a chart without a font file.
// Each glyph is 7 rows of 5 bits; see bitmap_font.cpp for how to read them.
#pragma once

#include <cstdint>
#include <string_view>

namespace ng::tools::font {

inline constexpr int kGlyphWidth = 5, kGlyphHeight = 7;
inline constexpr int kAdvance = kGlyphWidth + 1;  // one blank column between characters

// Row `row` (0 = top) of the glyph for `c`: bit 4 is the leftmost pixel, bit 0
// the rightmost. A character outside 32..126 draws as '?'.
uint8_t glyph_row(char c, int row);

// Whether pixel (x, y) of the glyph for `c` is ink; x in [0, 5), y in [0, 7).
inline bool glyph_pixel(char c, int x, int y) { return (glyph_row(c, y) >> (kGlyphWidth - 1 - x)) & 1; }

// The characters a string draws: its bytes, with each UTF-8 sequence (which
// the font cannot show) counted as one '?'.
int glyph_count(std::string_view text);

// The width in pixels of `text` drawn `scale` times the glyphs' size, without
// the blank column after the last character (0 for an empty string).
inline int text_width(std::string_view text, int scale) {
  const int n = glyph_count(text);
  return n == 0 ? 0 : (n * kAdvance - 1) * scale;
}
inline int text_height(int scale) { return kGlyphHeight * scale; }

}  // namespace ng::tools::font
