#include "tools/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tools/html.h"

namespace ng::tools {

namespace {

// Where the plot area sits inside the chart.
struct Frame {
  double left = 64, right = 24, top = 0, bottom = 46;
};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Enough decimals to tell ticks `step` apart, no more.
std::string tick_label(double v, double step) {
  char buf[32];
  if (std::fabs(v) < step * 1e-6) v = 0;  // -0.000 from rounding
  const int decimals = step >= 1 ? 0 : int(std::ceil(-std::log10(step) - 1e-9));
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 8), v);
  return buf;
}

std::string log_tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A value on an axis to a pixel coordinate.
struct Axis {
  double lo, hi, from, to;  // data range -> pixel range
  bool log = false;
  double operator()(double v) const {
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi, u = log ? std::log10(v) : v;
    return from + (u - a) / (b - a) * (to - from);
  }
};

// 1, 2 or 5 times a power of ten, whichever is nearest range / target on a log scale.
double nice_step(double range, int target) {
  const double raw = range / std::max(target, 1);
  const double power = std::pow(10.0, std::floor(std::log10(raw))), r = raw / power;
  const double m = r >= std::sqrt(50.0) ? 10 : r >= std::sqrt(10.0) ? 5 : r >= std::sqrt(2.0) ? 2 : 1;
  return m * power;
}

}  // namespace

const std::string& series_colour(size_t i) {
  static const std::vector<std::string> palette{"#3b6fb6", "#e8702a", "#3a9a4a", "#d0413e",
                                                "#7b5ea7", "#2a9d9a", "#b8860b", "#8c564b"};
  return palette[i % palette.size()];
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double step = nice_step(hi - lo, target);
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> ticks;
  const bool fine = std::log10(hi / lo) < 2;
  for (int e = int(std::floor(std::log10(lo))); e <= int(std::ceil(std::log10(hi))); ++e)
    for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
      const double t = m * std::pow(10.0, e);
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
    }
  return ticks;
}

double AxisLayout::fraction(double v) const {
  const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi, u = log ? std::log10(v) : v;
  return (u - a) / (b - a);
}

bool drawable(double x, double y, const ChartOptions& o) {
  return std::isfinite(x) && std::isfinite(y) && !(o.log_x && x <= 0) && !(o.log_y && y <= 0);
}

std::string axis_title(const std::string& label, bool log) {
  if (!log) return label;
  return label.empty() ? "log scale" : label + " (log scale)";
}

AxisLayout x_axis_layout(double lo, double hi, double pixels, bool integer_x, bool log) {
  if (log) return y_axis_layout(lo, hi, pixels, true);
  AxisLayout axis;
  if (hi == lo) lo -= 1, hi += 1;
  axis.lo = lo, axis.hi = hi;
  const int target = std::max(2, int(pixels / 90));
  axis.ticks = nice_ticks(lo, hi, target);
  if (integer_x && nice_step(hi - lo, target) < 1) axis.ticks = nice_ticks(lo, hi, int(hi - lo));
  const double step = axis.ticks.size() > 1 ? axis.ticks[1] - axis.ticks[0] : 1;
  for (double t : axis.ticks) axis.labels.push_back(tick_label(t, step));
  return axis;
}

AxisLayout y_axis_layout(double lo, double hi, double pixels, bool log) {
  AxisLayout axis;
  axis.log = log;
  if (log) {
    axis.lo = std::pow(10.0, std::floor(std::log10(lo)));
    axis.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (axis.hi <= axis.lo) axis.hi = axis.lo * 10;
    axis.ticks = log_ticks(axis.lo, axis.hi);
    for (double t : axis.ticks) axis.labels.push_back(log_tick_label(t));
    return axis;
  }
  if (hi == lo) lo -= std::max(1.0, std::fabs(lo) * 0.1), hi += std::max(1.0, std::fabs(hi) * 0.1);
  const int target = std::max(2, int(pixels / 50));
  const double step = nice_step(hi - lo, target);
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  axis.ticks = nice_ticks(axis.lo, axis.hi, target);
  for (double t : axis.ticks) axis.labels.push_back(tick_label(t, step));
  return axis;
}

