#include "tools/run_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image.h"
#include "tools/progress.h"
#include "tools/run_config.h"

namespace fs = std::filesystem;

namespace ng::tools {

namespace {

// Takes the folder's lock, or says who holds it.
int lock_folder(const std::string& path) {
  const std::string lock = path + "/.lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  NG_CHECK(fd >= 0, "run folder ", path, ": cannot open its lock file ", lock, ": ", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {0};
    const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    throw Error("run folder " + path + " is in use by another training (process " +
                (n > 0 ? std::string(holder, size_t(n)) : std::string("?")) +
                "); wait for it to finish, or pass another --out");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for the message above; the lock holds without it.
  }
  return fd;
}

// True for "<name>.tmp.<digits>": an atomic write's temporary (engine/io/atomic_file.h).
// A temporary of engine/io/atomic_file.h ("<name>.tmp.<pid>") whose writer
// is gone: a killed write's. One of a live process (`nanogen sample` writing
// into samples/, which takes no lock) is left alone.
bool is_dead_write_temporary(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at + 5 == name.size() || name.size() - at - 5 > 9) return false;
  if (!std::all_of(name.begin() + long(at + 5), name.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  const pid_t pid = pid_t(std::stol(name.substr(at + 5)));
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// TensorBoard's name for a metrics row's value: the kind of row, then the
// column. Rows of training steps are "train/": the row kind "step" would
// read as if it were the step.
std::string tensorboard_tag(const std::string& kind, const std::string& column) {
  return (kind == "step" ? "train" : kind) + "/" + column;
}

}  // namespace

RunFolder::RunFolder(const std::string& path, bool resume, bool writer) : path_(path), writer_(writer) {
  NG_CHECK(resume || !fs::exists(last_checkpoint_path()), "run folder ", path_,
           " already holds a training run; pass --resume to continue it or --out to start another");
  if (!writer_) return;
  // Made (and locked, which writes a file) before any data is read or step
  // trained, so that an --out that cannot be written is refused at once.
  try {
    fs::create_directories(path_ + "/samples");
    fs::create_directories(path_ + "/checkpoints");
  } catch (const fs::filesystem_error& e) {
    throw Error("run folder " + path_ + ": cannot create it (" + e.code().message() + " at " + e.path1().string() +
                "); choose another --out");
  }
  lock_fd_ = lock_folder(path_);
  // With the lock held nobody else writes here: a temporary is a killed write's.
  for (const std::string& dir : {path_, path_ + "/checkpoints", path_ + "/samples"})
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && is_dead_write_temporary(entry.path().filename().string())) fs::remove(entry.path());
  log_.open(file("log.txt"), std::ios::app);
  std::ifstream existing(file("metrics.csv"));
  std::string header;
  if (resume && std::getline(existing, header)) {
    std::stringstream ss(header);
    for (std::string col; std::getline(ss, col, ',');) columns_.push_back(col);
  } else if (!resume) {
    // A new run: the curves of an earlier one that never saved a checkpoint go.
    fs::remove(file("metrics.csv"));
    fs::remove_all(file("tensorboard"));
  }
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

std::string RunFolder::sample_path(const std::string& stem, int64_t epoch) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_%03lld.png", (long long)epoch);
  return path_ + "/samples/" + stem + buf;
}

void RunFolder::save_sample_grid(const std::string& stem, int64_t epoch, int64_t step, const Tensor& images,
                                 int64_t nrow) {
  if (!writer_) return;
  // Encoded once, for the PNG file and for TensorBoard.
  const std::vector<uint8_t> png = encode_png(make_image_grid(images, nrow));
  write_file_atomically(sample_path(stem, epoch), png.data(), png.size());
  tensorboard().add_image("samples/" + stem, png, step);
}

TensorBoardWriter& RunFolder::tensorboard() {
  if (!tensorboard_) tensorboard_ = std::make_unique<TensorBoardWriter>(file("tensorboard"));
  return *tensorboard_;
}

void RunFolder::write_config(const nlohmann::json& config) const {
  if (!writer_) return;
  const std::string text = config.dump(2) + "\n";
  write_file_atomically(file("config.json"), text.data(), text.size());
}

nlohmann::json RunFolder::read_config() const {
  return read_run_config(path_, "run folder " + path_);
}

void RunFolder::log(const std::string& line) {
  if (!writer_) return;
  if (!quiet()) std::fprintf(stderr, "%s\n", line.c_str());
  append_to_log(line);
}

void RunFolder::warn(const std::string& line) {
  if (!writer_) return;
  std::fprintf(stderr, "warning: %s\n", line.c_str());
  append_to_log("warning: " + line);
}

void RunFolder::append_to_log(const std::string& line) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  log_ << std::put_time(std::localtime(&now), "%F %T ") << line << '\n';
  log_.flush();
}

