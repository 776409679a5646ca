// Ctrl-C during training: the first SIGINT/SIGTERM asks the loop to save a
// checkpoint and stop at the next step boundary; a second one exits at once.
#pragma once

namespace ng::tools {

void install_interrupt_handler();
bool interrupt_requested();
void clear_interrupt();  // for tests

}  // namespace ng::tools
