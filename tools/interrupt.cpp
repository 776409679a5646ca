#include "tools/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>

namespace ng::tools {

static std::atomic<int> g_interrupts{0};

static void on_signal(int) {
  if (g_interrupts.fetch_add(1) >= 1) _exit(130);
  const char msg[] = "\ninterrupted: saving a checkpoint at the end of this step (press Ctrl-C again to quit now)\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupts.load() > 0; }
void clear_interrupt() { g_interrupts.store(0); }

}  // namespace ng::tools
