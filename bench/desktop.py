#!/usr/bin/env python3
"""The desktop benchmarks: start-up, memory and idle CPU of the app against
the floor (a bare Tauri app), under Xvfb, each run in its own D-Bus session
with an unlocked gnome-keyring and its own HOME.

Start-up is from exec to the page's first call into Rust: the app's panel
asking for its status (the log line "panel asked for the status"; the panel
renders the answer in the same task), the floor's page calling `ready`.
Memory is the resident memory of the whole process tree (the program and
its WebKit processes), RSS and PSS (shared pages split between processes).

Writes a JSON file of figures for bench/report.py. Standard library only.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

APP_READY = "panel asked for the status"
FLOOR_READY = "floor: page ready"
# When each program is first seen: the app's window is created hidden and
# shown once the panel has rendered its first status ("window shown",
# logged when the window was shown); the floor's is shown at once, and its
# page reports the time of its first paint from its own clock.
APP_SHOWN = "window shown"
FLOOR_PAINTED = "floor: first paint at "
# Where each program's start-up passes: main() runs, and each one's setup
# hook runs (after GTK, the plugins, the app's store read among them, and
# the window's creation; before WebKit has loaded the page).
PHASES = {
    "app": [("main", "starting"), ("setup", "setup hook ran")],
    "floor": [("main", "floor: main"), ("setup", "floor: setup")],
}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_display():
    """An Xvfb display of its own; returns (process, ":N")."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    number = b""
    while not number.endswith(b"\n"):
        chunk = os.read(read, 16)
        if not chunk:
            raise SystemExit("Xvfb did not start")
        number += chunk
    os.close(read)
    return xvfb, ":" + number.decode().strip()