std::string svg_line_chart(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  // The points that can be drawn.
  std::vector<std::vector<std::pair<double, double>>> points(series.size());
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (size_t s = 0; s < series.size(); ++s)
    for (size_t i = 0; i < std::min(series[s].x.size(), series[s].y.size()); ++i) {
      const double x = series[s].x[i], y = series[s].y[i];
      if (!drawable(x, y, o)) continue;
      points[s].emplace_back(x, y);
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }

  std::ostringstream os;
  os << "<svg class=\"chart\" width=\"" << o.width << "\" height=\"" << o.height
     << "\" viewBox=\"0 0 " << o.width << ' ' << o.height << "\" role=\"img\" aria-label=\"" << html_escape(o.title)
     << "\" font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\" font-size=\"12\">\n";
  os << "<text x=\"4\" y=\"16\" font-size=\"14\" font-weight=\"600\" fill=\"#222\">" << html_escape(o.title)
     << "</text>\n";

  // The legend: one row under the title (text width estimated at 7 px a character).
  double lx = 8;
  for (size_t s = 0; s < series.size(); ++s) {
    if (points[s].empty()) continue;
    os << "<rect x=\"" << num(lx) << "\" y=\"27\" width=\"14\" height=\"4\" rx=\"1\" fill=\"" << series_colour(s)
       << "\"/><text x=\"" << num(lx + 19) << "\" y=\"33\" fill=\"#333\">" << html_escape(series[s].name)
       << "</text>\n";
    lx += 19 + 7.0 * double(series[s].name.size()) + 18;
  }

  Frame f;
  f.top = 46;
  const double px0 = f.left, px1 = o.width - f.right, py0 = f.top, py1 = o.height - f.bottom;
  if (x_lo > x_hi) {
    os << "<rect x=\"" << num(px0) << "\" y=\"" << num(py0) << "\" width=\"" << num(px1 - px0) << "\" height=\""
       << num(py1 - py0) << "\" fill=\"#fafafa\" stroke=\"#ddd\"/><text x=\"" << num((px0 + px1) / 2) << "\" y=\""
       << num((py0 + py1) / 2) << "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n";
    return os.str();
  }

  // Axis ranges: the data's, widened to round ticks (and to a non-empty range).
  const AxisLayout xa = x_axis_layout(x_lo, x_hi, px1 - px0, o.integer_x, o.log_x);
  const AxisLayout ya = y_axis_layout(y_lo, y_hi, py1 - py0, o.log_y);
  const std::vector<double>& xt = xa.ticks;
  const std::vector<double>& yt = ya.ticks;
  Axis X{xa.lo, xa.hi, px0, px1, o.log_x};
  Axis Y{ya.lo, ya.hi, py1, py0, o.log_y};

  // Grid, ticks and their labels.
  os << "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  for (double t : yt) os << "<line x1=\"" << num(px0) << "\" x2=\"" << num(px1) << "\" y1=\"" << num(Y(t)) << "\" y2=\"" << num(Y(t)) << "\"/>\n";
  for (double t : xt) os << "<line y1=\"" << num(py0) << "\" y2=\"" << num(py1) << "\" x1=\"" << num(X(t)) << "\" x2=\"" << num(X(t)) << "\"/>\n";
  os << "</g>\n<g fill=\"#555\">\n";
  for (size_t i = 0; i < yt.size(); ++i)
    os << "<text x=\"" << num(px0 - 6) << "\" y=\"" << num(Y(yt[i]) + 4) << "\" text-anchor=\"end\">"
       << ya.labels[i] << "</text>\n";
  for (size_t i = 0; i < xt.size(); ++i)
    os << "<text x=\"" << num(X(xt[i])) << "\" y=\"" << num(py1 + 16) << "\" text-anchor=\"middle\">" << xa.labels[i]
       << "</text>\n";
  os << "</g>\n";
  os << "<path d=\"M" << num(px0) << ' ' << num(py0) << "V" << num(py1) << "H" << num(px1)
     << "\" fill=\"none\" stroke=\"#888\"/>\n";
  os << "<text x=\"" << num((px0 + px1) / 2) << "\" y=\"" << num(o.height - 8.0) << "\" text-anchor=\"middle\" fill=\"#333\">"
     << html_escape(axis_title(o.x_label, o.log_x)) << "</text>\n";
  os << "<text transform=\"translate(14 " << num((py0 + py1) / 2) << ") rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">"
     << html_escape(axis_title(o.y_label, o.log_y)) << "</text>\n";

  // The series.
  for (size_t s = 0; s < series.size(); ++s) {
    if (points[s].empty()) continue;
    const std::string& colour = series_colour(s);
    os << "<polyline class=\"series\" data-series=\"" << html_escape(series[s].name) << "\" fill=\"none\" stroke=\""
       << colour << "\" stroke-width=\"1.8\" stroke-linejoin=\"round\" points=\"";
    for (const auto& [x, y] : points[s]) os << num(X(x)) << ',' << num(Y(y)) << ' ';
    os << "\"><title>" << html_escape(series[s].name) << "</title></polyline>\n";
    if (points[s].size() <= 30)
      for (const auto& [x, y] : points[s])
        os << "<circle cx=\"" << num(X(x)) << "\" cy=\"" << num(Y(y)) << "\" r=\"3\" fill=\"" << colour
           << "\"><title>" << html_escape(series[s].name) << ": " << log_tick_label(y) << " at " << log_tick_label(x)
           << "</title></circle>\n";
  }
  os << "</svg>\n";
  return os.str();
}

std::string svg_bars(const std::vector<double>& values, double max_value, const std::vector<std::string>& hover,
                     int width, int height) {
  std::ostringstream os;
  os << "<svg class=\"bars\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << ' ' << height << "\">";
  const double w = values.empty() ? 0 : double(width) / double(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = std::isfinite(values[i]) ? std::clamp(values[i] / max_value, 0.0, 1.0) : 0.0;
    const double h = std::max(1.0, v * (height - 1));
    os << "<rect x=\"" << num(double(i) * w + 0.5) << "\" y=\"" << num(height - h) << "\" width=\"" << num(w - 1)
       << "\" height=\"" << num(h) << "\" fill=\"" << series_colour(0) << "\">";
    if (i < hover.size()) os << "<title>" << html_escape(hover[i]) << "</title>";
    os << "</rect>";
  }
  os << "</svg>";
  return os.str();
}

}  // namespace ng::tools
