#include "tools/metrics_csv.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace ng::tools {

namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream s(line);
  std::string field;
  while (std::getline(s, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

}  // namespace

std::optional<double> MetricsRow::number(const std::string& column) const {
  auto it = values.find(column);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<double, double>> MetricsTable::series(const std::string& kind, const std::string& y,
                                                             const std::string& x) const {
  std::vector<std::pair<double, double>> out;
  for (const MetricsRow& row : rows) {
    if (row.kind != kind) continue;
    const auto xv = row.number(x), yv = row.number(y);
    if (xv && yv) out.emplace_back(*xv, *yv);
  }
  return out;
}

std::optional<double> MetricsTable::last(const std::string& kind, const std::string& column) const {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    if (it->kind == kind)
      if (auto v = it->number(column)) return v;
  return std::nullopt;
}

bool MetricsTable::has_column(const std::string& column) const {
  return std::find(columns.begin(), columns.end(), column) != columns.end();
}

MetricsTable read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  NG_CHECK(in.good(), "metrics: cannot read ", path);
  std::string line;
  NG_CHECK(std::getline(in, line), "metrics: ", path, " is empty (expected a header row)");
  std::vector<std::string> header = split_fields(line);
  NG_CHECK(!header.empty() && header[0] == "kind", "metrics: ", path, " does not start with a 'kind,...' header");
  MetricsTable table;
  table.columns.assign(header.begin() + 1, header.end());
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::vector<std::string> fields = split_fields(line);
    NG_CHECK(fields.size() <= header.size(), "metrics: ", path, " line ", number, " has ", fields.size(),
             " fields, the header ", header.size());
    MetricsRow row;
    row.kind = fields[0];
    for (size_t i = 1; i < fields.size(); ++i) {
      if (fields[i].empty()) continue;
      char* end = nullptr;
      const double v = std::strtod(fields[i].c_str(), &end);
      NG_CHECK(end && *end == '\0', "metrics: ", path, " line ", number, ", column '", header[i], "': '", fields[i],
               "' is not a number");
      row.values[header[i]] = v;
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace ng::tools