class Session:
    """A D-Bus session with an unlocked gnome-keyring and its own HOME."""

    def __init__(self, display, home=None):
        self.dir = tempfile.mkdtemp(prefix="openrouter-connect-bench-")
        self.home = home or os.path.join(self.dir, "home")
        runtime = os.path.join(self.dir, "run")
        os.makedirs(self.home, exist_ok=True)
        os.makedirs(runtime, mode=0o700)
        bus_file = os.path.join(self.dir, "bus")
        self.env = dict(
            os.environ,
            HOME=self.home,
            XDG_DATA_HOME=os.path.join(self.home, ".local/share"),
            XDG_CONFIG_HOME=os.path.join(self.home, ".config"),
            XDG_CACHE_HOME=os.path.join(self.home, ".cache"),
            XDG_RUNTIME_DIR=runtime,
            DISPLAY=display,
            NO_AT_BRIDGE="1",
            RUST_LOG="info",
        )
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        script = (
            'eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null; '
            f"printf %s \"$DBUS_SESSION_BUS_ADDRESS\" > '{bus_file}.tmp'; mv '{bus_file}.tmp' '{bus_file}'; "
            "exec sleep infinity"
        )
        self.bus = subprocess.Popen(
            ["dbus-run-session", "--", "bash", "-c", script],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(200):
            if os.path.exists(bus_file):
                break
            time.sleep(0.025)
        else:
            raise SystemExit("the D-Bus session did not start")
        with open(bus_file) as f:
            self.env["DBUS_SESSION_BUS_ADDRESS"] = f.read().strip()

    def spawn(self, argv, log=None, **extra_env):
        return subprocess.Popen(
            argv,
            env=dict(self.env, **extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log or subprocess.DEVNULL,
            stderr=log or subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def close(self):
        kill_group(self.bus)
        shutil.rmtree(self.dir, ignore_errors=True)


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def drop_caches():
    """Cold start: the page cache emptied, when the machine lets us."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def wait_for_line(process, marker, timeout=60, began=None, phases=()):
    """Reads stderr up to `marker`; returns when each phase's line came,
    in ms since `began`, and the marker's line."""
    deadline = time.monotonic() + timeout
    lines = []
    seen = {}
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        for name, text in phases:
            if text in line and name not in seen:
                seen[name] = (time.monotonic() - began) * 1000
        if marker in line:
            return seen, line
    raise SystemExit(f"{marker!r} never came; the program said:\n" + "".join(lines[-20:]))


def drain(process):
    """Keeps reading stderr so the program never blocks on a full pipe."""
    import threading

    threading.Thread(target=lambda: process.stderr.read(), daemon=True).start()


def children():
    tree = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def process_tree(root):
    tree = children()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def memory(pids):
    """(RSS, PSS) of the processes together, in KiB."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def memory_by_process(pids):
    """PSS in KiB per process name: where the memory is."""
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        found[name] = found.get(name, 0) + memory([pid])[1]
    return found


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def idle_cpu(pids, seconds):
    """Share of one core used by the processes over `seconds`, in percent."""
    before = cpu_ticks(pids)
    time.sleep(seconds)
    after = cpu_ticks(pids)
    return 100.0 * (after - before) / CLOCK_TICKS / seconds


def start_once(display, argv, marker, settle, extra_env, home, phases):
    session = Session(display, home)
    try:
        cold = drop_caches()
        began = time.monotonic()
        began_epoch = time.time()
        program = session.spawn(argv, **extra_env)
        seen, _ = wait_for_line(program, marker, began=began, phases=phases)
        startup = (time.monotonic() - began) * 1000
        if marker == APP_READY:
            wait_for_line(program, APP_SHOWN)
            shown = (time.monotonic() - began) * 1000
        else:
            _, line = wait_for_line(program, FLOOR_PAINTED)
            painted_epoch_ms = float(line.split(FLOOR_PAINTED, 1)[1].split()[0])
            shown = painted_epoch_ms - began_epoch * 1000
        drain(program)
        time.sleep(settle)
        tree = process_tree(program.pid)
        rss, pss = memory(tree)
        by_process = memory_by_process(tree)
        kill_group(program)
        return {
            "startup_ms": startup,
            "shown_ms": shown,
            "rss_kib": rss,
            "pss_kib": pss,
            "cold": cold,
            "phases": seen,
            "pss_by_process_kib": by_process,
        }
    finally:
        session.close()


def summary(values):
    values = sorted(values)
    return {
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def webdriver(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")["value"]


def start_session(base, program):
    """Waits for tauri-driver at `base`, then starts `program` under it;
    returns the WebDriver session id."""
    for _ in range(200):
        try:
            webdriver(base + "/status")
            break
        except OSError:
            time.sleep(0.05)
    caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": program}}}}
    return webdriver(base + "/session", "POST", caps)["sessionId"]


def wait_in_file(path, markers, failure, timeout=90):
    """Waits until the file at `path` holds every one of `markers`;
    raises ConnectFailed at once if it holds `failure`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            text = f.read()
        if failure in text:
            raise ConnectFailed(f"the app logged {failure!r}")
        if all(marker in text for marker in markers):
            return
        time.sleep(0.1)
    raise ConnectFailed(f"no {markers!r} in {path} after {timeout} s")


class ConnectFailed(Exception):
    pass


def connected_figures(display, app, fake, browser, idle_seconds, log_path):
    """Starts the app under tauri-driver, presses Connect, and measures the
    tree once the app has connected against the fake OpenRouter with the
    scripted browser.

    WebDriver only presses the button: that the app connected is read from
    its log, and the figures from /proc, so a WebDriver connection that
    drops afterwards (WebKitWebDriver now and then closes one without an
    answer) costs nothing."""
    session = Session(display)
    fake_port = free_port()
    fake_server = subprocess.Popen(
        [fake, "--port", str(fake_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    driver_port = free_port()
    log = open(log_path, "w")
    driver = session.spawn(
        ["tauri-driver", "--port", str(driver_port), "--native-port", str(free_port())],
        log=log,
        OPENROUTER_BASE_URL=f"http://127.0.0.1:{fake_port}",
        BROWSER=browser,
        FAKE_BROWSER_DECISION="approve",
    )
    base = f"http://127.0.0.1:{driver_port}"
    try:
        s = f"{base}/session/{start_session(base, app)}"
        app_pid = next(
            pid
            for pid in process_tree(driver.pid)
            if os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(app)
        )

        def js(script):
            return webdriver(s + "/execute/sync", "POST", {"script": script, "args": []})

        for _ in range(600):
            if js("const s=document.querySelector('[data-testid=\"status\"]');return s?s.dataset.state:''") == "disconnected":
                break
            time.sleep(0.05)
        else:
            raise ConnectFailed("the panel never said disconnected")
        element = webdriver(s + "/element", "POST", {"using": "css selector", "value": '[data-testid="connect"]'})
        element_id = next(iter(element.values()))
        webdriver(f"{s}/element/{element_id}/click", "POST", {})
        log.flush()
        wait_in_file(log_path, ["connect flow finished: key stored"], "connect flow failed")
        # The panel then checks the key's health and loads the models:
        # both local requests, done well within this.
        time.sleep(3)
        pids = process_tree(app_pid)
        rss, pss = memory(pids)
        cpu = idle_cpu(pids, idle_seconds)
        try:
            webdriver(s, "DELETE")
        except OSError:
            pass
        return {"rss_kib": rss, "pss_kib": pss, "idle_cpu_percent": cpu, "processes": len(pids)}
    finally:
        kill_group(driver)
        kill_group(fake_server)
        log.close()
        session.close()


# The page's own clock, read through WebDriver once it has settled: when
# each step of its load happened, in ms since the navigation began.
TIMELINE_SCRIPT = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
const status = document.querySelector('[data-testid="status"]');
if (!nav || nav.loadEventEnd === 0 || (status && status.dataset.state === 'loading')) return null;
return {
  html_received: nav.responseEnd,
  html_parsed: nav.domInteractive,
  scripts_run: nav.domContentLoadedEventEnd,
  loaded: nav.loadEventEnd,
  first_paint: paint ? paint.startTime : null,
};
"""


def page_timeline(display, program, runs, log_path, **env):
    """Medians over `runs` starts under tauri-driver (warm: the page cache
    is not dropped) of the page's load steps."""
    samples = []
    for _ in range(runs):
        session = Session(display)
        driver_port = free_port()
        log = open(log_path, "a")
        driver = session.spawn(
            ["tauri-driver", "--port", str(driver_port), "--native-port", str(free_port())], log=log, **env
        )
        base = f"http://127.0.0.1:{driver_port}"
        try:
            sid = start_session(base, program)
            for _ in range(200):
                found = webdriver(f"{base}/session/{sid}/execute/sync", "POST", {"script": TIMELINE_SCRIPT, "args": []})
                if found:
                    samples.append(found)
                    break
                time.sleep(0.05)
            webdriver(f"{base}/session/{sid}", "DELETE")
        except (OSError, KeyError, TypeError) as failure:
            # WebKitWebDriver now and then drops a request: this start
            # gives no sample, the others still count.
            print(f"timeline of {program}: no sample ({failure!r}); see {log_path}", flush=True)
        finally:
            kill_group(driver)
            log.close()
            session.close()
    steps = samples[0].keys() if samples else []
    return {
        step: statistics.median(s[step] for s in samples if s[step] is not None)
        for step in steps
        if any(s[step] is not None for s in samples)
    }


def floor_idle(display, floor, idle_seconds):
    session = Session(display)
    try:
        program = session.spawn([floor])
        wait_for_line(program, FLOOR_READY)
        drain(program)
        time.sleep(2)
        cpu = idle_cpu(process_tree(program.pid), idle_seconds)
        kill_group(program)
        return cpu
    finally:
        session.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", required=True)
    parser.add_argument("--floor", required=True)
    parser.add_argument("--fake", required=True, help="the fake-openrouter binary")
    parser.add_argument("--browser", required=True, help="the fake-browser binary")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--settle-seconds", type=float, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    xvfb, display = start_display()
    try:
        runs = {"app": [], "floor": []}
        homes_dir = tempfile.mkdtemp(prefix="openrouter-connect-bench-homes-")
        homes = {name: os.path.join(homes_dir, name) for name in runs}
        fake_env = {}
        for i in range(args.runs):
            # In alternation, so that drift in the machine hits both alike.
            order = [("app", args.app, APP_READY), ("floor", args.floor, FLOOR_READY)]
            if i % 2:
                order.reverse()
            for name, path, marker in order:
                if name == "app":
                    # Disconnected at start, so the app makes no request; the
                    # base URL only keeps it off the network.
                    fake_env = {"OPENROUTER_BASE_URL": "http://127.0.0.1:9"}
                else:
                    fake_env = {}
                # One HOME per program across its runs, as a user's: the
                # first start's one-time work (the app registering its
                # link handler) is in run 1 only.
                run = start_once(display, [path], marker, args.settle_seconds, fake_env, homes[name], PHASES[name])
                runs[name].append(run)
                print(f"{name} run {i + 1}: start-up {run['startup_ms']:.0f} ms, shown {run['shown_ms']:.0f} ms, RSS {run['rss_kib']} KiB, PSS {run['pss_kib']} KiB", flush=True)
        log_path = os.path.join(os.path.dirname(os.path.abspath(args.out)), "connected.log")
        # Pressing Connect needs WebDriver, which now and then drops a
        # request: each try starts afresh (a new HOME, driver and app).
        for attempt in range(1, 6):
            try:
                connected = connected_figures(display, args.app, args.fake, args.browser, args.idle_seconds, log_path)
                break
            except (OSError, KeyError, TypeError, StopIteration, ConnectFailed) as failure:
                kept = f"{log_path}.{attempt}"
                shutil.copyfile(log_path, kept)
                print(f"connect try {attempt} failed ({failure!r}); its log: {kept}", flush=True)
        else:
            raise SystemExit("the app could not be connected under WebDriver in 5 tries")
        print(f"app connected: {connected}", flush=True)
        floor_cpu = floor_idle(display, args.floor, args.idle_seconds)
        print(f"floor idle CPU: {floor_cpu:.2f} %", flush=True)
        timeline_log = os.path.join(os.path.dirname(os.path.abspath(args.out)), "timeline-{}.log")
        timelines = {
            "app": page_timeline(
                display, args.app, 3, timeline_log.format("app"), OPENROUTER_BASE_URL="http://127.0.0.1:9"
            ),
            "floor": page_timeline(display, args.floor, 3, timeline_log.format("floor")),
        }
        print(f"page timelines: {timelines}", flush=True)
    finally:
        xvfb.terminate()
        xvfb.wait()
        shutil.rmtree(homes_dir, ignore_errors=True)

    result = {
        name: {
            "startup_ms": summary([r["startup_ms"] for r in rs]),
            "shown_ms": summary([r["shown_ms"] for r in rs]),
            "rss_kib": summary([r["rss_kib"] for r in rs]),
            "pss_kib": summary([r["pss_kib"] for r in rs]),
            "cold": all(r["cold"] for r in rs),
            "pss_by_process_kib": rs[-1]["pss_by_process_kib"],
            # Medians of when main() ran and when setup was done.
            "phases_ms": {
                phase: statistics.median(r["phases"][phase] for r in rs if phase in r["phases"])
                for phase, _ in PHASES[name]
            },
        }
        for name, rs in runs.items()
    }
    result["idle_seconds"] = args.idle_seconds
    result["app"]["connected"] = connected
    result["floor"]["idle_cpu_percent"] = floor_cpu
    for name, timeline in timelines.items():
        result[name]["page_timeline_ms"] = timeline
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
