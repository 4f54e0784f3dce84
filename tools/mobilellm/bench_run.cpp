#include "bench_run.hpp"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <thread>

#include <fmt/core.h>

#include "bench_energy.hpp"
#include "bench_stats.hpp"
#include "bench_system.hpp"
#include "kernels/kernels.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"

namespace mobilellm::cli::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Nanoseconds from a to b, at least 1 (a rate needs a non-zero duration).
std::uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
  return ns > 0 ? std::uint64_t(ns) : 1;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json optional_number(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

void prefill_in_batches(Session& s, std::span<const std::int32_t> tokens, std::uint32_t n_batch) {
  for (std::size_t i = 0; i < tokens.size(); i += n_batch)
    s.prefill(tokens.subspan(i, std::min<std::size_t>(n_batch, tokens.size() - i)));
}

// What one test measured, before it becomes a row.
struct Measured {
  std::vector<std::uint64_t> samples_ns;  // timed part of each repetition
  std::vector<double> ttft_ms;            // per repetition
  std::vector<double> decode_ms;          // every decode step of every repetition
  std::uint64_t peak_rss = 0;
  std::string peak_rss_scope;
  std::uint64_t kv_bytes = 0;
  unsigned threads = 0;
  KvType kv_type = KvType::f32;
  std::string kernels;  // the session's (its attention kernel depends on the cache type)
  std::string test_time;
  std::uint64_t cpu_ns = 0;  // process CPU time over the timed spans of all repetitions
  Json energy;
};

// One test: warm-up, then `repetitions` times: reset, prefill the depth (untimed), prefill the
// prompt (timed), decode n_gen tokens one at a time (timed, each step on its own too).
Measured run_test(const std::shared_ptr<const Model>& model, const TestSpec& t, unsigned threads,
                  KvType kv_type, const Options& o, TestEnergy& energy) {
  Measured m;
  energy.start_test();
  m.test_time = iso8601_now();
  PeakRss rss;
  std::string why;
  release_free_memory();  // what earlier tests freed is not this test's memory
  m.peak_rss_scope = rss.reset(why) ? "test" : "process (" + why + ")";

  Session session(model, SessionOptions{std::uint32_t(t.context()), threads, kv_type});
  m.threads = session.threads();
  m.kv_bytes = session.kv_cache_bytes();
  m.kv_type = session.kv_type();
  m.kernels = session.kernels();

  // Fixed random ids from --seed: the same test sees the same tokens in every run.
  std::mt19937_64 rng(o.seed ^ (std::uint64_t(t.n_depth) << 42) ^
                      (std::uint64_t(t.n_prompt) << 21) ^ t.n_gen);
  const std::uint32_t vocab = model->config().vocab_size;
  auto draw = [&](std::uint32_t n) {
    std::vector<std::int32_t> ids(n);
    for (auto& id : ids) id = std::int32_t(rng() % vocab);
    return ids;
  };
  const auto depth = draw(t.n_depth), prompt = draw(t.n_prompt), gen = draw(t.n_gen);

  if (o.warmup) {  // as llama-bench: the prompt, and one generated token
    if (t.n_prompt > 0) prefill_in_batches(session, prompt, o.n_batch);
    if (t.n_gen > 0) session.decode_step(gen[0]);
    session.reset();
  }
  energy.idle(true);

  m.decode_ms.reserve(std::size_t(t.n_gen) * o.repetitions);
  for (std::uint32_t rep = 0; rep < o.repetitions; ++rep) {
    session.reset();
    if (t.n_depth > 0) prefill_in_batches(session, depth, o.n_batch);
    std::uint64_t prompt_ns = 0, gen_ns = 0;
    // Energy windows open and close outside the timed spans.
    if (t.n_prompt > 0) {
      energy.begin();
      const std::uint64_t cpu0 = process_cpu_ns();
      const auto t0 = Clock::now();
      prefill_in_batches(session, prompt, o.n_batch);
      const auto t1 = Clock::now();
      m.cpu_ns += process_cpu_ns() - cpu0;
      energy.end(Phase::prompt);
      prompt_ns = ns_between(t0, t1);
      m.ttft_ms.push_back(double(prompt_ns) / 1e6);  // the next token could be sampled now
    }
    if (t.n_gen > 0) {
      energy.begin();
      const std::uint64_t cpu0 = process_cpu_ns();
      const auto t0 = Clock::now();
      auto prev = t0;
      for (std::uint32_t i = 0; i < t.n_gen; ++i) {
        session.decode_step(gen[i]);
        const auto now = Clock::now();
        m.decode_ms.push_back(double(ns_between(prev, now)) / 1e6);
        prev = now;
      }
      gen_ns = ns_between(t0, prev);
      m.cpu_ns += process_cpu_ns() - cpu0;
      energy.end(Phase::gen);
      if (t.n_prompt == 0) m.ttft_ms.push_back(m.decode_ms[m.decode_ms.size() - t.n_gen]);
    }
    m.samples_ns.push_back(prompt_ns + gen_ns);
  }
  m.peak_rss = rss.read();
  energy.idle(false);
  m.energy = energy.report(std::uint64_t(t.n_prompt) * o.repetitions,
                           std::uint64_t(t.n_gen) * o.repetitions);
  return m;
}

Json make_row(const Json& identity, const ModelJob& job, const Model& model, const TestSpec& t,
              const Options& o, const Measured& m) {
  Json row = identity;
  for (const auto& [k, v] : job.fields.items()) row[k] = v;
  row["kernels"] = m.kernels;
  row["kernels_isa"] =
      model.file().weight_type().starts_with("W8A8")  // W8A8, W8A8G32
          ? kernels::select_qgemm(job.kernels.empty() ? nullptr : job.kernels.c_str()).isa
          : "none (float weights)";
  row["n_batch"] = o.n_batch;
  row["n_threads"] = m.threads;
  row["type_k"] = kv_type_name(m.kv_type);  // one element type for keys and values
  row["type_v"] = kv_type_name(m.kv_type);
  row["n_prompt"] = t.n_prompt;
  row["n_gen"] = t.n_gen;
  row["n_depth"] = t.n_depth;
  row["n_ctx"] = t.context();
  row["test"] = t.name();
  row["test_time"] = m.test_time;
  row["repetitions"] = o.repetitions;
  row["warmup"] = o.warmup;

  std::vector<double> ns(m.samples_ns.begin(), m.samples_ns.end());
  const std::vector<double> ts = rates(m.samples_ns, std::uint64_t(t.n_prompt) + t.n_gen);
  const auto sd_ns = sample_stddev(ns);
  row["avg_ns"] = std::uint64_t(std::llround(*mean(ns)));
  row["stddev_ns"] = sd_ns ? Json(std::uint64_t(std::llround(*sd_ns))) : Json(nullptr);
  row["avg_ts"] = *mean(ts);
  row["stddev_ts"] = optional_number(sample_stddev(ts));
  row["samples_ns"] = m.samples_ns;
  row["samples_ts"] = ts;

  row["load_ms"] = model.load_seconds() * 1e3;
  row["huge_page_bytes"] = model.file().huge_page_bytes();
  row["ttft_ms"] = optional_number(mean(m.ttft_ms));
  row["tg_latency_ms_p50"] = optional_number(percentile(m.decode_ms, 50));
  row["tg_latency_ms_p90"] = optional_number(percentile(m.decode_ms, 90));
  row["tg_latency_ms_p99"] = optional_number(percentile(m.decode_ms, 99));
  row["peak_rss_bytes"] = m.peak_rss;
  row["peak_rss_scope"] = m.peak_rss_scope;
  row["kv_cache_bytes"] = m.kv_bytes;
  // How much CPU the timed spans got: on a shared machine, far below 1 means contention.
  const double wall_ns = std::accumulate(ns.begin(), ns.end(), 0.0);
  row["cpu_time_ms"] = double(m.cpu_ns) / 1e6 / double(o.repetitions);
  row["cpu_utilization"] = double(m.cpu_ns) / (wall_ns * m.threads);
  row["energy"] = m.energy;
  if (o.energy_estimate) row["energy_estimate"] = energy_estimate(model.file().parameter_count());
  return row;
}

// The child's work: load, then every thread count and test.
void run_in_child(const ModelJob& job, const Options& o, const std::vector<TestSpec>& tests,
                  const Json& identity, const std::function<void(const Json&)>& emit) {
  LoadOptions load;
  load.kernels = job.kernels;
  auto model = Model::load(job.path, load);
  fmt::print(stderr, "bench: {}: loaded in {:.1f} ms; kernels: {}\n", job.label,
             model->load_seconds() * 1e3, model->kernels());
  // Nothing is timed while the weights are still moving onto huge pages (LoadOptions::huge_pages):
  // the tests measure the steady state.
  const auto settle0 = Clock::now();
  while (!model->file().huge_pages_settled() && Clock::now() - settle0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (model->file().huge_page_bytes() > 0)
    fmt::print(stderr, "bench: {}: {:.1f} MiB of weights on huge pages ({:.0f} ms after load)\n",
               job.label, double(model->file().huge_page_bytes()) / (1 << 20),
               double(ns_between(settle0, Clock::now())) / 1e6);
  TestEnergy energy(o);
  for (KvType kv : o.cache_types) {
    for (unsigned threads : o.threads) {
      for (const TestSpec& t : tests) {
        fmt::print(stderr, "bench: {} | threads {} | KV cache {} | {} | {}{} repetitions\n",
                   job.label, threads == 0 ? std::string("all") : std::to_string(threads),
                   kv_type_name(kv), t.name(), o.warmup ? "warm-up + " : "", o.repetitions);
        const Measured m = run_test(model, t, threads, kv, o, energy);
        emit(make_row(identity, job, *model, t, o, m));
      }
    }
  }
}

// Kills and reaps the child if the parent leaves early (an exception while reading).
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // Waits for the child to exit and returns its status.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) throw IoError(std::string("waitpid failed: ") + std::strerror(errno));
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

}  // namespace

std::string peak_rss_scope_probe() {
  PeakRss rss;
  std::string why;
  return rss.reset(why) ? "test" : "process (" + why + ")";
}

void run_model(const ModelJob& job, const Options& o, const std::vector<TestSpec>& tests,
               const Json& identity, const std::function<void(const Json&)>& on_row) {
  int fds[2];
  if (::pipe(fds) != 0) throw IoError(std::string("pipe failed: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw IoError(std::string("fork failed: ") + std::strerror(err));
  }
  if (pid == 0) {  // the child: one line per message, "R <row>" or "E <error>"
    ::close(fds[0]);
    std::FILE* out = ::fdopen(fds[1], "w");
    if (!out) ::_exit(3);
    int code = 0;
    auto fail = [&](ErrorCode c, const std::string& message) {
      std::fprintf(out, "E %s\n", dump(Json{{"code", int(c)}, {"message", message}}).c_str());
      code = 1;
    };
    try {
      run_in_child(job, o, tests, identity, [&](const Json& row) {
        std::fprintf(out, "R %s\n", dump(row).c_str());
        std::fflush(out);
      });
    } catch (const Error& e) {
      fail(e.code(), e.what());
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::out_of_memory, "out of memory");
    } catch (const std::exception& e) {
      fail(ErrorCode::internal, e.what());
    }
    std::fflush(out);
    std::fflush(stderr);
    ::_exit(code);
  }

  ChildGuard child(pid);
  ::close(fds[1]);
  std::FILE* in = ::fdopen(fds[0], "r");
  if (!in) {
    ::close(fds[0]);
    throw IoError(std::string("fdopen failed: ") + std::strerror(errno));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in_guard(in, std::fclose);
  std::optional<Error> child_error;
  struct LineBuffer {  // getline's buffer, freed however the loop ends
    char* data = nullptr;
    std::size_t capacity = 0;
    ~LineBuffer() { std::free(data); }
  } line;
  ssize_t len;
  while ((len = ::getline(&line.data, &line.capacity, in)) >= 0) {
    std::string_view msg(line.data, std::size_t(len));
    if (msg.ends_with('\n')) msg.remove_suffix(1);
    if (msg.starts_with("R ")) {
      on_row(Json::parse(msg.substr(2)));
    } else if (msg.starts_with("E ")) {
      const Json e = Json::parse(msg.substr(2));
      child_error.emplace(ErrorCode(e.at("code").get<int>()), e.at("message").get<std::string>());
    }
  }
  in_guard.reset();
  const int status = child.wait();
  if (child_error) throw *child_error;
  if (WIFSIGNALED(status))
    throw Error(ErrorCode::internal,
                fmt::format("{}: the benchmark process was killed by signal {} ({})", job.label,
                            WTERMSIG(status), strsignal(WTERMSIG(status))));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(ErrorCode::internal, fmt::format("{}: the benchmark process exited with status {}",
                                                 job.label, WEXITSTATUS(status)));
}

}  // namespace mobilellm::cli::bench
