// Line charts as pictures: the chart that svg_line_chart draws for the HTML
// report (the same series, options, axes and colours), rasterised into an RGB
// image by our own small renderer, to be saved as a PNG in a run folder.
//
//   render_line_chart({{"train loss", steps, losses}, {"test loss", epoch_steps, test_losses}},
//                     {"VAE loss", "step", "loss", 640, 400, /*log_y=*/true})
//
// White background; light grid lines and 4-pixel tick marks at round values,
// with labels; the title at the top left and under it a legend (a swatch of
// each series' colour and its name); each series as a 2-pixel anti-aliased
// line through its points in the order given, with dots on the points when
// there are at most 30. Points whose x or y is NaN or infinite (or y <= 0 on a
// log axis) are left out and break the line; a point with no drawable
// neighbour is a dot. Lines and dots are clipped to the plot area (axes
// included). With no point to draw at all the chart is an empty frame
// that says "no data". Text is a 5x7 bitmap font (tools/bitmap_font.h).
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"
#include "tools/svg_chart.h"

namespace ng::tools {

// What only the picture needs beyond ChartOptions.
struct PngChartStyle {
  int text_scale = 1;       // each font pixel is text_scale x text_scale; the title is twice that
  double line_width = 2.0;  // pixels
  bool markers = true;      // dots on the points of a series with at most 30 of them
};

// Where render_line_chart puts things, in pixels (column x, row y, from the
// top left; pixel (x, y) covers [x, x+1) x [y, y+1)).
struct PngChartLayout {
  int width = 0, height = 0;
  // The plot area, edges included: the y axis is column plot_left, the x axis
  // row plot_bottom; the data range spans columns plot_left..plot_right and
  // rows plot_top..plot_bottom.
  int plot_left = 0, plot_right = 0, plot_top = 0, plot_bottom = 0;
  int title_x = 0, title_y = 0, title_scale = 1;  // the title's top left corner and text scale
  struct LegendItem {
    size_t series;  // index into the series given
    int x, y;       // the swatch's top left corner
  };
  std::vector<LegendItem> legend;  // the series that have a point to draw, in order
  int legend_top = 0, legend_bottom = 0;  // rows of the legend (bottom exclusive)
  bool has_data = false;                  // false: no axes, only the "no data" frame
  AxisLayout x, y;                        // ranges, ticks and tick labels
  // The continuous pixel coordinate of a data value: x.lo at the centre of
  // column plot_left, x.hi at the centre of column plot_right; y.lo at the
  // centre of row plot_bottom, y.hi at the centre of row plot_top.
  double x_pixel(double v) const;
  double y_pixel(double v) const;
};

// The layout of the chart render_line_chart draws. Throws ng::Error for a
// picture smaller than 120 x 100 pixels or larger than 8192 on a side, or a
// text_scale outside 1..8.
PngChartLayout line_chart_layout(const std::vector<ChartSeries>& series, const ChartOptions& options,
                                 const PngChartStyle& style = {});

// The chart as a float32 RGB image [3, options.height, options.width] in
// [0, 1] on the CPU. Series colours are series_colour(i), as in the SVG chart.
Tensor render_line_chart(const std::vector<ChartSeries>& series, const ChartOptions& options,
                         const PngChartStyle& style = {});

// render_line_chart, written to `path` with save_png (atomically).
void save_line_chart_png(const std::string& path, const std::vector<ChartSeries>& series,
                         const ChartOptions& options, const PngChartStyle& style = {});

}  // namespace ng::tools
