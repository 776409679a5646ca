// The repository is self-contained: nothing in it cites a file outside it
// (the first design sketch lived beside the checkout, not in it), and every
// docs/*.md page a file names exists, as does every picture a page shows.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// The text files of the checkout (tests run in the source folder), without
// build output, version control and data.
std::vector<fs::path> source_files() {
  std::vector<fs::path> files;
  const std::vector<std::string> kinds = {".cpp", ".h", ".cu", ".cuh", ".md", ".py", ".sh", ".txt"};
  for (auto it = fs::recursive_directory_iterator("."); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name.starts_with(".") || name.starts_with("build") || name == "runs" ||
                               name == "data" || name == "__pycache__")) {
      it.disable_recursion_pending();
      continue;
    }
    const std::string ext = it->path().extension().string();
    if (it->is_regular_file() && (std::find(kinds.begin(), kinds.end(), ext) != kinds.end() || name == "run"))
      files.push_back(it->path());
  }
  return files;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Repository, NothingCitesAFileOutsideIt) {
  ASSERT_TRUE(fs::exists("CMakeLists.txt")) << "run from the source folder";
  // Spelt in pieces so that this file does not cite them itself.
  const std::vector<std::string> outside = {std::string("DESIGN") + ".md", std::string("../") + "shared/"};
  const std::vector<fs::path> files = source_files();
  ASSERT_GT(files.size(), 100u);
  for (const fs::path& f : files) {
    const std::string text = read(f);
    for (const std::string& name : outside) EXPECT_EQ(text.find(name), std::string::npos) << f << " cites " << name;
  }
}

TEST(Repository, EveryDocsPageNamedExists) {
  const std::regex page(R"(docs/[A-Za-z0-9_/-]+\.md)");
  int named = 0;
  for (const fs::path& f : source_files()) {
    const std::string text = read(f);
    for (auto m = std::sregex_iterator(text.begin(), text.end(), page); m != std::sregex_iterator(); ++m, ++named)
      EXPECT_TRUE(fs::exists(m->str())) << f << " names " << m->str() << ", which does not exist";
  }
  EXPECT_GT(named, 10);
  EXPECT_TRUE(fs::exists("docs/design.md"));
}

// Every picture a page shows (![...](path), relative to the page) is in the
// repository, and the pictures under docs/ stay small enough to clone: at
// most 3 MB in all.
TEST(Repository, EveryPictureAPageShowsExistsAndTheyStaySmall) {
  const std::regex picture(R"(!\[[^\]]*\]\(([^)\s]+)\))");
  int shown = 0;
  for (const fs::path& f : source_files()) {
    if (f.extension() != ".md") continue;
    const std::string text = read(f);
    for (auto m = std::sregex_iterator(text.begin(), text.end(), picture); m != std::sregex_iterator(); ++m) {
      const std::string target = (*m)[1].str();
      if (target.starts_with("http")) continue;
      ++shown;
      EXPECT_TRUE(fs::exists(f.parent_path() / target)) << f << " shows " << target << ", which does not exist";
    }
  }
  EXPECT_GT(shown, 10);
  uintmax_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator("docs"))
    if (entry.is_regular_file() && (entry.path().extension() == ".png" || entry.path().extension() == ".gif"))
      bytes += entry.file_size();
  EXPECT_LE(bytes, 3u << 20) << "the pictures under docs/ take " << bytes << " bytes";
}
