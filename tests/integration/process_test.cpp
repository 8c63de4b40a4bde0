#include "extension_runner/runner/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace extension_runner;

namespace {
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("process: a child's output and exit code are captured") {
  SpawnOptions o;
  o.argv = shell_argv("read line; echo \"got $line $FOO\"; echo err >&2; exit 3");
  o.set_env["FOO"] = "bar";
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  const std::string input = "hello\n";
  REQUIRE(write_all(child->stdin_fd().get(), input.data(), input.size()).ok());
  child->stdin_fd().reset();
  CHECK(read_all(child->stdout_fd().get()) == "got hello bar\n");
  CHECK(read_all(child->stderr_fd().get()) == "err\n");
  auto status = child->wait();
  CHECK_FALSE(status.signaled);
  CHECK(status.code == 3);
}

TEST_CASE("process: the request pipe holds a 1 MiB line where the system allows it") {
  SpawnOptions o;
  o.argv = shell_argv("cat > /dev/null");
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  const int size = ::fcntl(child->stdin_fd().get(), F_GETPIPE_SZ);
  int max_size = 0;
  if (std::FILE* f = std::fopen("/proc/sys/fs/pipe-max-size", "r")) {
    if (std::fscanf(f, "%d", &max_size) != 1) max_size = 0;
    std::fclose(f);
  }
  INFO("pipe-max-size " << max_size);
  if (max_size >= (1 << 20)) {
    CHECK(size >= (1 << 20));
  } else {
    CHECK(size > 0);  // a lower ceiling keeps the default, and spawning still works
  }
  child->stdin_fd().reset();
  CHECK(child->wait().code == 0);
}

TEST_CASE("process: share_fd reaches the child as fd 3, stdio and other fds as before") {
  auto shared = make_pipe();
  REQUIRE(shared.ok());
  auto other = make_pipe();  // not shared: must be closed in the child
  REQUIRE(other.ok());
  SpawnOptions o;
  o.argv =
      shell_argv("echo to-shared >&3; echo to-stdout; if (echo x >&" +
                 std::to_string(other->write.get()) + ") 2>/dev/null; then echo leaked >&3; fi");
  o.share_fd = shared->write.get();
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  shared->write.reset();
  other->write.reset();
  child->stdin_fd().reset();
  CHECK(read_all(child->stdout_fd().get()) == "to-stdout\n");
  CHECK(read_all(shared->read.get()) == "to-shared\n");
  CHECK(child->wait().code == 0);
}

TEST_CASE("process: a missing program is an Io error, not a hang") {
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  auto child = ChildProcess::spawn(o);
  REQUIRE_FALSE(child.ok());
  CHECK(child.error().kind == ErrorKind::Io);
  CHECK_THAT(child.error().message, Catch::Contains("No such file"));
}

TEST_CASE("process: terminate escalates to SIGKILL for a child that ignores SIGTERM") {
  SpawnOptions o;
  o.argv = shell_argv("trap '' TERM; echo ready; while :; do sleep 1; done");
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  char c;
  REQUIRE(::read(child->stdout_fd().get(), &c, 1) == 1);  // the trap is installed
  auto status = child->terminate(std::chrono::milliseconds(300));
  CHECK(status.signaled);
  CHECK(status.code == SIGKILL);
}

TEST_CASE("process: destroying the owner kills the whole process group") {
  int grandchild_pidfd = -1;
  {
    SpawnOptions o;
    o.argv = shell_argv("sleep 30 & echo $!; wait");
    auto child = ChildProcess::spawn(o);
    REQUIRE(child.ok());
    std::string line;
    char c;
    while (::read(child->stdout_fd().get(), &c, 1) == 1 && c != '\n') line.push_back(c);
    const auto grandchild = static_cast<pid_t>(std::stoi(line));
    grandchild_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, grandchild, 0));
    REQUIRE(grandchild_pidfd >= 0);
  }
  // A pidfd becomes readable when its process terminates: await that, bounded.
  pollfd p{grandchild_pidfd, POLLIN, 0};
  CHECK(::poll(&p, 1, 5000) == 1);
  ::close(grandchild_pidfd);
}

TEST_CASE("process: GroupPeakRss sums the group's members and forgets those that leave") {
  SpawnOptions o;
  o.argv = shell_argv("sleep 30 & echo $!; wait; echo reaped; read x");
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  std::string line;
  char c;
  while (::read(child->stdout_fd().get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  const auto grandchild = static_cast<pid_t>(std::stoi(line));
  const pid_t group = child->pid();
  // `$!` is known once the shell forked, before the copy executes `sleep`; that exec starts a
  // new (smaller) peak, which would break the brackets below: wait for it.
  const std::string comm_path = "/proc/" + std::to_string(grandchild) + "/comm";
  const auto patience = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (read_file_text(comm_path) != "sleep\n") {
    REQUIRE(std::chrono::steady_clock::now() < patience);
    std::this_thread::yield();
  }
  std::vector<pid_t> members;
  const long scanned = group_peak_rss_kb(group, members);
  CHECK(scanned > 0);
  std::sort(members.begin(), members.end());
  CHECK(members == std::vector<pid_t>{std::min(group, grandchild), std::max(group, grandchild)});

  GroupPeakRss rss(std::chrono::hours(1));  // no rescan during the test
  // The first call scans. The members may still be starting (a peak only grows): bracket it.
  const long first = rss.measure(group);
  std::vector<pid_t> again;
  CHECK(first >= scanned);
  CHECK(first <= group_peak_rss_kb(group, again));
  REQUIRE(::kill(grandchild, SIGKILL) == 0);
  // The shell's `wait` returns once the grandchild is reaped; then only the shell is left.
  std::string reaped;
  while (reaped.find("reaped\n") == std::string::npos &&
         ::read(child->stdout_fd().get(), &c, 1) == 1) {
    reaped.push_back(c);
  }
  // Only the shell's own peak is left in the sum. The shell still runs between our reads (its
  // echo, its `read`), and a peak only grows: bracket the measurement instead of equating it.
  const long shell_before = peak_rss_kb(group);
  const long after = rss.measure(group);
  const long shell_later = peak_rss_kb(group);
  CHECK(after >= shell_before);
  CHECK(after <= shell_later);
}

TEST_CASE("process: a child spawned from a thread with SIGPIPE blocked starts with an empty mask") {
  // write_line_until leaves SIGPIPE blocked on its threads (line_writer.hpp); their children
  // must not inherit that.
  std::string mask_line;
  std::thread spawner([&] {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    SpawnOptions o;
    o.argv = shell_argv("grep '^SigBlk:' /proc/self/status");
    auto child = ChildProcess::spawn(o);
    REQUIRE(child.ok());
    child->stdin_fd().reset();
    mask_line = read_all(child->stdout_fd().get());
    CHECK(child->wait().code == 0);
  });
  spawner.join();
  REQUIRE(mask_line.rfind("SigBlk:", 0) == 0);
  CHECK(mask_line.find_first_not_of("0\t\n ", 7) == std::string::npos);
}
