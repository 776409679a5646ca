#include "tools/class_grid.h"

#include <cctype>
#include <sstream>

#include "engine/error.h"
#include "engine/ops/shape.h"

namespace ng::tools {

models::Labels class_rows(const std::vector<int64_t>& classes, int64_t per_row) {
  models::Labels labels;
  for (const int64_t c : classes) labels.insert(labels.end(), size_t(per_row), c);
  return labels;
}

std::vector<int64_t> all_classes(int64_t count) {
  std::vector<int64_t> every;
  for (int64_t c = 0; c < count; ++c) every.push_back(c);
  return every;
}

Tensor repeat_rows(const Tensor& noise, int64_t rows) { return cat(std::vector<Tensor>(size_t(rows), noise), 0); }

namespace {

// Lower-case letters and digits only.
std::string folded(const std::string& s) {
  std::string out;
  for (const unsigned char ch : s)
    if (std::isalnum(ch)) out += char(std::tolower(ch));
  return out;
}

std::string listing(int64_t count, const std::vector<std::string>& names) {
  std::ostringstream out;
  out << "0 to " << count - 1;
  if (!names.empty()) {
    out << " or one of:";
    for (int64_t c = 0; c < count; ++c) out << (c ? ", " : " ") << c << " " << names[size_t(c)];
  }
  return out.str();
}

int64_t parse_one(const std::string& word, int64_t count, const std::vector<std::string>& names) {
  const std::string key = folded(word);
  NG_CHECK(!key.empty(), "--class: '", word, "' names no class; expected ", listing(count, names));
  if (key.find_first_not_of("0123456789") == std::string::npos) {
    const int64_t c = key.size() <= 6 ? std::stoll(key) : count;
    NG_CHECK(c < count, "--class: ", word, " is not a class; expected ", listing(count, names));
    return c;
  }
  // An exact name, else the one name it begins, else the one name it is part of.
  std::vector<int64_t> starts, contains;
  for (int64_t c = 0; c < int64_t(names.size()); ++c) {
    const std::string name = folded(names[size_t(c)]);
    if (name == key) return c;
    if (name.rfind(key, 0) == 0) starts.push_back(c);
    if (name.find(key) != std::string::npos) contains.push_back(c);
  }
  const std::vector<int64_t>& found = starts.empty() ? contains : starts;
  NG_CHECK(found.size() == 1, "--class: '", word, "' ", found.empty() ? "matches no class" : "matches several classes",
           "; expected ", listing(count, names));
  return found[0];
}

}  // namespace

std::vector<int64_t> parse_classes(const std::string& text, int64_t count, const std::vector<std::string>& names) {
  NG_CHECK(count > 0, "--class: the model is not class-conditional (train it with --conditional)");
  if (folded(text) == "all") return all_classes(count);
  std::vector<int64_t> classes;
  std::stringstream in(text);
  for (std::string word; std::getline(in, word, ',');) classes.push_back(parse_one(word, count, names));
  NG_CHECK(!classes.empty(), "--class: no class named; expected ", listing(count, names));
  return classes;
}

}  // namespace ng::tools
