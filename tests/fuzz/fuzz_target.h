// A fuzz target hands arbitrary bytes to one of nanogen's readers, in the one
// function libFuzzer calls, LLVMFuzzerTestOneInput. Two drivers run each
// target:
//   - libFuzzer (tools/fuzz.sh, clang with the address and undefined-behaviour
//     sanitizers), which invents inputs for as long as it is let run;
//   - replay_main.cpp (any compiler), which replays the committed corpus and
//     every crash input ever found, as part of the normal test suite.
// The contract a target checks: a reader given any bytes either returns or
// throws ng::Error, whose message a user can act on. Any other exception, a
// crash, a hang, a sanitizer report or an allocation beyond libFuzzer's
// limit is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace ng::fuzz {

// A folder of this process's own (in /dev/shm where there is one, so that
// writing each input costs no disk I/O), removed at exit.
const std::string& scratch_folder();

// Writes the bytes to scratch_folder()/name, replacing what was there, and
// returns the file's path: nanogen's readers take paths, as users give them.
std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size);

// Runs read(): its refusal of bad input (ng::Error) is the expected outcome;
// anything else escaping is the bug the fuzzer looks for.
template <class Read>
void expect_clean_refusal(Read&& read) {
  try {
    read();
  } catch (const ng::Error&) {
  }
}

}  // namespace ng::fuzz
