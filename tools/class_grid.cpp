#include "tools/class_grid.h"

#include <algorithm>
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

GridNoise grid_noise(int64_t classes, const Shape& shape, Generator& gen, TensorOptions opts) {
  Shape batch = shape;
  batch.insert(batch.begin(), classes > 0 ? 8 : 64);
  const Tensor draws = randn(batch, gen, opts);
  if (classes == 0) return {draws, {}};
  return {repeat_rows(draws, classes), class_rows(all_classes(classes), 8)};
}

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

std::string lower(const std::string& s) {
  std::string out;
  for (const unsigned char ch : s) out += char(std::tolower(ch));
  return out;
}

// The word without spaces around it.
std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

int64_t parse_one(const std::string& word, int64_t count, const std::vector<std::string>& names) {
  const std::string key = folded(word), bare = trimmed(word);
  NG_CHECK(!key.empty(), "--class: '", word, "' names no class; expected ", listing(count, names));
  // A name as written first (an image folder's classes may be named "10", "2", ...),
  // then an index, then, for a word with letters, a name without regard to
  // case and punctuation, the one name it begins, or the one it is part of.
  for (int64_t c = 0; c < int64_t(names.size()); ++c)
    if (lower(names[size_t(c)]) == lower(bare)) return c;
  if (bare.find_first_not_of("0123456789") == std::string::npos) {
    const int64_t c = bare.size() <= 6 ? std::stoll(bare) : count;
    NG_CHECK(c < count, "--class: ", bare, " is not a class; expected ", listing(count, names));
    return c;
  }
  NG_CHECK(std::any_of(key.begin(), key.end(), [](unsigned char ch) { return std::isalpha(ch); }), "--class: '",
           bare, "' is neither a class index nor a name; expected ", listing(count, names));
  for (int64_t c = 0; c < int64_t(names.size()); ++c)
    if (folded(names[size_t(c)]) == key) return c;
  std::vector<int64_t> starts, contains;
  for (int64_t c = 0; c < int64_t(names.size()); ++c) {
    const std::string name = folded(names[size_t(c)]);
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
