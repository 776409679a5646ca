#include "tools/suggest.h"

#include <CLI/CLI.hpp>

#include <algorithm>

namespace ng::tools {

int edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = int(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = int(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string closest_name(const std::string& typed_word, const std::vector<std::string>& known) {
  // An option's dashes are not part of what was mistyped.
  auto bare = [](const std::string& s) { return s.substr(std::min(s.find_first_not_of('-'), s.size())); };
  const std::string typed = bare(typed_word);
  std::string best;
  int best_distance = std::max<int>(1, int(typed.size()) / 3) + 1;
  for (const std::string& known_name : known) {
    const std::string name = bare(known_name);
    const int distance = name.rfind(typed, 0) == 0 && typed.size() >= 3 ? 0 : edit_distance(typed, name);
    if (distance < best_distance) {
      best_distance = distance;
      best = known_name;
    }
  }
  return best;
}

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string command_path(const std::vector<std::string>& path) {
  std::string out = "nanogen";
  for (const std::string& p : path) out += " " + p;
  return out;
}

}  // namespace

std::string command_line_hint(CLI::App& app, const std::vector<std::string>& words) {
  CLI::App* at = &app;
  std::vector<std::string> path;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--") break;
    if (word.size() > 1 && word[0] == '-') {
      const std::string name = word.substr(0, word.find('='));
      const CLI::Option* option = at->get_option_no_throw(name);
      if (option == nullptr) {
        std::vector<std::string> known;
        for (const CLI::Option* o : at->get_options())
          for (const std::string& l : o->get_lnames()) known.push_back("--" + l);
        const std::string guess = closest_name(name, known);
        return "'" + command_path(path) + "' has no option " + name +
               (guess.empty() ? "" : "; did you mean " + guess + "?") + " (see " + command_path(path) + " --help)";
      }
      // An option that takes a value, given as "--name value", skips the value.
      if (word.find('=') == std::string::npos && option->get_items_expected_min() > 0) ++i;
      continue;
    }
    std::vector<std::string> commands;
    for (CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) commands.push_back(sub->get_name());
    const auto sub = std::find(commands.begin(), commands.end(), word);
    if (sub != commands.end()) {
      at = at->get_subcommand(word);
      path.push_back(word);
      continue;
    }
    if (!commands.empty() && at->get_require_subcommand_min() > 0) {
      const std::string guess = closest_name(word, commands);
      return "'" + command_path(path) + "' has no command '" + word + "'" +
             (guess.empty() ? "" : "; did you mean '" + guess + "'?") + " (it has: " + joined(commands) + ")";
    }
  }
  if (at->get_require_subcommand_min() > 0) {  // the words stopped before a command
    std::vector<std::string> commands;
    for (CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) commands.push_back(sub->get_name());
    return "'" + command_path(path) + "' needs a command: " + joined(commands);
  }
  return "";
}

}  // namespace ng::tools
