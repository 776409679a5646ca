#include "tools/png_chart.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "engine/error.h"
#include "engine/io/image.h"
#include "tools/bitmap_font.h"

namespace ng::tools {

namespace {

// ---- Colours and the canvas ----

struct Rgb {
  float r = 0, g = 0, b = 0;
};

constexpr Rgb grey(int level) { return {level / 255.0f, level / 255.0f, level / 255.0f}; }

// The SVG chart's greys, by their part.
constexpr Rgb kBackground = grey(255), kGrid = grey(0xe6), kAxis = grey(0x88), kTitleInk = grey(0x22),
              kLabelInk = grey(0x33), kTickInk = grey(0x55), kNoDataInk = grey(0x88), kFrameFill = grey(0xfa),
              kFrameEdge = grey(0xdd);

// "#rrggbb", the form series_colour gives.
Rgb parse_colour(const std::string& hex) {
  const auto channel = [&](size_t at) { return float(std::stoi(hex.substr(at, 2), nullptr, 16)) / 255.0f; };
  return {channel(1), channel(3), channel(5)};
}

// An RGB picture being drawn: three planes of floats in [0, 1], laid out like
// the [3, H, W] tensor it becomes. Drawing outside it does nothing.
class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width), height_(height), pixels_(3 * size_t(width) * size_t(height), 0.0f) {
    fill(0, 0, width, height, kBackground);
  }

  // Paints `colour` over pixel (x, y) with opacity `alpha`: 1 replaces the
  // pixel, 0.5 mixes the two half and half, 0 leaves it.
  void blend(int x, int y, Rgb colour, float alpha) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_ || !(alpha > 0)) return;
    const size_t plane = size_t(width_) * size_t(height_), at = size_t(y) * size_t(width_) + size_t(x);
    const float value[3] = {colour.r, colour.g, colour.b};
    for (size_t c = 0; c < 3; ++c) {
      float& p = pixels_[c * plane + at];
      p = alpha >= 1 ? value[c] : p + (value[c] - p) * alpha;
    }
  }

  // The rectangle of columns [x0, x1) and rows [y0, y1), in one colour.
  void fill(int x0, int y0, int x1, int y1, Rgb colour) {
    for (int y = std::max(y0, 0); y < std::min(y1, height_); ++y)
      for (int x = std::max(x0, 0); x < std::min(x1, width_); ++x) blend(x, y, colour, 1);
  }

  int width() const { return width_; }
  int height() const { return height_; }
  Tensor to_tensor() const { return from_vector(pixels_, {3, height_, width_}); }

 private:
  int width_, height_;
  std::vector<float> pixels_;
};

// ---- Text ----

// Calls ink(u, v) for each inked font pixel of a line of text, u counting
// font pixels to the right and v down from the line's top left corner.
template <class Ink>
void for_each_ink(std::string_view text, Ink ink) {
  int pen = 0;  // where the next character starts
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;  // inside a UTF-8 sequence: its lead byte drew a '?'
    for (int v = 0; v < font::kGlyphHeight; ++v)
      for (int u = 0; u < font::kGlyphWidth; ++u)
        if (font::glyph_pixel(c, u, v)) ink(pen + u, v);
    pen += font::kAdvance;
  }
}

// `text` with its top left corner at (x, y), each font pixel a scale x scale square.
void draw_text(Canvas& canvas, int x, int y, std::string_view text, int scale, Rgb colour) {
  for_each_ink(text, [&](int u, int v) {
    canvas.fill(x + u * scale, y + v * scale, x + (u + 1) * scale, y + (v + 1) * scale, colour);
  });
}

// `text` turned a quarter turn anticlockwise, to read upwards (a y-axis label),
// filling a box text_height wide and text_width tall whose top left corner is
// (x, y). The text's top faces left: font pixel (u, v) goes to column x + v and
// row bottom - u.
void draw_text_up(Canvas& canvas, int x, int y, std::string_view text, int scale, Rgb colour) {
  const int bottom = y + font::text_width(text, scale);  // one past the box's last row
  for_each_ink(text, [&](int u, int v) {
    canvas.fill(x + v * scale, bottom - (u + 1) * scale, x + (v + 1) * scale, bottom - u * scale, colour);
  });
}

