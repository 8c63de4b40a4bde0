#pragma once
/**
 * @file command_words.hpp
 * What a child's shell command (EXTENSION_RUNNER_COMMAND, run with `/bin/sh -c`) starts: its
 * words as the shell splits them, the program, and the script an interpreter is given. For
 * `extension-runner check`, which looks for those files in the layer.
 */
#include <optional>
#include <string>
#include <vector>

namespace extension_runner::cli {

/** One word of the child's shell command; `known` is false where /bin/sh would expand it. */
struct Word {
  std::string text;
  bool known = true;
};

/**
 * The words of the command's first simple command as /bin/sh splits them: quotes and backslashes
 * removed, ending at the first unquoted `;`, `&`, `|` or newline. A word holding an expansion,
 * a glob or a redirection (`$`, backquotes, `*`, `<`, …), or an unterminated quote, is marked
 * not `known`: what the program gets is not what is written.
 */
std::vector<Word> first_simple_command(const std::string& command);

/** The files a child command names: the program, and the script an interpreter is given. */
struct NamedFiles {
  std::optional<Word> program;
  std::optional<Word> script;
  bool sets_path = false;  ///< The command assigns PATH before the program.
};

/**
 * The program of `words` (after `NAME=value` words, `exec`, and `env` with its options and
 * assignments) and, when it is an interpreter (`python3`, `python3.12`, `node`, `sh`, `bash`,
 * `ruby`, `perl`, …), its script: the first word after its options, none when the code is given
 * inline or as a module (`-c`, `-m`, `-e`, `--eval`, `-p`, `--print`) or read from `-`.
 */
NamedFiles named_files(const std::vector<Word>& words);

}  // namespace extension_runner::cli
