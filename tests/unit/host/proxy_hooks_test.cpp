// The proxy's hooks over the child's dispatcher: fields copied across, the host's own Runner.*
// answers as hook failures, and concurrent hooks on extra children.
#include "extension_runner/host/proxy_hooks.hpp"

#include <catch2/catch.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "extension_runner/core/clock.hpp"

using namespace extension_runner;

namespace {

// Which child ran which request; a request whose event is "block" waits until released.
struct Children {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::pair<int, std::string>> runs;  // (child number, request id)
  int blocked = 0;
  bool release = false;
  bool ready = false;  // Invoker::ready(): the Dispatcher may run requests on the caller
  std::vector<std::thread::id> threads;  // the thread of each run
  std::vector<bool> measured;            // each run's InvokeRequest::measure_memory
  int cancelled = 0;                     // Invoker::cancel() calls
};

class ChildFake : public Invoker {
 public:
  ChildFake(Children* c, int number) : c_(c), number_(number) {}
  Result<InvokeReply> invoke(const InvokeRequest& request) override {
    std::unique_lock<std::mutex> lock(c_->mutex);
    c_->runs.emplace_back(number_, request.context.aws_request_id);
    c_->threads.push_back(std::this_thread::get_id());
    c_->measured.push_back(request.measure_memory);
    if (request.event_json == "\"block\"") {
      ++c_->blocked;
      c_->cv.notify_all();
      c_->cv.wait(lock, [&] { return c_->release || cancelled_; });
      if (cancelled_) return make_error(ErrorKind::Cancelled, "invoker cancelled");
    }
    InvokeReply reply;
    reply.invokeid = request.context.aws_request_id;
    reply.result_json = "\"child-" + std::to_string(number_) + "\"";
    return reply;
  }
  void shutdown(int64_t) override {}
  bool ready() const override { return c_->ready; }
  void cancel() override {
    std::lock_guard<std::mutex> lock(c_->mutex);
    cancelled_ = true;
    ++c_->cancelled;
    c_->cv.notify_all();
  }

 private:
  Children* c_;
  int number_;
  bool cancelled_ = false;
};

Dispatcher::InvokerFactory child_factory(Children* c, int* next_number) {
  return [c, next_number]() -> Result<std::unique_ptr<Invoker>> {
    return std::unique_ptr<Invoker>(std::make_unique<ChildFake>(c, (*next_number)++));
  };
}

// A main child and the hooks over it, with up to `max_extra` extra children; the children of a
// `ready` fake let requests run on their caller's thread (Invoker::ready).
struct HooksOverChildren {
  explicit HooksOverChildren(bool ready, size_t max_extra = 0) {
    children.ready = ready;
    REQUIRE(main.start(child_factory(&children, &next_number)).ok());
    hooks = std::make_unique<ProxyHooks>(main, child_factory(&children, &next_number), max_extra);
  }
  Children children;
  int next_number = 0;
  Dispatcher main;
  std::unique_ptr<ProxyHooks> hooks;
};

// Until `n` requests wait in a child ("block"), 20 s at most.
bool wait_blocked(Children& children, int n) {
  std::unique_lock<std::mutex> lock(children.mutex);
  return children.cv.wait_for(lock, std::chrono::seconds(20),
                              [&] { return children.blocked == n; });
}

HookCall call(const std::string& id, const std::string& event) {
  HookCall c;
  c.context.aws_request_id = id;
  c.event.head = event;
  c.deadline_ms = wall_clock_ms() + 20000;
  return c;
}

}  // namespace

TEST_CASE("proxy hooks: a hook call becomes the InvokeRequest with the same fields") {
  HookCall c = call("req-1", R"({"eventType":"REQUEST","payload":)");
  c.event.payload = std::make_shared<const std::string>(R"({"a":1})");
  c.event.end = "}";
  c.context.client_context_json = R"({"custom":{"a":"b"}})";
  c.context.identity = CognitoIdentity{"id-1", "pool-1"};
  c.context.invoked_function_arn = "arn:aws:lambda:eu-west-1:123:function:f";
  const InvokeRequest r = hook_request(c);
  CHECK(r.context.aws_request_id == "req-1");
  CHECK(r.context.client_context_json == c.context.client_context_json);
  REQUIRE(r.context.identity.has_value());
  CHECK(r.context.identity->cognito_identity_id == "id-1");
  CHECK(r.context.identity->cognito_identity_pool_id == "pool-1");
  CHECK(r.context.invoked_function_arn == c.context.invoked_function_arn);
  CHECK(r.event_json == c.event.head);
  CHECK(r.event_payload == c.event.payload);  // the same body: shared, not copied
  CHECK(r.event_end == "}");
  CHECK(r.event_compact);
  CHECK(r.deadline_ms == c.deadline_ms);
  CHECK_FALSE(hook_request(call("req-2", "{}")).context.identity.has_value());
}

