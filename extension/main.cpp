#include <cstdio>

int main() {
  std::puts("extension-runner");
  return 0;
}
