#include "orchestrator/metrics.h"

#include "base/hash.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace clawcage::orchestrator {

namespace {

// Label values escape backslash, double quote and newline (the exposition format's rule).
std::string escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out += k + "=\"" + escape(v) + "\"";
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string with(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return "{" + labels + "," + extra + "}";
}

}  // namespace

void Metrics::counter(const std::string& name, const std::string& help) {
  families_[name] = Family{"counter", help, {}, {}};
}

void Metrics::gauge(const std::string& name, const std::string& help) {
  families_[name] = Family{"gauge", help, {}, {}};
}

void Metrics::histogram(const std::string& name, const std::string& help,
                        std::vector<double> buckets) {
  families_[name] = Family{"histogram", help, std::move(buckets), {}};
}

Metrics::Series& Metrics::at(const std::string& name, const Labels& labels, const char* type) {
  // An undeclared family or a wrong type is a programming error, as a failed assert is.
  auto fit = families_.find(name);
  if (fit == families_.end() || fit->second.type != type) {
    fprintf(stderr, "clawcage: metric %s used as a %s but declared %s\n", name.c_str(), type,
            fit == families_.end() ? "nowhere" : fit->second.type.c_str());
    abort();
  }
  Family& f = fit->second;
  std::string key = render_labels(labels);
  auto [it, inserted] = f.series.try_emplace(key);
  if (inserted) {
    it->second.labels = key;
    it->second.buckets.assign(f.bounds.size(), 0);
  }
  return it->second;
}

void Metrics::add(const std::string& name, const Labels& labels, double value) {
  at(name, labels, "counter").value += value;
}

void Metrics::set(const std::string& name, const Labels& labels, double value) {
  at(name, labels, "gauge").value = value;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  Series& s = at(name, labels, "histogram");
  const auto& bounds = families_.find(name)->second.bounds;
  for (size_t i = 0; i < bounds.size(); ++i)
    if (value <= bounds[i]) ++s.buckets[i];
  s.sum += value;
  ++s.count;
}

void Metrics::reset(const std::string& name) {
  if (auto it = families_.find(name); it != families_.end()) it->second.series.clear();
}

size_t Metrics::series(const std::string& name) const {
  auto it = families_.find(name);
  return it == families_.end() ? 0 : it->second.series.size();
}

std::string Metrics::render() const {
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [key, s] : f.series) {
      if (f.type != "histogram") {
        out += name + (key.empty() ? "" : "{" + key + "}") + " " + number(s.value) + "\n";
        continue;
      }
      for (size_t i = 0; i < f.bounds.size(); ++i)
        out += name + "_bucket" + with(key, "le=\"" + number(f.bounds[i]) + "\"") + " " +
               std::to_string(s.buckets[i]) + "\n";
      out += name + "_bucket" + with(key, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
      out += name + "_sum" + (key.empty() ? "" : "{" + key + "}") + " " + number(s.sum) + "\n";
      out += name + "_count" + (key.empty() ? "" : "{" + key + "}") + " " +
             std::to_string(s.count) + "\n";
    }
  }
  return out;
}

std::vector<Sample> parse_samples(const std::string& text) {
  std::vector<Sample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    bool good = !s.name.empty();
    if (good && i < line.size() && line[i] == '{') {
      ++i;
      while (good && i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          good = false;
          break;
        }
        std::string key = line.substr(i, eq - i), value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) {
          good = false;
          break;
        }
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) good = false;
      ++i;  // '}'
    }
    if (!good) continue;
    char* end = nullptr;
    std::string rest = line.substr(std::min(i, line.size()));
    s.value = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) continue;
    out.push_back(std::move(s));
  }
  return out;
}

double sum_samples(const std::vector<Sample>& samples, const std::string& name,
                   const std::map<std::string, std::string>& want) {
  double sum = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      match = match && (it == s.labels.end() ? v.empty() : it->second == v);
    }
    if (match) sum += s.value;
  }
  return sum;
}

std::string BoundedLabels::label(const std::string& name) {
  auto it = labels_.find(name);
  if (it != labels_.end()) return it->second;
  if (labels_.size() >= cap_) return "other";
  std::string hex = sha256_hex(name).substr(0, 8);
  labels_[name] = hex;
  return hex;
}

}  // namespace clawcage::orchestrator
