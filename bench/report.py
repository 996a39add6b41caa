#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the figures `make bench` gathered: the desktop
benchmarks (bench/desktop.py), the flow benchmark (tests/benches/flow.rs),
the streaming benchmark (tests/benches/stream.rs), Criterion's estimates for the core's steps, and the sizes of the release
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


def stream_section(stream):
    """The "Streaming a reply" section, from tests/benches/stream.rs's
    figures (None: the benchmark did not run)."""
    lines = ["## Streaming a reply", ""]
    if stream is None:
        return lines + ["Not measured in this run (no `bench/stream.json`).", ""]
    lat, thr, timer = stream["latency"], stream["throughput"], stream["timer"]
    step_us = timer["min_us"]
    if timer["coarse"]:
        precision = (
            f"; the page's timer steps by {step_us:.0f} µs, coarse: page times are interpolated"
            " between its steps (below), not read off the timer"
        )
    else:
        precision = f"; page timer resolution {step_us:.1f} µs"
    added_p95 = lat["added_ms"]["p95"]
    per_message = thr["deltas"] / thr["page_messages"]

    def row(label, figures):
        return f"| {label} | {figures['min']:.3f} ms | {figures['p50']:.3f} ms | {figures['p95']:.3f} ms | |"

    return lines + [
        "A reply streamed by the fake OpenRouter through the plugin into the",
        "app's window (the release build, WebKitGTK under Xvfb; the page's",
        "script, run over WebDriver, gives the plugin a Channel of its own),",
        "against the same stream read directly in Rust (reqwest, SSE parsed by",
        f"hand). Medians of {stream['runs']} runs.",
        "",
        f"Latency per delta: {lat['deltas']} deltas {lat['pace_ms']:.0f} ms apart, from the fake handing each",
        "delta to the connection to its arrival: in Rust when parsed, in the",
        "page when the Channel message carrying it reaches the script.",
        "",
        "| latency per delta | min | p50 | p95 | target |",
        "| --- | --- | --- | --- | --- |",
        row("direct (Rust reads the fake)", lat["direct_ms"]),
        row("in the page, through the plugin", lat["page_ms"]),
        f"| added by the plugin (page − direct, per percentile) | | {lat['added_ms']['p50']:.3f} ms | {added_p95:.3f} ms"
        f" | p95 < 1 ms: {verdict(added_p95 < 1)}{precision} |",
        row("in the page, by the timer's steps alone (cross-check)", lat["page_by_step_ms"]),
        "",
        f"The page's clock (`performance.timeOrigin + performance.now()`) steps by {step_us:.1f} µs",
        f"(the smallest step seen in a busy loop; typical {timer['median_us']:.1f} µs). It is set against the",
        "wall clock (which the fake's send times are on) where `Date.now()` steps,",
        "by counting busy-loop turns to the page clock's next step; its",
        f"samples agree within ±{lat['page_clock_spread_ms']:.3f} ms (quartiles). An arrival is the page",
        "clock's next step less the busy-loop turns to it (up to one step of",
        "busy loop per message). The cross-check takes the middle of the step",
        "each delta arrived in instead: its p50 should be close, its p95 higher",
        "(the step adds up to ±half a step to each delta).",
        "",
        f"The page's p95 ranged from {lat['page_p95_range_ms'][0]:.3f} to {lat['page_p95_range_ms'][1]:.3f} ms over the runs, with all cores",
        f"{lat['machine_busy_percent']:.0f} % busy while the page read (median; the app, WebKit, Xvfb, the",
        "fake and the page's busy loop). A few deltas in a hundred wait a",
        "millisecond or more for a core, more when other work shares the",
        "machine, and whether they pass 5 % decides a run's p95.",
        "",
        f"Throughput: {thr['deltas']:,} deltas sent as fast as the reader takes them; deltas after",
        "the first arrival over the time from it to the end (`[DONE]` in Rust,",
        "the `done` message in the page).",
        "",
        "| deltas per second | rate | Channel messages | target |",
        "| --- | --- | --- | --- |",
        f"| direct (Rust reads the fake) | {thr['direct_per_s']:,.0f} /s | | |",
        f"| in the page, through the plugin | {thr['page_per_s']:,.0f} /s | {thr['page_messages']:,.0f}"
        f" ({thr['messages_per_delta']:.3f} per delta, {per_message:.1f} deltas each) | ≥ 10,000 /s: {verdict(thr['page_per_s'] >= 10000)} |",
        "",
        f"The fake sent {thr['fake_per_s']:,.0f} deltas/s meanwhile (all cores {thr['machine_busy_percent']:.0f} % busy); the last delta",
        f"reached the page {thr['page_last_delta_behind_ms']:,.0f} ms after the fake sent it, and `done` {thr['page_last_delta_to_done_ms']:.0f} ms after",
        "that. The plugin joins the deltas it has read by the time it sends,",
        "not those the page has yet to take: Channel messages queue up for the",
        "page while the plugin keeps up with the connection. The paced reply",
        f"took {lat['page_messages']:.0f} Channel messages for its {lat['deltas']} deltas.",
        "",
    ]


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
    stream = None
    if os.path.exists(os.path.join(args.target, "bench", "stream.json")):
        with open(os.path.join(args.target, "bench", "stream.json")) as f:
            stream = json.load(f)
    micro = criterion_estimates(args.target)
    bloat = {}
    for name in ("app", "floor"):
        with open(os.path.join(args.target, "bench", f"bloat-{name}.json")) as f:
            bloat[name] = json.load(f)

    release = os.path.join(args.target, "release")
    app_bin = os.path.getsize(os.path.join(release, "openrouter-connect"))
    floor_bin = os.path.getsize(os.path.join(release, "tauri-floor"))
    app_deb = max(glob.glob(os.path.join(release, "bundle", "deb", "openrouter-connect_*.deb")), key=os.path.getmtime)
    floor_deb = max(glob.glob(os.path.join(release, "bundle", "deb", "Tauri Floor_*.deb")), key=os.path.getmtime)
    app_deb_size, floor_deb_size = os.path.getsize(app_deb), os.path.getsize(floor_deb)

    app, floor = desktop["app"], desktop["floor"]
    start_ratio = app["startup_ms"]["median"] / floor["startup_ms"]["median"]
    rss_ratio = app["rss_kib"]["median"] / floor["rss_kib"]["median"]
    pss_ratio = app["pss_kib"]["median"] / floor["pss_kib"]["median"]
    connected = app["connected"]
    connected_pss_ratio = connected["pss_kib"] / floor["pss_kib"]["median"]
    idle_gap = connected["idle_cpu_percent"] - floor["idle_cpu_percent"]
    cb = flow["callback_to_connected_ms"]
    m = machine()

    def by_process(name):
        return "; ".join(f"{comm} {kib / 1024:.0f}" for comm, kib in sorted(name["pss_by_process_kib"].items()))

    def crate_table():
        floor_sizes = {c["name"]: c["size"] for c in bloat["floor"]["crates"]}
        rows = [
            "| crate | in the app | in the floor | the app adds |",
            "| --- | --- | --- | --- |",
        ]
        for c in bloat["app"]["crates"]:
            in_floor = floor_sizes.get(c["name"])
            if in_floor is None:
                rows.append(f"| `{c['name']}` | {c['size'] / 1024:.0f} KiB | (not in its top {len(floor_sizes)}) | at most {c['size'] / 1024:.0f} KiB |")
            else:
                rows.append(
                    f"| `{c['name']}` | {c['size'] / 1024:.0f} KiB | {in_floor / 1024:.0f} KiB | {(c['size'] - in_floor) / 1024:+.0f} KiB |"
                )
        text_app = bloat["app"]["text-section-size"]
        text_floor = bloat["floor"]["text-section-size"]
        rows.append(f"| all code (`.text`) | {mib(text_app):.2f} MiB | {mib(text_floor):.2f} MiB | {(text_app - text_floor) / 1024:+.0f} KiB |")
        return rows

    def timeline_table():
        names = [
            ("html_received", "the page's HTML received"),
            ("html_parsed", "HTML parsed"),
            ("first_paint", "first paint (the app: once shown, with its status)"),
            ("scripts_run", "scripts run (the app: its head has asked for the status)"),
            ("loaded", "load event done"),
        ]
        rows = ["| step, ms since the navigation began | app | floor |", "| --- | --- | --- |"]
        for key, label in names:
            a = app.get("page_timeline_ms", {}).get(key)
            b = floor.get("page_timeline_ms", {}).get(key)
            cell = lambda v: f"{v:.0f}" if v is not None else "none"
            rows.append(f"| {label} | {cell(a)} | {cell(b)} |")
        return rows

    def spread(s, unit, scale=1.0):
        return f"{s['median'] * scale:.0f} {unit} (min {s['min'] * scale:.0f}, max {s['max'] * scale:.0f}, sd {s['stdev'] * scale:.0f}; n={s['n']})"

    shown_ratio = app['shown_ms']['median'] / floor['shown_ms']['median']
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
        f"| start-up, exec to first status (median) | {spread(app['startup_ms'], 'ms')} | {spread(floor['startup_ms'], 'ms')} | {start_ratio:.3f} | ≤ 1.05: {verdict(start_ratio <= 1.05)} |",
        f"| first seen, exec to the app's window shown with its status / the floor's first paint (median) | {spread(app['shown_ms'], 'ms')} | {spread(floor['shown_ms'], 'ms')} | {shown_ratio:.3f} | |",
        f"| memory after start, PSS of the process tree | {spread(app['pss_kib'], 'MiB', 1 / 1024)} | {spread(floor['pss_kib'], 'MiB', 1 / 1024)} | {pss_ratio:.3f} | ≤ 1.05: {verdict(pss_ratio <= 1.05)} |",
        f"| memory after start, RSS of the process tree | {spread(app['rss_kib'], 'MiB', 1 / 1024)} | {spread(floor['rss_kib'], 'MiB', 1 / 1024)} | {rss_ratio:.3f} | |",
        f"| memory after a connect, PSS (RSS) | {connected['pss_kib'] / 1024:.0f} MiB ({connected['rss_kib'] / 1024:.0f} MiB), {connected['processes']} processes | (no connect) | {connected_pss_ratio:.3f} of the floor after start | ≤ 1.10: {verdict(connected_pss_ratio <= 1.10)} |",
        f"| idle CPU over {desktop.get('idle_seconds', 30):.0f} s (app connected) | {connected['idle_cpu_percent']:.2f} % of a core | {floor['idle_cpu_percent']:.2f} % | {idle_gap:+.2f} points | the floor's, within 0.1 point: {verdict(idle_gap <= 0.1)} |",
        f"| release binary | {mib(app_bin):.2f} MiB | {mib(floor_bin):.2f} MiB | {app_bin / floor_bin:.2f} | |",
        f"| `.deb` | {mib(app_deb_size):.2f} MiB ({app_deb_size / 1e6:.2f} MB) | {mib(floor_deb_size):.2f} MiB | {app_deb_size / floor_deb_size:.2f} | < 6 MB: {verdict(app_deb_size < 6e6)} |",
        "",
        "Where start-up goes (medians, ms since exec):",
        "",
        "| phase | app | floor |",
        "| --- | --- | --- |",
        f"| exec → `main()` (loading the program and its libraries) | {app['phases_ms']['main']:.0f} | {floor['phases_ms']['main']:.0f} |",
        f"| `main()` → setup hook (GTK, the plugins: the app's store read; the window and its WebView made) | {app['phases_ms']['setup'] - app['phases_ms']['main']:.0f} | {floor['phases_ms']['setup'] - floor['phases_ms']['main']:.0f} |",
        f"| setup hook → the page's first call (WebKit loading and running the page) | {app['startup_ms']['median'] - app['phases_ms']['setup']:.0f} | {floor['startup_ms']['median'] - floor['phases_ms']['setup']:.0f} |",
        "",
        f"Where the memory is (PSS in MiB per process, last start): app: {by_process(app)}; floor: {by_process(floor)}.",
        "",
        "Start-up ends when the page first calls into Rust: the panel asking for",
        "its status (it renders the answer in the same task), the floor's page",
        "calling `ready`. First seen is when the user can see each: the app's",
        "window shown with the panel's first status rendered (the app logs it",
        "as it shows the window), the floor's first paint (its page reports the",
        "time from its own clock, Paint Timing). RSS counts shared pages once",
        "per process; PSS splits them between the processes that share them.",
        "",
        "### Where the page's time goes",
        "",
        "The page's own clock (Navigation and Paint Timing), read through",
        "WebDriver once the page settled; medians of 3 warm starts per program",
        "under tauri-driver, so shorter than the cold starts above:",
        "",
        *timeline_table(),
        "",
        "Both pages are one document. The floor's is one paragraph and an",
        "inline script. The panel's stylesheet and script (the modules in `ui/`,",
        "bundled by `scripts/build-panel.mjs` into `dist/index.html`) are inline",
        "too, so WebKit fetches nothing after the HTML, and the script runs where",
        "it stands, at the end of the body; a one-line script in the head asks for",
        "the status first, so the answer travels while the rest is parsed. The",
        "app's window is created hidden and",
        "shown by the panel once it has rendered its first status: its first",
        "paint is the settled panel, after the status, where the floor's window",
        "is shown at once and paints its paragraph straight away.",
        "Cut from the page's start so far: font stacks naming families a Linux",
        "system lacks (each missing family cost a font lookup before the first",
        "paint; about 100 ms in all), the locale data of the money and date",
        "formats (built at their first use; about 50 ms), the second round trip",
        "(the status is asked before the event listener is set up), and the",
        "stylesheet and four modules loaded as files of their own (now inline).",
        "",
        "What the page costs the web process was measured part by part with",
        "`bench/page_variants.py`, which serves the panel's page and variants",
        "of it in one probe binary (`bench/page-probe/`) and prints each one's",
        "PSS. In this WebKitGTK, a box-shadow on the card cost about 6 MiB and",
        "rounded corners about 9 MiB, each growing with the size of the boxes",
        "drawn; the panel has neither. The same page as five files cost about",
        "7 MiB more than inline. The app's own process holds more than the",
        "floor's: a larger binary, the keychain's and single instance's D-Bus",
        "connections and the HTTP client. See the PSS per process above.",
        "",
        "### What each crate adds to the binary",
        "",
        "`cargo bloat --crates` on unstripped builds of both programs (same",
        "profile otherwise). With LTO, generic code is counted in the crate that",
        "instantiates it, so the app's own crate holds much of its",
        "dependencies' code.",
        "",
        *crate_table(),
        "",
        "## The flow",
        "",
        f"{flow['flows']} connects against the fake OpenRouter on loopback, with the real",
        "keychain (gnome-keyring) and the app's store files (`LocalStore`, the",
        "same code as the app).",
        "",
        "| | p50 | p95 | max | target |",
        "| --- | --- | --- | --- | --- |",
        f"| callback sent → connected (exchange, seal, store write; the keychain was read when the flow began) | {cb['p50']:.2f} ms | {cb['p95']:.2f} ms | {cb['max']:.2f} ms | p95 < 25 ms: {verdict(cb['p95'] < 25)} |",
        f"| the limit: the same GET over raw loopback, answered at once | {flow['raw_loopback_ms']['p50']:.3f} ms | {flow['raw_loopback_ms']['p95']:.3f} ms | {flow['raw_loopback_ms']['max']:.3f} ms | |",
        f"| vault save (keychain read, seal, store file) | {flow['vault_save_ms']['p50']:.2f} ms | {flow['vault_save_ms']['p95']:.2f} ms | {flow['vault_save_ms']['max']:.2f} ms | |",
        f"| vault load (keychain read, open) | {flow['vault_load_ms']['p50']:.2f} ms | {flow['vault_load_ms']['p95']:.2f} ms | {flow['vault_load_ms']['max']:.2f} ms | |",
        "",
        *stream_section(stream),
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
