// Reading a run's metrics.csv back (tools/run_folder.h writes it): a header
// row "kind,<columns...>", then one row per logged step ("step") and per
// epoch ("epoch"); a column a row does not report is empty.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ng::tools {

struct MetricsRow {
  std::string kind;
  std::map<std::string, double> values;  // the non-empty fields
  std::optional<double> number(const std::string& column) const;
};

struct MetricsTable {
  std::vector<std::string> columns;  // after "kind"
  std::vector<MetricsRow> rows;
  // (x, y) of the rows of `kind` that report both columns, in file order.
  std::vector<std::pair<double, double>> series(const std::string& kind, const std::string& y,
                                                const std::string& x = "step") const;
  // The column's value in the last row of `kind` that reports it.
  std::optional<double> last(const std::string& kind, const std::string& column) const;
  bool has_column(const std::string& column) const;
};

// Throws a clear error for a missing file, a bad header or a field that is
// not a number (naming the file and the line).
MetricsTable read_metrics_csv(const std::string& path);

}  // namespace ng::tools