TEST_CASE("proxy hooks: the host's Runner.* answers are hook failures, the child's are decisions") {
  struct Case {
    Result<InvokeReply> reply;
    bool failed;
    std::string errortype;
  };
  const auto reply = [](std::string errortype, bool errors) {
    InvokeReply r;
    r.result_json = R"({"ok":1})";
    r.errortype = std::move(errortype);
    r.errors = errors;
    r.billing.duration_ms = 0.375;
    return Result<InvokeReply>(r);
  };
  const std::vector<Case> cases = {
      {reply("", false), false, ""},
      {reply("Validation.Refused", true), false, "Validation.Refused"},
      {reply("Runner.Timeout", true), true, ""},
      {reply("Runner.Crashed", true), true, ""},
      {reply("Runner.ProtocolError", true), true, ""},
      {Result<InvokeReply>(make_error(ErrorKind::ChildCrashed, "crash limit")), true, ""},
  };
  for (const auto& c : cases) {
    const auto outcome = hook_outcome(c.reply);
    INFO((c.reply ? c.reply->errortype : c.reply.error().message));
    CHECK(outcome.ok() != c.failed);
    if (outcome) {
      CHECK(outcome->errortype == c.errortype);
      CHECK(outcome->result_json == R"({"ok":1})");
      CHECK(outcome->errors == !c.errortype.empty());
      CHECK(outcome->billed_ms == 0.375);  // the reply's billing.duration, as the host measured
    }
  }
}

TEST_CASE("proxy hooks: concurrent hooks do not wait on each other (extra children)") {
  // Queued on the children's workers, or run on the hooks' own threads (ready children).
  HooksOverChildren f(GENERATE(false, true), 2);
  Children& children = f.children;
  Dispatcher& main = f.main;
  ProxyHooks& hooks = *f.hooks;

  Result<HookReply> first = make_error(ErrorKind::Cancelled, "not run");
  std::thread blocked([&] { first = hooks.on_request(call("held", "\"block\"")); });
  REQUIRE(wait_blocked(children, 1));
  // The main child is held by the first hook: the second runs on an extra child meanwhile.
  const auto second = hooks.on_response(call("concurrent", "{}"));
  REQUIRE(second.ok());
  CHECK(second->result_json == "\"child-1\"");
  CHECK(hooks.extra_children() == 1);
  {
    std::lock_guard<std::mutex> lock(children.mutex);
    children.release = true;
    children.cv.notify_all();
  }
  blocked.join();
  REQUIRE(first.ok());
  CHECK(first->result_json == "\"child-0\"");
  // Idle again: the next hook uses the main child.
  const auto third = hooks.on_request(call("later", "{}"));
  REQUIRE(third.ok());
  CHECK(third->result_json == "\"child-0\"");
  hooks.stop(0);
  CHECK(hooks.extra_children() == 0);
  main.stop(0);
}

TEST_CASE("proxy hooks: without extra children a hook answers from the main child") {
  HooksOverChildren f(false);
  Children& children = f.children;
  ProxyHooks& hooks = *f.hooks;
  hooks.observe(call("copy", "{}"));
  const auto answer = hooks.on_request(call("hook", "{}"));
  REQUIRE(answer.ok());
  CHECK(answer->result_json == "\"child-0\"");
  CHECK(hooks.extra_children() == 0);
  std::lock_guard<std::mutex> lock(children.mutex);
  CHECK(children.runs == std::vector<std::pair<int, std::string>>{{0, "copy"}, {0, "hook"}});
}

