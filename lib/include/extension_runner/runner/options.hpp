#pragma once
/**
 * @file options.hpp
 * What the host's settings say about the child runtime (EXTENSION_RUNNER_COMMAND and the
 * settings beside it): each default here is the one the settings table shows, with its reason.
 */
#include <cstddef>
#include <cstdint>
#include <string>

namespace extension_runner {

/** How the host paces `/next` against the child (EXTENSION_RUNNER_DISPATCH). */
enum class Dispatch {
  Sync,   ///< The next `/next` only after the child replied: an event is never lost behind it.
  Async,  ///< Requests queue; `/next` goes on at once.
};

/**
 * When the child's startup handshake happens (EXTENSION_RUNNER_CHILD_START): Init = before the
 * first `/next`, so a failure is an init/error and the function's init waits for it [EXT];
 * Background = beside the first `/next`: the function's init does not wait, events queue
 * behind the handshake, and a failure is an exit/error at the first event.
 */
enum class ChildStart { Init, Background };

/** The child runtime's settings. An empty `command` means no child. */
struct RunnerOptions {
  std::string command;  ///< Shell command of the child runtime; "" = write events to stdout.
  std::string handler;  ///< Passed to the child in StartupRequest.handler.
  /**
   * The child's working directory: EXTENSION_RUNNER_WORKING_DIR (from the file: relative to
   * its folder), else the configuration file's folder when a file was read, else "" (inherit
   * the host's).
   */
  std::string working_dir;
  /** The handshake budget: an interpreter's start plus imports, well under Lambda's 10 s init. */
  int64_t startup_timeout_ms = 5000;
  Dispatch dispatch = Dispatch::Sync;
  /** Init: a child that cannot start is reported before the function's first invoke. */
  ChildStart child_start = ChildStart::Init;
  /** Crashes in a row before the host gives up: one bad event should not end the extension. */
  int max_crashes = 3;
  /** Longest protocol line: Lambda's 6 MB payload limit, so a reply can echo any event. */
  size_t max_message_bytes = 6 * 1024 * 1024;
  std::string memory_size;  ///< AWS_LAMBDA_FUNCTION_MEMORY_SIZE, reported in billing.memory.
};

}  // namespace extension_runner
