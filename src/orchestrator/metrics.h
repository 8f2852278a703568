// The daemon's metrics in the Prometheus text exposition format (version 0.0.4), which
// `promtool check metrics` accepts. Written here, not taken from a library: Debian has no
// C++ Prometheus client, and the format is a few lines of text per series.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace clawcage::orchestrator {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family; its name must match [a-zA-Z_:][a-zA-Z0-9_:]* (counters end in _total).
  void counter(const std::string& name, const std::string& help);
  void gauge(const std::string& name, const std::string& help);
  void histogram(const std::string& name, const std::string& help, std::vector<double> buckets);

  void add(const std::string& name, const Labels& labels, double value = 1);  // counters
  void set(const std::string& name, const Labels& labels, double value);      // gauges
  void observe(const std::string& name, const Labels& labels, double value);  // histograms
  // Drops a gauge family's series (gauges computed at scrape time are set afresh).
  void reset(const std::string& name);

  std::string render() const;
  // Series in the family (histograms count one per label set), for tests and the bench.
  size_t series(const std::string& name) const;

 private:
  struct Series {
    std::string labels;  // rendered: a="x",b="y"
    double value = 0;
    std::vector<uint64_t> buckets;  // histograms: cumulative at render
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    std::string type, help;
    std::vector<double> bounds;
    std::map<std::string, Series> series;
  };
  Series& at(const std::string& name, const Labels& labels, const char* type);
  std::map<std::string, Family> families_;
};

// One sample of the text format, as a reader (clawcage top, tests) sees it.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
// Every sample in a text exposition (comments and malformed lines skipped).
std::vector<Sample> parse_samples(const std::string& text);
// The sum of the samples named `name` whose labels include every pair in `want`.
double sum_samples(const std::vector<Sample>& samples, const std::string& name,
                   const std::map<std::string, std::string>& want = {});

// A label value for a user-chosen name (an agent): the first 8 hex digits of its SHA-256, so
// the name itself never reaches a metric, and at most `cap` distinct values; the names seen
// after that share "other".
class BoundedLabels {
 public:
  explicit BoundedLabels(size_t cap) : cap_(cap) {}
  std::string label(const std::string& name);
  size_t size() const { return labels_.size(); }

 private:
  size_t cap_;
  std::map<std::string, std::string> labels_;
};

}  // namespace clawcage::orchestrator