TEST_CASE("proxy hooks: on an idle, ready child hooks and copies run on the calling thread") {
  HooksOverChildren f(true);
  Children& children = f.children;
  ProxyHooks& hooks = *f.hooks;
  const auto answer = hooks.on_request(call("hook", "{}"));
  REQUIRE(answer.ok());
  CHECK(answer->result_json == "\"child-0\"");
  hooks.observe(call("copy", "{}"));
  std::lock_guard<std::mutex> lock(children.mutex);
  CHECK(children.threads ==
        std::vector<std::thread::id>{std::this_thread::get_id(), std::this_thread::get_id()});
  // Their billing is discarded: no peak-RSS measurement asked for.
  CHECK(children.measured == std::vector<bool>{false, false});
}

TEST_CASE("proxy hooks: cancel() ends a hook held on its caller's thread, and later ones at once") {
  HooksOverChildren f(true);
  Children& children = f.children;
  ProxyHooks& hooks = *f.hooks;
  Result<HookReply> held = make_error(ErrorKind::Io, "not run");
  std::thread::id held_thread;
  std::thread caller([&] {
    held_thread = std::this_thread::get_id();
    held = hooks.on_request(call("held", "\"block\""));
  });
  REQUIRE(wait_blocked(children, 1));
  // No grace, and the hook's deadline is 20 s away: only cancel() can end it now.
  hooks.cancel(std::chrono::steady_clock::now());
  caller.join();
  REQUIRE_FALSE(held.ok());
  CHECK(held.error().kind == ErrorKind::Cancelled);
  CHECK_THAT(held.error().message, Catch::Contains("shutting down"));
  const auto later = hooks.on_response(call("later", "{}"));
  REQUIRE_FALSE(later.ok());
  CHECK(later.error().kind == ErrorKind::Cancelled);
  std::lock_guard<std::mutex> lock(children.mutex);
  REQUIRE(children.threads.size() == 1);
  CHECK(children.threads[0] == held_thread);  // it ran inline, not on the dispatcher's worker
}

TEST_CASE("proxy hooks: a hook answering within cancel()'s grace keeps its answer and its child") {
  HooksOverChildren f(true);
  Children& children = f.children;
  Dispatcher& main = f.main;
  ProxyHooks& hooks = *f.hooks;
  Result<HookReply> held = make_error(ErrorKind::Io, "not run");
  std::thread caller([&] { held = hooks.on_request(call("held", "\"block\"")); });
  REQUIRE(wait_blocked(children, 1));
  // A copy queued behind the held hook waits until cancel() sets its flag; only then is the
  // child let go, so the hook answers while cancel() is already under way.
  std::thread releaser([&] {
    hooks.observe(call("probe", "{}"));
    std::lock_guard<std::mutex> lock(children.mutex);
    children.release = true;
    children.cv.notify_all();
  });
  hooks.cancel(std::chrono::steady_clock::now() + std::chrono::seconds(20));
  caller.join();
  releaser.join();
  REQUIRE(held.ok());
  CHECK(held->result_json == "\"child-0\"");
  // The child was not ended: it still serves requests (the SHUTDOWN event, at the real one).
  InvokeRequest after;
  after.context.aws_request_id = "after";
  after.deadline_ms = wall_clock_ms() + 20000;
  const auto reply =
      main.submit(after).wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(20));
  REQUIRE(reply.has_value());
  REQUIRE(reply->ok());
  CHECK((*reply)->result_json == "\"child-0\"");
}

TEST_CASE("proxy hooks: abandon_observe() ends a copy held on the observe thread") {
  HooksOverChildren f(true);
  Children& children = f.children;
  ProxyHooks& hooks = *f.hooks;
  std::thread::id observe_thread;
  std::thread observer([&] {
    observe_thread = std::this_thread::get_id();
    hooks.observe(call("copy", "\"block\""));  // the child never answers it by itself
  });
  REQUIRE(wait_blocked(children, 1));
  hooks.abandon_observe();
  observer.join();
  std::lock_guard<std::mutex> lock(children.mutex);
  CHECK(children.cancelled == 1);
  REQUIRE(children.threads.size() == 1);
  CHECK(children.threads[0] == observe_thread);  // inline, so only cancel_inline could end it
}
