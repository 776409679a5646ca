// Inline SVG charts for HTML reports: a line chart of one or more series
// with axes, ticks, labels and a legend, and a tiny bar chart. The output is
// an <svg> element that needs no script, style sheet or font beside it.
#pragma once

#include <string>
#include <vector>

namespace ng::tools {

struct ChartSeries {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite points (and y <= 0 on a log axis) are left out
};

struct ChartOptions {
  std::string title;
  std::string x_label, y_label;
  int width = 560, height = 320;  // pixels
  bool log_y = false;
  bool integer_x = false;  // ticks on whole numbers only (epochs)
  bool log_x = false;
};

// Whether the point (x, y) can be drawn: finite, and positive on a log axis.
bool drawable(double x, double y, const ChartOptions& options);
// An axis' title, with the scale said when it is logarithmic.
std::string axis_title(const std::string& label, bool log);

// One <polyline class="series"> per series that has a point to draw (with
// circles on the points when there are few of them), in the order given.
std::string svg_line_chart(const std::vector<ChartSeries>& series, const ChartOptions& options);

// Bars of `values` (each in [0, max_value]) side by side, with a hover text per
// bar: a compact picture of a histogram, e.g. for a table cell.
std::string svg_bars(const std::vector<double>& values, double max_value, const std::vector<std::string>& hover,
                     int width, int height);

// Round tick positions inside [lo, hi]: multiples of 1, 2 or 5 times a power
// of ten, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// Ticks of a log axis inside [lo, hi] (lo > 0): the powers of ten, and 2 and 5
// times them when the range spans less than two decades.
std::vector<double> log_ticks(double lo, double hi);

// An axis of a line chart, laid out: the value range it shows, its ticks and
// their labels. The SVG and the PNG charts (tools/png_chart.h) both use these,
// so the two pictures of one chart have the same axes.
struct AxisLayout {
  double lo = 0, hi = 1;  // the range shown, data values
  bool log = false;       // log10 scale
  std::vector<double> ticks;
  std::vector<std::string> labels;  // one per tick
  // Where v sits between lo (0) and hi (1), on the axis' scale.
  double fraction(double v) const;
};
// The x axis for data in [lo, hi] (lo <= hi; lo > 0 on a log axis) drawn
// `pixels` long: the data's range (1 either side when lo == hi), with round
// ticks about 90 pixels apart, on whole numbers only when `integer_x`; or, on
// a log axis, widened to whole decades, as the y axis is.
AxisLayout x_axis_layout(double lo, double hi, double pixels, bool integer_x, bool log = false);
// The y axis for data in [lo, hi] (lo <= hi; lo > 0 on a log axis) drawn
// `pixels` long: the range widened to round ticks about 50 pixels apart, or to
// whole decades on a log axis.
AxisLayout y_axis_layout(double lo, double hi, double pixels, bool log);

// The series' colours, in order (the legend and the lines use the same).
const std::string& series_colour(size_t i);

}  // namespace ng::tools
