// extension-runner: an AWS Lambda extension host. Everything lives in lib/; the command line
// in cli.cpp. Exceptions stop here.
#include <exception>
#include <iostream>

#include "cli.hpp"

int main(int argc, char** argv) {
  try {
    return extension_runner::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "extension-runner: fatal: " << e.what() << '\n';
    return 1;
  }
}
