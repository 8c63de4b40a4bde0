#include "command_words.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <initializer_list>

namespace extension_runner::cli {
namespace {

// Unquoted, these make /bin/sh do more than split words (expansions, globs, redirections): the
// word it hands the program is not the word written.
bool is_shell_syntax(char c) { return std::strchr("$`(){}*?[]~!#<>", c) != nullptr; }

bool is_assignment(const std::string& word) {
  const auto eq = word.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (size_t i = 0; i < eq; ++i) {
    const auto c = static_cast<unsigned char>(word[i]);
    if (!(std::isalpha(c) || c == '_' || (i > 0 && std::isdigit(c)))) return false;
  }
  return true;
}

std::string basename_of(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

// Programs whose first argument that is not an option is a script file they run.
bool is_interpreter(const std::string& program) {
  std::string base = basename_of(program);
  while (!base.empty() &&
         (std::isdigit(static_cast<unsigned char>(base.back())) != 0 || base.back() == '.')) {
    base.pop_back();  // python3.12 → python
  }
  static const char* const kNames[] = {"python", "node", "nodejs", "sh",   "bash", "dash",
                                       "ash",    "ksh",  "zsh",    "ruby", "perl", "php"};
  return std::find(std::begin(kNames), std::end(kNames), base) != std::end(kNames);
}

bool is_one_of(const std::string& word, std::initializer_list<const char*> options) {
  return std::find(options.begin(), options.end(), word) != options.end();
}

}  // namespace

std::vector<Word> first_simple_command(const std::string& command) {
  std::vector<Word> words;
  Word word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    const bool escaped_next = c == '\\' && i + 1 < command.size();
    if (quote == '\'') {
      if (c == '\'')
        quote = 0;
      else
        word.text += c;
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else {
        if (c == '$' || c == '`') word.known = false;
        word.text += escaped_next ? command[++i] : c;
      }
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word = {};
      in_word = false;
    } else if (std::strchr(";&|\n", c) != nullptr) {
      break;
    } else {
      in_word = true;
      if (c == '\'' || c == '"') {
        quote = c;
      } else {
        if (is_shell_syntax(c)) word.known = false;
        word.text += escaped_next ? command[++i] : c;
      }
    }
  }
  if (quote != 0) word.known = false;  // /bin/sh refuses it; nothing here is what runs
  if (in_word) words.push_back(std::move(word));
  return words;
}

NamedFiles named_files(const std::vector<Word>& words) {
  size_t i = 0;
  NamedFiles files;
  for (; i < words.size() && is_assignment(words[i].text); ++i) {
    files.sets_path = files.sets_path || words[i].text.rfind("PATH=", 0) == 0;
  }
  if (i < words.size() && words[i].text == "exec") ++i;
  if (i < words.size() && words[i].text == "env") {
    ++i;
    while (i < words.size() && (words[i].text.rfind('-', 0) == 0 || is_assignment(words[i].text)))
      ++i;
  }
  if (i >= words.size()) return files;
  files.program = words[i];
  if (!words[i].known || !is_interpreter(words[i].text)) return files;
  size_t j = i + 1;
  while (j < words.size() && words[j].text.size() > 1 && words[j].text[0] == '-') {
    const std::string& option = words[j].text;
    // The code is on the command line or a module on the interpreter's path: no script file.
    if (is_one_of(option, {"-c", "-m", "-e", "--eval", "-p", "--print"})) return files;
    ++j;
    if (option == "--") break;
    if (is_one_of(option, {"-W", "-X", "-r", "--require", "--import", "--loader"})) ++j;
  }
  if (j < words.size() && words[j].text != "-") files.script = words[j];
  return files;
}

}  // namespace extension_runner::cli
