"""The summary of loadgen/run-issue11.sh: its results, side by side, as ratios.

Reads the results list (one line per measured run: part, label, collector,
store, devices, target) and each run's table as forewarn-loadgen printed it
(WORK/LABEL.txt), then prints one table per part, current / baseline ratios
from the same run, and each issue 11 target with whether this run met it.
Exits non-zero when a number the summary needs is missing.

    python3 loadgen/issue11_table.py WORK/results.tsv WORK
"""

import re
import sys
from pathlib import Path

MISSING = []


def number(text, pattern, label, scale=1.0):
    """The first group of `pattern` in `text` as a float, or None (noted as missing)."""
    found = re.search(pattern, text, re.MULTILINE)
    if not found:
        MISSING.append(f"{label}: no match for {pattern!r}")
        return None
    return float(found.group(1).replace(",", "")) * scale


def optional(text, pattern):
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def ingest_row(label, store, text):
    row = {
        "rps": number(text, r"^reports/s sustained\s+([\d.]+)", label),
        "cpu_ms": number(text, r"^collector CPU/report\s+([\d.]+) ms", label),
        "rss": number(text, r"^collector RSS\s+([\d.]+) MiB at end", label),
        "peak": number(text, r"· peak ([\d.]+) MiB", label),
        "threads": optional(text, r"^threads in collector\s+(\d+)"),
        "errors": sum(int(n) for n in re.findall(r"^errors\s+\w+: (\d+)", text, re.MULTILINE)),
        "load": optional(text, r"^load average\s+([\d.]+)"),
    }
    latency = re.search(r"p50 ([\d.]+) ms · p90 [\d.]+ ms · p99 ([\d.]+) ms", text)
    if latency:
        row["p50"], row["p99"] = float(latency.group(1)), float(latency.group(2))
    else:
        MISSING.append(f"{label}: no Report latency")
        row["p50"] = row["p99"] = None
    reports = optional(text, r"^reports stored\s+(\d+)") or 0
    sqlite_growth = optional(text, r"\(\+[\d.]+ MiB, (\d+) bytes/report\)")
    pg_growth = optional(text, r"PostgreSQL grew (-?\d+) bytes")
    row["db_per_report"] = sqlite_growth if sqlite_growth is not None else (
        pg_growth / reports if pg_growth is not None and reports else None)
    # What the collector process wrote: the database's writes on SQLite; on
    # PostgreSQL the server writes, so the collector's own number says nothing.
    row["written_per_report"] = (optional(text, r"^collector wrote .*\((\d+) bytes/report\)")
                                 if store == "sqlite" else None)
    return row


def fmt(value, digits=0, suffix=""):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def ratio(current, baseline, digits=2):
    if current is None or baseline is None or baseline == 0:
        return "–"
    return f"{current / baseline:.{digits}f}x"


def verdict(met):
    return "met" if met else "NOT MET"


