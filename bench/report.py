#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the figures `make bench` gathered: the desktop
benchmarks (bench/desktop.py), the flow benchmark (tests/benches/flow.rs),
Criterion's estimates for the core's steps, and the sizes of the release
binaries and packages. Standard library only."""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess


def sh(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total_kib = int(f.readline().split()[1])
    os_name = "Linux"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip().split("=", 1) for line in f if "=" in line)
        os_name = fields.get("PRETTY_NAME", "Linux").strip('"')
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{total_kib / 1024 / 1024:.0f} GiB",
        "os": f"{os_name}, kernel {platform.release()}",
        "rustc": sh("rustc", "--version"),
        "webkit": sh("dpkg-query", "-W", "-f=${Version}", "libwebkit2gtk-4.1-0"),
    }


def locked_version(name):
    with open("Cargo.lock") as f:
        text = f.read()
    found = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', text)
    return found.group(1) if found else "unknown"


def mib(size):
    return size / 1024 / 1024


def criterion_estimates(target):
    figures = {}
    for path in sorted(glob.glob(os.path.join(target, "criterion", "*", "new", "estimates.json"))):
        name = path.split(os.sep)[-3]
        with open(path) as f:
            estimate = json.load(f)
        figures[name] = estimate["median"]["point_estimate"]
    return figures


def duration(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def verdict(ok):
    return "met" if ok else "missed"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--out", default="BENCHMARKS.md")
    args = parser.parse_args()

    with open(os.path.join(args.target, "bench", "desktop.json")) as f:
        desktop = json.load(f)
    with open(os.path.join(args.target, "bench", "flow.json")) as f:
        flow = json.load(f)
    micro = criterion_estimates(args.target)

    release = os.path.join(args.target, "release")
    app_bin = os.path.getsize(os.path.join(release, "openrouter-connect"))
    floor_bin = os.path.getsize(os.path.join(release, "tauri-floor"))
    app_deb = max(glob.glob(os.path.join(release, "bundle", "deb", "OpenRouter Connect_*.deb")), key=os.path.getmtime)
    floor_deb = max(glob.glob(os.path.join(release, "bundle", "deb", "Tauri Floor_*.deb")), key=os.path.getmtime)
    app_deb_size, floor_deb_size = os.path.getsize(app_deb), os.path.getsize(floor_deb)

    app, floor = desktop["app"], desktop["floor"]
    start_ratio = app["startup_ms"]["median"] / floor["startup_ms"]["median"]
    rss_ratio = app["rss_kib"]["median"] / floor["rss_kib"]["median"]
    pss_ratio = app["pss_kib"]["median"] / floor["pss_kib"]["median"]
    connected = app["connected"]
    connected_pss_ratio = connected["pss_kib"] / floor["pss_kib"]["median"]
    cb = flow["callback_to_connected_ms"]
    m = machine()

    def by_process(name):
        return "; ".join(f"{comm} {kib / 1024:.0f}" for comm, kib in sorted(name["pss_by_process_kib"].items()))

    def spread(s, unit, scale=1.0):
        return f"{s['median'] * scale:.0f} {unit} (min {s['min'] * scale:.0f}, max {s['max'] * scale:.0f}, sd {s['stdev'] * scale:.0f}; n={s['n']})"

    lines = [
        "# Benchmarks",
        "",
        f"Written by `{args.command}` on {datetime.date.today().isoformat()}. Every figure below",
        "comes from that one run; rerun the command to refresh them.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']};",
        f"{m['rustc']}; Tauri {locked_version('tauri')} (both programs, from the workspace's",
        f"Cargo.lock); WebKitGTK {m['webkit']}; the release profile of the workspace",
        "(LTO, one codegen unit, `opt-level = \"s\"`, stripped). Displays are Xvfb; each",
        "start runs in a D-Bus session of its own with an unlocked gnome-keyring",
        "and a `HOME` of its own per program, kept across that program's runs as a",
        "user's is (the app's first start registers its link handler; the later ones",
        "do not)" + (", after the page cache was dropped (cold)." if app["cold"] and floor["cold"] else " (the page cache could not be dropped: warm starts)."),
        "",
        "The floor (`bench/floor/`) is a bare Tauri 2 app: one window, one static",
        "page that calls one command when shown.",
        "",
        "## Against the floor",
        "",
        "| | app | floor | ratio | target |",
        "| --- | --- | --- | --- | --- |",
        f"| start-up, exec to first status (median) | {spread(app['startup_ms'], 'ms')} | {spread(floor['startup_ms'], 'ms')} | {start_ratio:.3f} | ≤ 1.10: {verdict(start_ratio <= 1.10)} |",
        f"| memory after start, RSS of the process tree | {spread(app['rss_kib'], 'MiB', 1 / 1024)} | {spread(floor['rss_kib'], 'MiB', 1 / 1024)} | {rss_ratio:.3f} | ≤ 1.10: {verdict(rss_ratio <= 1.10)} |",
        f"| memory after start, PSS of the process tree | {spread(app['pss_kib'], 'MiB', 1 / 1024)} | {spread(floor['pss_kib'], 'MiB', 1 / 1024)} | {pss_ratio:.3f} | ≤ 1.10: {verdict(pss_ratio <= 1.10)} |",
        f"| memory after a connect, PSS (RSS) | {connected['pss_kib'] / 1024:.0f} MiB ({connected['rss_kib'] / 1024:.0f} MiB), {connected['processes']} processes | (no connect) | {connected_pss_ratio:.3f} of the floor after start | |",
        f"| idle CPU over {desktop.get('idle_seconds', 30):.0f} s (app connected) | {connected['idle_cpu_percent']:.2f} % of a core | {floor['idle_cpu_percent']:.2f} % | | none to speak of: {verdict(connected['idle_cpu_percent'] < 1.0)} |",
        f"| release binary | {mib(app_bin):.2f} MiB | {mib(floor_bin):.2f} MiB | {app_bin / floor_bin:.2f} | |",
        f"| `.deb` | {mib(app_deb_size):.2f} MiB ({app_deb_size / 1e6:.2f} MB) | {mib(floor_deb_size):.2f} MiB | {app_deb_size / floor_deb_size:.2f} | < 6 MB: {verdict(app_deb_size < 6e6)} |",
        "",
        "Where start-up goes (medians, ms since exec):",
        "",
        "| phase | app | floor |",
        "| --- | --- | --- |",
        f"| exec → `main()` (loading the program and its libraries) | {app['phases_ms']['main']:.0f} | {floor['phases_ms']['main']:.0f} |",
        f"| `main()` → setup done (plugins, GTK, the app's vault read) | {app['phases_ms']['setup'] - app['phases_ms']['main']:.0f} | {floor['phases_ms']['setup'] - floor['phases_ms']['main']:.0f} |",
        f"| setup done → the page's first call (window, WebKit, the page) | {app['startup_ms']['median'] - app['phases_ms']['setup']:.0f} | {floor['startup_ms']['median'] - floor['phases_ms']['setup']:.0f} |",
        "",
        f"Where the memory is (PSS in MiB per process, last start): app: {by_process(app)}; floor: {by_process(floor)}.",
        "",
        "Start-up ends when the page first calls into Rust: the panel asking for",
        "its status (it renders the answer in the same task), the floor's page",
        "calling `ready`. RSS counts shared pages once per process; PSS splits",
        "them between the processes that share them.",
        "",
        "## The flow",
        "",
        f"{flow['flows']} connects against the fake OpenRouter on loopback, with the real",
        "keychain (gnome-keyring) and the app's store files (`LocalStore`, the",
        "same code as the app).",
        "",
        "| | p50 | p95 | max | target |",
        "| --- | --- | --- | --- | --- |",
        f"| callback sent → connected (exchange, keychain read, seal, store write) | {cb['p50']:.2f} ms | {cb['p95']:.2f} ms | {cb['max']:.2f} ms | p95 < 50 ms: {verdict(cb['p95'] < 50)} |",
        f"| the limit: the same GET over raw loopback, answered at once | {flow['raw_loopback_ms']['p50']:.3f} ms | {flow['raw_loopback_ms']['p95']:.3f} ms | {flow['raw_loopback_ms']['max']:.3f} ms | |",
        f"| vault save (keychain read, seal, store file) | {flow['vault_save_ms']['p50']:.2f} ms | {flow['vault_save_ms']['p95']:.2f} ms | {flow['vault_save_ms']['max']:.2f} ms | |",
        f"| vault load (keychain read, open) | {flow['vault_load_ms']['p50']:.2f} ms | {flow['vault_load_ms']['p95']:.2f} ms | {flow['vault_load_ms']['max']:.2f} ms | |",
        "",
        "## The core's steps (Criterion, median)",
        "",
        "In memory, no keychain or file: what the core adds on top of I/O.",
        "",
        "| step | time |",
        "| --- | --- |",
    ]
    for name, ns in micro.items():
        lines.append(f"| `{name}` | {duration(ns)} |")
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