// ---- Lines ----
//
// How the series are drawn. Bresenham's algorithm steps along a line picking
// one pixel per column (or row): a 1-pixel line with hard, jagged edges.
// Xiaolin Wu's algorithm shares each step's ink between the two nearest pixels
// by how near each is: smooth, but 1 pixel wide, and thickening it is fiddly.
// We use a third way, simple to get right for any width: a stroke of width w
// is every point within r = w/2 of the segment, so each pixel takes ink by
// the distance d from its centre to the segment: all of it when d <= r - 1/2,
// none when d >= r + 1/2, and linearly in between (a ramp one pixel wide: the
// anti-aliasing). Segment ends come out round, so consecutive segments join
// without notches, and a segment of length zero is a round dot. The price is
// a visit to every pixel of each segment's bounding box, small for the short
// segments of a curve with many points.
//
// A series is drawn into a coverage mask first (the share of each pixel the
// series covers: the most any of its segments covers), then painted in its
// colour once. Painting segment by segment would ink the pixels where two
// segments overlap at a joint twice, and show darker beads along the line.

// The distance from point p to the segment from a to b.
double distance_to_segment(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay, length2 = dx * dx + dy * dy;
  // The nearest point of the segment is a + t (b - a), t in [0, 1].
  const double t = length2 > 0 ? std::clamp(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0) : 0.0;
  return std::hypot(px - (ax + t * dx), py - (ay + t * dy));
}

class Coverage {
 public:
  Coverage(int width, int height) : width_(width), height_(height), mask_(size_t(width) * size_t(height), 0.0f) {}

  // The points within `radius` of the segment from a to b (pixel coordinates:
  // pixel (x, y)'s centre is (x + 0.5, y + 0.5)).
  void stroke(double ax, double ay, double bx, double by, double radius) {
    const int x0 = std::max(0, int(std::floor(std::min(ax, bx) - radius - 1)));
    const int x1 = std::min(width_ - 1, int(std::ceil(std::max(ax, bx) + radius + 1)));
    const int y0 = std::max(0, int(std::floor(std::min(ay, by) - radius - 1)));
    const int y1 = std::min(height_ - 1, int(std::ceil(std::max(ay, by) + radius + 1)));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const double d = distance_to_segment(x + 0.5, y + 0.5, ax, ay, bx, by);
        float& share = mask_[size_t(y) * size_t(width_) + size_t(x)];
        share = std::max(share, float(std::clamp(radius + 0.5 - d, 0.0, 1.0)));
      }
  }
  void dot(double x, double y, double radius) { stroke(x, y, x, y, radius); }

  // Inks the pixels of columns [x0, x1) and rows [y0, y1) by their share.
  void paint(Canvas& canvas, Rgb colour, int x0, int y0, int x1, int y1) const {
    for (int y = std::max(y0, 0); y < std::min(y1, height_); ++y)
      for (int x = std::max(x0, 0); x < std::min(x1, width_); ++x)
        canvas.blend(x, y, colour, mask_[size_t(y) * size_t(width_) + size_t(x)]);
  }

 private:
  int width_, height_;
  std::vector<float> mask_;
};

// ---- Layout ----

constexpr int kMargin = 8;       // pixels between the picture's edge and what is drawn
constexpr int kTickLength = 4;   // pixels, outside the axes
constexpr int kMarkerLimit = 30;  // dots on the points of a series with at most this many (as in the SVG chart)
// A legend item: a swatch kSwatchWidth x kSwatchHeight, kSwatchGap to its
// name, kItemGap to the next item (all times text_scale).
constexpr int kSwatchWidth = 14, kSwatchHeight = 3, kSwatchGap = 5, kItemGap = 14;

}  // namespace

double PngChartLayout::x_pixel(double v) const { return plot_left + 0.5 + x.fraction(v) * (plot_right - plot_left); }
double PngChartLayout::y_pixel(double v) const { return plot_bottom + 0.5 - y.fraction(v) * (plot_bottom - plot_top); }