def ingest(lines, work):
    rows = {}
    for _, label, collector, store, devices, target in lines:
        rows[(collector, store, int(devices), target)] = ingest_row(
            label, store, (work / f"{label}.txt").read_text())
    print("Ingest: each run a fresh collector and database, the same forewarn-loadgen "
          "(~12 KB reports, 10 % changing)")
    header = ("| run | reports/s | p50 ms | p99 ms | CPU/report ms | RSS end / peak MiB | "
              "threads | DB growth B/report | written B/report | errors | load |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for (collector, store, devices, target), row in rows.items():
        what = f"{collector} {store}, {devices} devices, " + (
            "as fast as possible" if target == "max" else f"{target} reports/s")
        print(f"| {what} | {fmt(row['rps'])} | {fmt(row['p50'], 1)} | {fmt(row['p99'], 1)} | "
              f"{fmt(row['cpu_ms'], 3)} | {fmt(row['rss'])} / {fmt(row['peak'])} | "
              f"{fmt(row['threads'])} | {fmt(row['db_per_report'])} | "
              f"{fmt(row['written_per_report'])} | {row['errors']} | {fmt(row['load'], 1)} |")
    print()
    scenarios = sorted({key[2:] for key in rows}, key=lambda k: (k[1] != "max", k[0]))
    for devices, target in scenarios:
        base = rows.get(("baseline", "sqlite", devices, target))
        if base is None:
            continue
        name = f"{devices} devices, " + ("as fast as possible" if target == "max"
                                          else f"{target} reports/s")
        for store in ("sqlite", "postgres"):
            cur = rows.get(("current", store, devices, target))
            if cur is None:
                continue
            print(f"{name}, current {store} / baseline sqlite: reports/s "
                  f"{ratio(cur['rps'], base['rps'])}, p50 {ratio(cur['p50'], base['p50'])}, "
                  f"p99 {ratio(cur['p99'], base['p99'])}, CPU/report "
                  f"{ratio(cur['cpu_ms'], base['cpu_ms'])}, RSS {ratio(cur['rss'], base['rss'])}, "
                  f"DB growth/report {ratio(cur['db_per_report'], base['db_per_report'])}, "
                  f"written/report {ratio(cur['written_per_report'], base['written_per_report'])}")
    print()
    targets = []
    large = max((k[2] for k in rows if k[3] == "max"), default=None)
    base = rows.get(("baseline", "sqlite", large, "max"))
    cur = rows.get(("current", "sqlite", large, "max"))
    if base and cur and base["rps"] and cur["rps"] is not None:
        speedup = cur["rps"] / base["rps"]
        targets.append(f"SQLite ingest >= 10x the baseline at {large} devices: {speedup:.2f}x "
                       f"-> {verdict(speedup >= 10)}")
        targets.append(f"SQLite >= 5,000 reports/s at {large} devices: {cur['rps']:,.0f} -> "
                       f"{verdict(cur['rps'] >= 5000)}")
    for (collector, store, devices, target), row in rows.items():
        if collector == "current" and target != "max" and row["p99"] is not None:
            kept_up = row["rps"] is not None and row["rps"] >= 0.95 * float(target)
            targets.append(
                f"p99 Report latency < 100 ms at {target} reports/s ({store}): "
                f"{row['p99']:,.1f} ms at {fmt(row['rps'])} reports/s delivered -> "
                f"{verdict(row['p99'] < 100 and kept_up)}"
                + ("" if kept_up else " (the collector did not keep up with the rate)"))
    for line in targets:
        print("target: " + line)
    print()


def held(lines, work):
    rows = {}
    for _, label, collector, _, devices, _ in lines:
        text = (work / f"{label}.txt").read_text()
        rows[collector] = {
            "agents": int(devices),
            "connected": optional(text, r"^agents\s+\d+ \((\d+) connections"),
            "cpu_min": number(text, r"^collector CPU/minute\s+([\d.]+) s", label),
            "rss": number(text, r"^collector RSS\s+(\d+) MiB", label),
            "peak": number(text, r"· peak (\d+) MiB", label),
            "load": optional(text, r"^load average\s+([\d.]+)"),
        }
    print("Connected, idle agents (SQLite)")
    print("| collector | agents | connections established | RSS MiB | peak MiB | "
          "CPU s per idle minute | load |")
    print("|---" * 7 + "|")
    for collector, row in rows.items():
        print(f"| {collector} | {row['agents']:,} | {fmt(row['connected'])} | {fmt(row['rss'])} | "
              f"{fmt(row['peak'])} | {fmt(row['cpu_min'], 3)} | {fmt(row['load'], 1)} |")
    base, cur = rows.get("baseline"), rows.get("current")
    if base and cur:
        print(f"current / baseline: RSS {ratio(cur['rss'], base['rss'])}, "
              f"idle CPU {ratio(cur['cpu_min'], base['cpu_min'], 3)}")
    if cur and cur["rss"] is not None:
        print(f"target: collector RSS < 1 GiB with {cur['agents']:,} connected agents: "
              f"{cur['rss']:,.0f} MiB -> {verdict(cur['rss'] < 1024)}"
              + ("" if cur["agents"] >= 20000 else " (fewer than 20,000 agents: see the open file limit above)"))
    print()


def two(work):
    text = (work / "two.txt").read_text()
    found = re.search(r"^reports/s: one collector.*$", text, re.MULTILINE)
    if not found:
        MISSING.append("two collectors: no reports/s line")
        return
    print("Two collectors on one PostgreSQL: " + found.group(0))
    print()


def store(work):
    text = (work / "store.txt").read_text()
    measured = re.findall(r"^measured: (.*)$", text, re.MULTILINE)
    if not measured:
        MISSING.append("store measurements: no 'measured:' lines")
        return
    print("Store measurements (ignored tests)")
    for line in measured:
        print("  " + line)
    print()


def main():
    results, work = Path(sys.argv[1]), Path(sys.argv[2])
    lines = [line.split("\t") for line in results.read_text().splitlines() if line]
    by_part = {}
    for line in lines:
        by_part.setdefault(line[0], []).append(line)
    if "ingest" in by_part:
        ingest(by_part["ingest"], work)
    if "held" in by_part:
        held(by_part["held"], work)
    if "two" in by_part:
        two(work)
    if "store" in by_part:
        store(work)
    if MISSING:
        print("missing numbers:\n  " + "\n  ".join(MISSING), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
