// "Did you mean": when the command line does not parse, the word it stumbled
// on and the known command or option closest to it (`nanogen train vea`:
// did you mean 'vae'?), instead of CLI11's bare "A subcommand is required".
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ng::tools {

// The number of single-character insertions, deletions, substitutions and
// swaps of neighbours that turn a into b (optimal string alignment).
int edit_distance(const std::string& a, const std::string& b);

// The known name closest to `typed`, if it is close enough to be a typo
// (within a third of its length, at least 1; or a prefix of it); else "".
std::string closest_name(const std::string& typed, const std::vector<std::string>& known);

// Walks the words after the program's name through `app`'s subcommands and
// options, as the parser would, to the first it does not know, and says
// what it is and what was probably meant; when the words stop where a
// command is required, lists the commands; "" when every word is known.
std::string command_line_hint(CLI::App& app, const std::vector<std::string>& words);

}  // namespace ng::tools