void RunFolder::declare_metrics(const std::vector<std::string>& columns) {
  if (!writer_) return;
  std::vector<std::string> want{"kind"};
  want.insert(want.end(), columns.begin(), columns.end());
  auto joined = [](const std::vector<std::string>& cols) {
    std::string line;
    for (size_t i = 0; i < cols.size(); ++i) line += (i ? "," : "") + cols[i];
    return line;
  };
  if (!columns_.empty()) {
    const bool prefix = columns_.size() <= want.size() && std::equal(columns_.begin(), columns_.end(), want.begin());
    NG_CHECK(prefix, "run folder ", path_, ": metrics.csv has the columns ", joined(columns_),
             ", which this trainer's columns ", joined(want), " do not extend");
    if (columns_.size() < want.size()) extend_metrics_header(want);
    return;
  }
  columns_ = want;
  std::ofstream out(file("metrics.csv"), std::ios::app);
  out << joined(columns_) << '\n';
}

// A run made by an earlier version, which wrote fewer columns: the file is
// rewritten (atomically) with the new header and its rows padded with blank
// fields, so that every row keeps as many fields as the header.
void RunFolder::extend_metrics_header(const std::vector<std::string>& want) {
  std::ifstream in(file("metrics.csv"));
  std::string line, text;
  std::getline(in, line);  // the old header
  for (size_t i = 0; i < want.size(); ++i) text += (i ? "," : "") + want[i];
  text += '\n';
  const std::string padding(want.size() - columns_.size(), ',');
  while (std::getline(in, line))
    if (!line.empty()) text += line + padding + '\n';
  in.close();
  write_file_atomically(file("metrics.csv"), text.data(), text.size());
  columns_ = want;
}

void RunFolder::metrics(const std::map<std::string, double>& row, const std::string& kind) {
  if (!writer_) return;
  NG_CHECK(!columns_.empty(), "metrics: declare_metrics was not called");
  std::ofstream out(file("metrics.csv"), std::ios::app);
  for (const auto& [k, v] : row)
    NG_CHECK(std::find(columns_.begin(), columns_.end(), k) != columns_.end(), "metrics: column '", k,
             "' is not in ", file("metrics.csv"), "'s header");
  out << kind;
  for (size_t i = 1; i < columns_.size(); ++i) {
    out << ',';
    auto it = row.find(columns_[i]);
    if (it != row.end()) out << std::setprecision(7) << it->second;
  }
  out << '\n';
  out.close();  // the row is in metrics.csv before it is in TensorBoard's file

  // "step" is the event's step and "epoch" a position, not a measurement.
  const auto step = row.find("step");
  if (step == row.end()) return;  // no place on TensorBoard's step axis
  std::map<std::string, double> scalars;
  for (const auto& [column, value] : row)
    if (column != "step" && column != "epoch") scalars[tensorboard_tag(kind, column)] = value;
  tensorboard().add_scalars(scalars, int64_t(step->second));
}

void RunFolder::drop_metrics_after(int64_t step) {
  if (!writer_) return;
  std::ifstream in(file("metrics.csv"));
  std::string header;
  if (!std::getline(in, header)) return;
  std::vector<std::string> columns;
  std::stringstream hs(header);
  for (std::string col; std::getline(hs, col, ',');) columns.push_back(col);
  const auto step_column = std::find(columns.begin(), columns.end(), "step");
  if (step_column == columns.end()) return;
  const size_t at = size_t(step_column - columns.begin());
  std::string kept = header + "\n", line;
  bool dropped = false;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::string cell;  // the row's field in the step column
    for (size_t i = 0; i <= at; ++i) std::getline(ls, cell, ',');
    char* end = nullptr;
    const double row_step = std::strtod(cell.c_str(), &end);
    if (end != cell.c_str() && row_step > double(step)) {
      dropped = true;
      continue;
    }
    kept += line + "\n";
  }
  in.close();
  if (dropped) write_file_atomically(file("metrics.csv"), kept.data(), kept.size());
}

void RunFolder::save_checkpoint(const NamedTensors& tensors, const Metadata& metadata, int64_t epoch,
                                bool epoch_end) const {
  if (!writer_) return;
  save_safetensors(last_checkpoint_path(), tensors, metadata);
  if (epoch_end) {
    char name[64];
    std::snprintf(name, sizeof name, "/checkpoints/epoch_%03lld.safetensors", (long long)epoch);
    save_safetensors(path_ + name, tensors, metadata);
  }
}

std::optional<SafetensorsContent> RunFolder::load_last_checkpoint() const {
  if (!fs::exists(last_checkpoint_path())) return std::nullopt;
  return load_safetensors(last_checkpoint_path());
}

NamedTensors with_prefix_removed(const NamedTensors& all, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [n, t] : all)
    if (n.rfind(prefix, 0) == 0) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}

NamedTensors without_prefixes(const NamedTensors& all, const std::vector<std::string>& prefixes) {
  NamedTensors out;
  for (const auto& [n, t] : all) {
    bool skip = false;
    for (const std::string& p : prefixes) skip = skip || n.rfind(p, 0) == 0;
    if (!skip) out.emplace_back(n, t);
  }
  return out;
}

NamedTensors with_prefix(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [n, t] : tensors) out.emplace_back(prefix + n, t);
  return out;
}

}  // namespace ng::tools
