// The PNG line chart (tools/png_chart.h) and its bitmap font
// (tools/bitmap_font.h), checked pixel by pixel: where the lines, axes,
// legend and text land, gaps at NaN, the empty chart, the file read back.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/image.h"
#include "support/temp_dir.h"
#include "tools/bitmap_font.h"
#include "tools/png_chart.h"

using namespace ng;
using namespace ng::tools;

namespace {

// A rendered chart, for reading pixels.
struct Picture {
  int64_t height = 0, width = 0;
  std::vector<float> values;  // [3, H, W]

  explicit Picture(const Tensor& image) : height(image.size(1)), width(image.size(2)), values(image.to_vector<float>()) {}
  float at(int c, int64_t y, int64_t x) const { return values[size_t((c * height + y) * width + x)]; }
  bool is(int64_t y, int64_t x, float r, float g, float b, float tolerance = 1e-6f) const {
    return std::fabs(at(0, y, x) - r) <= tolerance && std::fabs(at(1, y, x) - g) <= tolerance &&
           std::fabs(at(2, y, x) - b) <= tolerance;
  }
  bool is_grey(int64_t y, int64_t x, int level) const { return is(y, x, level / 255.0f, level / 255.0f, level / 255.0f); }
  bool is_white(int64_t y, int64_t x) const { return is_grey(y, x, 255); }
  // Tinted: any colour but a grey (text, axes, grid and background are grey; series are not).
  bool tinted(int64_t y, int64_t x) const {
    const float r = at(0, y, x), g = at(1, y, x), b = at(2, y, x);
    return std::max({r, g, b}) - std::min({r, g, b}) > 0.05f;
  }
  // Tinted towards series 0 (#3b6fb6, blue) or series 1 (#e8702a, orange).
  bool bluish(int64_t y, int64_t x) const { return tinted(y, x) && at(2, y, x) > at(0, y, x); }
  bool orangish(int64_t y, int64_t x) const { return tinted(y, x) && at(0, y, x) > at(2, y, x); }
};

constexpr float kBlue[3] = {0x3b / 255.0f, 0x6f / 255.0f, 0xb6 / 255.0f};    // series_colour(0)
constexpr float kOrange[3] = {0xe8 / 255.0f, 0x70 / 255.0f, 0x2a / 255.0f};  // series_colour(1)

std::vector<double> range(int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

// The digit '1' of the font, as the test expects it.
const char* const kOne[7] = {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."};

}  // namespace

TEST(BitmapFont, GlyphsAreTheTable) {
  for (int row = 0; row < font::kGlyphHeight; ++row)
    for (int col = 0; col < font::kGlyphWidth; ++col)
      EXPECT_EQ(font::glyph_pixel('1', col, row), kOne[row][col] == '#') << "row " << row << " col " << col;
  for (int row = 0; row < font::kGlyphHeight; ++row) EXPECT_EQ(font::glyph_row(' ', row), 0);
  EXPECT_EQ(font::glyph_row('_', 6), 0x1F);  // the underscore: the whole bottom row
  // Outside printable ASCII: '?'.
  for (int row = 0; row < font::kGlyphHeight; ++row) {
    EXPECT_EQ(font::glyph_row('\n', row), font::glyph_row('?', row));
    EXPECT_EQ(font::glyph_row(char(0xC3), row), font::glyph_row('?', row));
  }
  // Every printable character but the space has ink, and no two look the same.
  for (int c = 33; c <= 126; ++c) {
    int ink = 0;
    for (int row = 0; row < font::kGlyphHeight; ++row) ink += font::glyph_row(char(c), row);
    EXPECT_GT(ink, 0) << char(c);
    for (int d = 33; d < c; ++d) {
      bool same = true;
      for (int row = 0; row < font::kGlyphHeight; ++row) same = same && font::glyph_row(char(c), row) == font::glyph_row(char(d), row);
      EXPECT_FALSE(same) << char(c) << " and " << char(d);
    }
  }
  EXPECT_EQ(font::text_width("", 1), 0);
  EXPECT_EQ(font::text_width("10", 1), 11);
  EXPECT_EQ(font::text_width("10", 3), 33);
  EXPECT_EQ(font::text_width("\xC3\xA9t\xC3\xA9", 1), 17);  // "été": one '?' per UTF-8 character
}

TEST(PngChart, ImageShapeAndRange) {
  const Tensor image = render_line_chart({{"a", {0, 1, 2}, {3, 1, 2}}}, {"t", "x", "y", 640, 400, false});
  ASSERT_EQ(image.shape(), (Shape{3, 400, 640}));
  EXPECT_EQ(image.dtype(), DType::f32);
  const Picture p(image);
  for (float v : p.values) ASSERT_TRUE(v >= 0 && v <= 1) << v;
  EXPECT_TRUE(p.is_white(0, 0));
  EXPECT_TRUE(p.is_white(399, 639));
}

TEST(PngChart, TitleIsDrawnInTheFont) {
  const ChartOptions options{"1", "", "", 300, 200, false};
  for (int scale : {1, 2}) {
    const PngChartLayout L = line_chart_layout({}, options, {scale});
    ASSERT_EQ(L.title_scale, 2 * scale);
    const Picture p(render_line_chart({}, options, {scale}));
    const int k = L.title_scale;
    // The glyph's box and one pixel around it: ink (#222) exactly where the table says.
    for (int y = -1; y < 7 * k + 1; ++y)
      for (int x = -1; x < 5 * k + 1; ++x) {
        const bool ink = y >= 0 && x >= 0 && y < 7 * k && x < 5 * k && kOne[y / k][x / k] == '#';
        EXPECT_TRUE(ink ? p.is_grey(L.title_y + y, L.title_x + x, 0x22) : p.is_white(L.title_y + y, L.title_x + x))
            << "scale " << scale << " glyph pixel (" << x << ", " << y << ")";
      }
  }
}

TEST(PngChart, HorizontalLineLandsOnItsRow) {
  // 41 points (no dots on them), y = 2.5; a second series, a vertical line at
  // the right edge, makes the y range 0..10.
  const std::vector<double> x = range(41);
  const std::vector<ChartSeries> series{{"flat", x, std::vector<double>(41, 2.5)}, {"range", {40, 40}, {0, 10}}};
  const ChartOptions options{"flat", "step", "loss", 640, 400, false};
  const PngChartLayout L = line_chart_layout(series, options);
  ASSERT_TRUE(L.has_data);
  ASSERT_DOUBLE_EQ(L.y.lo, 0);
  ASSERT_DOUBLE_EQ(L.y.hi, 10);
  ASSERT_DOUBLE_EQ(L.x.lo, 0);
  ASSERT_DOUBLE_EQ(L.x.hi, 40);
  // The mapping: y = 2.5 is a quarter of the way up from the x axis' row to the plot's top row.
  const double centre = L.plot_bottom + 0.5 - 0.25 * (L.plot_bottom - L.plot_top);
  ASSERT_DOUBLE_EQ(L.y_pixel(2.5), centre);
  const int row = int(std::floor(centre));

  const Picture p(render_line_chart(series, options));
  const int first = int(L.x_pixel(0)) + 2, last = int(L.x_pixel(40)) - 2;
  for (int x0 = first; x0 <= last; ++x0) ASSERT_TRUE(p.is(row, x0, kBlue[0], kBlue[1], kBlue[2])) << "column " << x0;
  // Nothing blue in the plot more than 2 rows off the line (a 2-pixel line covers rows within 1.5 of its centre).
  for (int y = L.plot_top - 3; y <= L.plot_bottom + 3; ++y)
    for (int x0 = L.plot_left - 3; x0 <= L.plot_right + 3; ++x0)
      if (std::abs(y - row) > 2) {
        ASSERT_FALSE(p.bluish(y, x0)) << "(" << x0 << ", " << y << ")";
      }
  EXPECT_TRUE(p.orangish(int(L.y_pixel(5)), int(L.x_pixel(40))));
}

TEST(PngChart, AxesTicksAndGridWhereTheLayoutSays) {
  const std::vector<ChartSeries> series{{"a", range(41), std::vector<double>(41, 3)}, {"b", {0, 40}, {0, 10}}};
  const PngChartLayout L = line_chart_layout(series, {"t", "x", "y", 640, 400, false});
  const Picture p(render_line_chart(series, {"t", "x", "y", 640, 400, false}));
  ASSERT_GT(L.plot_left, 20);
  ASSERT_LT(L.plot_right, 640 - 8);
  ASSERT_GT(L.plot_top, 20);
  ASSERT_LT(L.plot_bottom, 400 - 20);
  // The axes: column plot_left and row plot_bottom, #888, drawn over everything.
  for (int y = L.plot_top; y <= L.plot_bottom; ++y) ASSERT_TRUE(p.is_grey(y, L.plot_left, 0x88)) << y;
  for (int x = L.plot_left; x <= L.plot_right; ++x) ASSERT_TRUE(p.is_grey(L.plot_bottom, x, 0x88)) << x;
  // Nothing of the plot above plot_top (the legend ends well above it) or right of plot_right (within the margin).
  for (int x = L.plot_left; x < 640; ++x) EXPECT_TRUE(p.is_white(L.plot_top - 4, x)) << x;
  for (int y = L.plot_top; y < L.plot_bottom; ++y) EXPECT_TRUE(p.is_white(y, L.plot_right + 4)) << y;

  // y ticks 0, 2, ..., 10: a grid line across the plot, a 4-pixel tick mark left of the axis, a label left of that.
  ASSERT_EQ(L.y.ticks, (std::vector<double>{0, 2, 4, 6, 8, 10}));
  ASSERT_EQ(L.y.labels, (std::vector<std::string>{"0", "2", "4", "6", "8", "10"}));
  for (double t : L.y.ticks) {
    const int row = int(std::floor(L.y_pixel(t)));
    for (int x = L.plot_left - 4; x < L.plot_left; ++x) EXPECT_TRUE(p.is_grey(row, x, 0x88)) << t;
    EXPECT_TRUE(p.is_white(row, L.plot_left - 5)) << t;
    if (t > 0) {
      EXPECT_TRUE(p.is_grey(row, (L.plot_left + L.plot_right) / 2 + 40, 0xe6)) << t;  // grid, clear of the lines
    }
    int label_ink = 0;
    for (int y = row - 3; y <= row + 3; ++y)
      for (int x = 0; x < L.plot_left - 5; ++x) label_ink += p.is_grey(y, x, 0x55);
    EXPECT_GT(label_ink, 5) << t;
  }
  // Between ticks, just inside the y axis: white.
  EXPECT_TRUE(p.is_white(int(L.y_pixel(5)), L.plot_left + 1));
  // x ticks: a tick mark under the axis at each.
  ASSERT_FALSE(L.x.ticks.empty());
  for (double t : L.x.ticks) {
    const int column = int(std::floor(L.x_pixel(t)));
    for (int y = L.plot_bottom + 1; y <= L.plot_bottom + 4; ++y) EXPECT_TRUE(p.is_grey(y, column, 0x88)) << t;
  }
}

TEST(PngChart, LegendShowsEachSeriesColour) {
  const std::vector<ChartSeries> series{
      {"train loss", range(100), std::vector<double>(100, 1)}, {"test loss", {10, 50, 90}, {2, 1.5, 1.2}}, {"empty", {}, {}}};
  const ChartOptions options{"loss", "step", "", 640, 400, false};
  const PngChartLayout L = line_chart_layout(series, options);
  ASSERT_EQ(L.legend.size(), 2u);  // the empty series has no entry
  EXPECT_EQ(L.legend[0].series, 0u);
  EXPECT_EQ(L.legend[1].series, 1u);
  EXPECT_LT(L.legend[0].x, L.legend[1].x);
  EXPECT_EQ(L.legend[0].y, L.legend[1].y);  // one row
  EXPECT_LT(L.legend_bottom, L.plot_top);

  const Picture p(render_line_chart(series, options));
  for (size_t i = 0; i < 2; ++i) {
    const float* colour = i == 0 ? kBlue : kOrange;
    int swatch = 0, other_colour = 0, label_ink = 0;
    for (int y = L.legend_top; y < L.legend_bottom; ++y)
      for (int x = L.legend[i].x; x < L.legend[i].x + 14; ++x) {
        swatch += p.is(y, x, colour[0], colour[1], colour[2]);
        other_colour += p.tinted(y, x) && !p.is(y, x, colour[0], colour[1], colour[2]);
      }
    for (int y = L.legend_top; y < L.legend_bottom; ++y)
      for (int x = L.legend[i].x + 19; x < L.legend[i].x + 40; ++x) label_ink += p.is_grey(y, x, 0x33);
    EXPECT_EQ(swatch, 14 * 3) << i;  // a 14 x 3 swatch of the series' colour
    EXPECT_EQ(other_colour, 0) << i;
    EXPECT_GT(label_ink, 10) << i;  // its name
  }
}

TEST(PngChart, NaNLeavesAGap) {
  std::vector<double> x = range(41), y(41, 5.0);
  y[20] = NAN;
  x[30] = INFINITY;
  const std::vector<ChartSeries> series{{"gappy", x, y}};
  const ChartOptions options{"", "", "", 640, 400, false};
  const PngChartLayout L = line_chart_layout(series, options);
  const Picture p(render_line_chart(series, options));
  const auto blue_in_column = [&](int column) {
    for (int row = 0; row < p.height; ++row)
      if (p.bluish(row, column)) return true;
    return false;
  };
  // Between the NaN's neighbours (19 and 21), beyond the lines' round ends: nothing.
  for (int c = int(std::ceil(L.x_pixel(19) + 2)); c <= int(std::floor(L.x_pixel(21) - 2)); ++c)
    EXPECT_FALSE(blue_in_column(c)) << c;
  for (int c = int(std::ceil(L.x_pixel(29) + 2)); c <= int(std::floor(L.x_pixel(31) - 2)); ++c)
    EXPECT_FALSE(blue_in_column(c)) << c;
  // Elsewhere a line.
  for (int c = int(L.x_pixel(2)); c <= int(L.x_pixel(18)); ++c) EXPECT_TRUE(blue_in_column(c)) << c;
  for (int c = int(L.x_pixel(22)); c <= int(L.x_pixel(28)); ++c) EXPECT_TRUE(blue_in_column(c)) << c;
}

TEST(PngChart, LonePointIsADot) {
  // Blue pixels below the legend, near (cx, cy) and farther.
  const auto count_blue = [](const Picture& p, const PngChartLayout& L, double cx, double cy, double radius) {
    int near = 0, far = 0;
    for (int y = L.legend_bottom; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x)
        if (p.bluish(y, x)) (std::hypot(x + 0.5 - cx, y + 0.5 - cy) <= radius ? near : far)++;
    return std::pair{near, far};
  };
  const ChartOptions options{"", "", "", 400, 300, false};
  const PngChartStyle no_markers{1, 2.0, /*markers=*/false};
  {  // The only point of the chart: in the middle (both ranges widened around it).
    const std::vector<ChartSeries> series{{"one", {3}, {2}}};
    const PngChartLayout L = line_chart_layout(series, options, no_markers);
    EXPECT_DOUBLE_EQ(L.x.fraction(3), 0.5);
    EXPECT_DOUBLE_EQ(L.y.fraction(2), 0.5);
    const Picture p(render_line_chart(series, options, no_markers));
    const auto [near, far] = count_blue(p, L, L.x_pixel(3), L.y_pixel(2), 4.5);
    EXPECT_GE(near, 28);  // a dot of radius 3 (pi 3.5^2 = 38 pixels, the rim partly inked)
    EXPECT_EQ(far, 0);
    EXPECT_TRUE(p.is(int(L.y_pixel(2)), int(L.x_pixel(3)), kBlue[0], kBlue[1], kBlue[2]));
  }
  {  // A point between NaNs, in a chart whose corners two other lone points fix.
    const std::vector<ChartSeries> series{{"isolated", {0, 1, 2, 3, 4}, {NAN, NAN, 1, NAN, NAN}},
                                          {"corners", {0, 1, 4}, {0, NAN, 2}}};
    const PngChartLayout L = line_chart_layout(series, options, no_markers);
    ASSERT_DOUBLE_EQ(L.x.fraction(2), 0.5);
    ASSERT_DOUBLE_EQ(L.y.fraction(1), 0.5);
    const Picture p(render_line_chart(series, options, no_markers));
    const auto [near, far] = count_blue(p, L, L.x_pixel(2), L.y_pixel(1), 4.5);
    EXPECT_GE(near, 28);
    EXPECT_EQ(far, 0);
    EXPECT_TRUE(p.orangish(L.plot_bottom - 1, L.plot_left + 1));  // the corners' dots, clipped to the plot
    EXPECT_TRUE(p.orangish(L.plot_top + 1, L.plot_right - 1));
    EXPECT_FALSE(p.orangish(L.plot_bottom + 2, L.plot_left + 1));
  }
}

TEST(PngChart, NoDataIsAnEmptyFrameWithANote) {
  for (const auto& series : {std::vector<ChartSeries>{}, std::vector<ChartSeries>{{"e", {}, {}}, {"nan", {1}, {NAN}}}}) {
    const ChartOptions options{"nothing", "x", "y", 320, 200, false};
    const PngChartLayout L = line_chart_layout(series, options);
    EXPECT_FALSE(L.has_data);
    EXPECT_TRUE(L.legend.empty());
    const Picture p(render_line_chart(series, options));
    int note_ink = 0, tinted = 0;
    for (int y = 0; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x) {
        tinted += p.tinted(y, x);
        if (y > L.plot_top && y < L.plot_bottom && x > L.plot_left && x < L.plot_right) note_ink += p.is_grey(y, x, 0x88);
      }
    EXPECT_EQ(tinted, 0);
    EXPECT_GT(note_ink, 30);  // "no data"
    EXPECT_TRUE(p.is_grey(L.plot_top, (L.plot_left + L.plot_right) / 2, 0xdd));  // the frame
  }
}

TEST(PngChart, LogScale) {
  // y <= 0 cannot be drawn on a log axis: left out, a gap.
  const std::vector<ChartSeries> series{{"loss", {1, 2, 3, 4, 5}, {10, 1, 0, -1, 0.01}}};
  const ChartOptions options{"log", "step", "loss", 640, 400, true};
  const PngChartLayout L = line_chart_layout(series, options);
  EXPECT_DOUBLE_EQ(L.y.lo, 0.01);
  EXPECT_DOUBLE_EQ(L.y.hi, 10);
  EXPECT_EQ(L.y.labels, (std::vector<std::string>{"0.01", "0.1", "1", "10"}));
  EXPECT_NEAR(L.y_pixel(1), L.plot_bottom + 0.5 - 2.0 / 3.0 * (L.plot_bottom - L.plot_top), 1e-9);
  const Picture p(render_line_chart(series, options));
  // The segment from (1, 10) to (2, 1) is straight on the log axis: at x = 1.5 it is at sqrt(10).
  EXPECT_TRUE(p.bluish(int(std::floor(L.y_pixel(std::sqrt(10.0)))), int(std::floor(L.x_pixel(1.5)))));
  // Nothing between x = 2.5 and 4.5 (points 3 and 4 are left out; 5 stands alone as a dot).
  for (int c = int(L.x_pixel(2) + 5); c <= int(L.x_pixel(5) - 5); ++c)
    for (int row = L.plot_top; row < L.plot_bottom; ++row) ASSERT_FALSE(p.bluish(row, c)) << c;
  EXPECT_TRUE(p.bluish(int(L.y_pixel(0.01)) - 1, int(L.x_pixel(5)) - 1));
}

TEST(PngChart, LogXScale) {
  // FID against sampling steps: x = 10, 100, 1000 sit evenly on a log x axis
  // of whole decades; x <= 0 cannot be drawn, so it is left out.
  const std::vector<ChartSeries> series{{"fid", {0, 10, 100, 1000}, {5, 30, 20, 10}}};
  ChartOptions options{"log x", "steps", "fid", 640, 400};
  options.log_x = true;
  const PngChartLayout L = line_chart_layout(series, options);
  EXPECT_DOUBLE_EQ(L.x.lo, 10);
  EXPECT_DOUBLE_EQ(L.x.hi, 1000);
  EXPECT_EQ(L.x.labels, (std::vector<std::string>{"10", "100", "1000"}));
  EXPECT_NEAR(L.x_pixel(100) - L.x_pixel(10), L.x_pixel(1000) - L.x_pixel(100), 1e-9);
  EXPECT_DOUBLE_EQ(L.y.lo, 10);  // the point at x = 0 (y = 5) is not in the y range either
  const Picture p(render_line_chart(series, options));
  // The segment from (10, 30) to (100, 20) is straight on the log axis: at x = sqrt(1000), y = 25.
  EXPECT_TRUE(p.bluish(int(std::floor(L.y_pixel(25))), int(std::floor(L.x_pixel(std::sqrt(1000.0))))));
  EXPECT_EQ(axis_title("steps", true), "steps (log scale)");
  EXPECT_EQ(axis_title("", true), "log scale");
  EXPECT_EQ(axis_title("steps", false), "steps");
}

TEST(PngChart, BadSizesAreErrors) {
  EXPECT_THROW(render_line_chart({}, {"t", "x", "y", 50, 50, false}), Error);
  EXPECT_THROW(render_line_chart({}, {"t", "x", "y", 640, 400, false}, {0}), Error);
  EXPECT_THROW(render_line_chart({}, {"t", "x", "y", 640, 400, false}, {1, 0.0}), Error);
  EXPECT_NO_THROW(render_line_chart({{"a", {0, 1}, {0, 1}}}, {"t", "x", "y", 120, 100, false}));
}

TEST(PngChart, PngFileReadsBackTheSamePixels) {
  ng::test::TempDir dir;
  std::vector<double> y;
  for (int i = 0; i < 200; ++i) y.push_back(2.0 * std::exp(-i / 50.0) + 0.1 * std::sin(i / 3.0));
  const std::vector<ChartSeries> series{{"train loss", range(200), y}, {"test loss", {0, 50, 100, 150, 199}, {2.1, 0.8, 0.4, 0.3, 0.25}}};
  const ChartOptions options{"VAE \xC3\xA9 loss", "step", "loss", 640, 400, true};
  const Tensor image = render_line_chart(series, options);
  const std::string path = dir.file("loss.png");
  save_line_chart_png(path, series, options);
  const Tensor back = load_image(path, 3);
  ASSERT_EQ(back.shape(), image.shape());
  const std::vector<float> a = image.to_vector<float>(), b = back.to_vector<float>();
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  EXPECT_LE(worst, 1.0f / 255.0f);
  EXPECT_GT(worst, 0.0f);  // anti-aliased edges are not all on the 8-bit levels
}
