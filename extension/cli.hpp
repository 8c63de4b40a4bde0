#pragma once
/**
 * @file cli.hpp
 * The command line: Lambda mode (no subcommand) and the debug subcommands.
 */
namespace extension_runner::cli {

/** Parses argv and runs the chosen mode; returns the process exit code. */
int run(int argc, char** argv);

}  // namespace extension_runner::cli