PngChartLayout line_chart_layout(const std::vector<ChartSeries>& series, const ChartOptions& o,
                                 const PngChartStyle& style) {
  NG_CHECK(o.width >= 120 && o.height >= 100 && o.width <= 8192 && o.height <= 8192, "line chart: ", o.width, "x",
           o.height, " pixels; expected from 120x100 to 8192x8192");
  NG_CHECK(style.text_scale >= 1 && style.text_scale <= 8, "line chart: text_scale ", style.text_scale,
           "; expected 1 to 8");
  const int s = style.text_scale, line = font::text_height(s);  // `line`: the height of a line of text
  PngChartLayout L;
  L.width = o.width, L.height = o.height;

  // The data's range, and which series have a point to draw.
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  std::vector<bool> has_points(series.size(), false);
  for (size_t i = 0; i < series.size(); ++i)
    for (size_t k = 0; k < std::min(series[i].x.size(), series[i].y.size()); ++k) {
      const double x = series[i].x[k], y = series[i].y[k];
      if (!drawable(x, y, o)) continue;
      has_points[i] = true;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  L.has_data = x_lo <= x_hi;

  // From the top: the title, then the legend, in rows that wrap at the right edge.
  L.title_x = kMargin, L.title_y = kMargin, L.title_scale = 2 * s;
  int y = kMargin;
  if (!o.title.empty()) y += font::text_height(L.title_scale) + 6;
  L.legend_top = y;
  int x = kMargin;
  for (size_t i = 0; i < series.size(); ++i) {
    if (!has_points[i]) continue;
    const int item_width = (kSwatchWidth + kSwatchGap) * s + font::text_width(series[i].name, s);
    if (x > kMargin && x + item_width > o.width - kMargin) x = kMargin, y += line + 5 * s;  // a new row
    L.legend.push_back({i, x, y});
    x += item_width + kItemGap * s;
  }
  if (!L.legend.empty()) y += line;
  L.legend_bottom = y;
  L.plot_top = y + 10 * s;

  // From the bottom: the x axis' title, its tick labels, its tick marks.
  const bool x_titled = !axis_title(o.x_label, o.log_x).empty(), y_titled = !axis_title(o.y_label, o.log_y).empty();
  L.plot_bottom = o.height - kMargin - (x_titled ? line + 5 * s : 0) - line - 2 * s - kTickLength - 1;
  L.plot_left = kMargin, L.plot_right = o.width - 1 - kMargin;
  if (!L.has_data) return L;

  // From the left: the y axis' title (turned), its tick labels, its tick marks.
  L.y = y_axis_layout(y_lo, y_hi, L.plot_bottom - L.plot_top, o.log_y);
  int label_width = 0;
  for (const std::string& label : L.y.labels) label_width = std::max(label_width, font::text_width(label, s));
  L.plot_left = kMargin + (y_titled ? line + 6 * s : 0) + label_width + 2 * s + kTickLength + 1;

  // The right edge: leave room for half of the last x tick label (centred on its tick).
  L.plot_right = o.width - 1 - kMargin - 4 * s;
  for (int attempt = 0; attempt < 2; ++attempt) {
    L.x = x_axis_layout(x_lo, x_hi, L.plot_right - L.plot_left, o.integer_x, o.log_x);
    if (L.x.ticks.empty()) break;
    const int overhang = int(L.x_pixel(L.x.ticks.back())) + font::text_width(L.x.labels.back(), s) / 2 -
                         (o.width - 1 - kMargin / 2);
    if (overhang <= 0) break;
    L.plot_right -= overhang;
  }
  NG_CHECK(L.plot_right - L.plot_left >= 16 && L.plot_bottom - L.plot_top >= 16, "line chart: ", o.width, "x",
           o.height, " pixels leave no room to plot in at text_scale ", s);
  return L;
}

Tensor render_line_chart(const std::vector<ChartSeries>& series, const ChartOptions& o, const PngChartStyle& style) {
  NG_CHECK(style.line_width > 0 && style.line_width <= 32, "line chart: line_width ", style.line_width,
           "; expected more than 0 and at most 32");
  const PngChartLayout L = line_chart_layout(series, o, style);
  const int s = style.text_scale, line = font::text_height(s);
  Canvas canvas(L.width, L.height);

  draw_text(canvas, L.title_x, L.title_y, o.title, L.title_scale, kTitleInk);
  for (const auto& item : L.legend) {
    const int swatch_top = item.y + (line - kSwatchHeight * s) / 2;
    canvas.fill(item.x, swatch_top, item.x + kSwatchWidth * s, swatch_top + kSwatchHeight * s,
                parse_colour(series_colour(item.series)));
    draw_text(canvas, item.x + (kSwatchWidth + kSwatchGap) * s, item.y, series[item.series].name, s, kLabelInk);
  }

  if (!L.has_data) {  // an empty frame that says so
    canvas.fill(L.plot_left, L.plot_top, L.plot_right + 1, L.plot_bottom + 1, kFrameEdge);
    canvas.fill(L.plot_left + 1, L.plot_top + 1, L.plot_right, L.plot_bottom, kFrameFill);
    const std::string note = "no data";
    draw_text(canvas, (L.plot_left + L.plot_right + 1 - font::text_width(note, s)) / 2,
              (L.plot_top + L.plot_bottom + 1 - line) / 2, note, s, kNoDataInk);
    return canvas.to_tensor();
  }

  // Grid lines across the plot at the ticks, tick marks outside it, and their labels.
  for (size_t i = 0; i < L.y.ticks.size(); ++i) {
    const int row = int(std::floor(L.y_pixel(L.y.ticks[i])));
    canvas.fill(L.plot_left, row, L.plot_right + 1, row + 1, kGrid);
    canvas.fill(L.plot_left - kTickLength, row, L.plot_left, row + 1, kAxis);
    const int width = font::text_width(L.y.labels[i], s);
    draw_text(canvas, L.plot_left - kTickLength - 2 * s - width, row - line / 2, L.y.labels[i], s, kTickInk);
  }
  const int x_labels_top = L.plot_bottom + 1 + kTickLength + 2 * s;
  for (size_t i = 0; i < L.x.ticks.size(); ++i) {
    const int column = int(std::floor(L.x_pixel(L.x.ticks[i])));
    canvas.fill(column, L.plot_top, column + 1, L.plot_bottom + 1, kGrid);
    canvas.fill(column, L.plot_bottom + 1, column + 1, L.plot_bottom + 1 + kTickLength, kAxis);
    const int width = font::text_width(L.x.labels[i], s);
    draw_text(canvas, std::clamp(column - width / 2, 0, L.width - width), x_labels_top, L.x.labels[i], s, kTickInk);
  }

  // The axes' titles: the x one centred under its tick labels, the y one turned, left of its tick labels.
  const std::string x_title = axis_title(o.x_label, o.log_x);
  const int x_title_width = font::text_width(x_title, s);
  draw_text(canvas, std::max(0, (L.plot_left + L.plot_right + 1 - x_title_width) / 2), x_labels_top + line + 5 * s,
            x_title, s, kLabelInk);
  const std::string y_title = axis_title(o.y_label, o.log_y);
  draw_text_up(canvas, kMargin, std::max(0, (L.plot_top + L.plot_bottom + 1 - font::text_width(y_title, s)) / 2),
               y_title, s, kLabelInk);

  // The series, one after the other: each run of drawable points as a line,
  // a run of one point as a dot, and dots on all points when there are few.
  const double radius = style.line_width / 2, dot_radius = radius + 2;
  for (size_t i = 0; i < series.size(); ++i) {
    const ChartSeries& data = series[i];
    std::vector<std::vector<std::pair<double, double>>> runs(1);  // in pixel coordinates
    size_t count = 0;
    for (size_t k = 0; k < std::min(data.x.size(), data.y.size()); ++k) {
      if (drawable(data.x[k], data.y[k], o)) {
        runs.back().emplace_back(L.x_pixel(data.x[k]), L.y_pixel(data.y[k]));
        ++count;
      } else if (!runs.back().empty()) {
        runs.emplace_back();  // a gap
      }
    }
    if (count == 0) continue;
    Coverage coverage(L.width, L.height);
    for (const auto& run : runs) {
      if (run.size() == 1) coverage.dot(run[0].first, run[0].second, dot_radius);
      for (size_t k = 1; k < run.size(); ++k)
        coverage.stroke(run[k - 1].first, run[k - 1].second, run[k].first, run[k].second, radius);
      if (style.markers && count <= size_t(kMarkerLimit))
        for (const auto& [px, py] : run) coverage.dot(px, py, dot_radius);
    }
    // Clipped to the plot area, to keep the tick marks and labels clear.
    coverage.paint(canvas, parse_colour(series_colour(i)), L.plot_left, L.plot_top, L.plot_right + 1, L.plot_bottom + 1);
  }

  // The axes last, over the ends of the lines.
  canvas.fill(L.plot_left, L.plot_top, L.plot_left + 1, L.plot_bottom + 1, kAxis);
  canvas.fill(L.plot_left, L.plot_bottom, L.plot_right + 1, L.plot_bottom + 1, kAxis);
  return canvas.to_tensor();
}

void save_line_chart_png(const std::string& path, const std::vector<ChartSeries>& series, const ChartOptions& options,
                         const PngChartStyle& style) {
  save_png(path, render_line_chart(series, options, style));
}

}  // namespace ng::tools
