#!/usr/bin/env python3
"""What each part of the settings panel's page costs the web process.

Serves variants of the panel's built page (dist/index.html) in the page
probe (bench/page-probe: one Tauri window over a folder, so that every
variant runs in the same binary), each started RUNS times under Xvfb in a
D-Bus session of its own, and prints the median time from exec to the
page's first call and the PSS of the web process and of the whole tree,
for each variant. The panel's page gets a stand-in for the plugin's
bindings that answers one disconnected status, so it renders what the app
shows at start.

    cargo build --release -p page-probe
    python3 bench/page_variants.py --probe target/release/page-probe [--runs 5]

Standard library only; reuses bench/desktop.py's display and session.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import time

import desktop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READY = "probe: page ready"

# The plugin's bindings as the panel uses them, answering one disconnected
# status with no key: the panel's start-up view. `subscribe` tells the
# probe the page asked, as the real one asks the app.
STAND_IN = """<script>
(() => {
  const status = {
    state: 'disconnected', revision: 1, key: null, health: null,
    protection: { level: 'keychain', label: 'System keychain', detail: 'The key is encrypted; its data key is in the system keychain.' },
    baseUrl: 'https://openrouter.ai', customBaseUrl: false, browserError: null, storeNotice: null,
    defaultLabel: 'OpenRouter Connect', callbackMode: 'loopback', pasteSuggested: null, forgotten: null, appVersion: '0.1.0',
  };
  class OpenRouterError extends Error {}
  const never = () => new Promise(() => {});
  window.__TAURI_PLUGIN_OPENROUTER__ = {
    STATUS_EVENT: 'openrouter://status', OpenRouterError,
    isOpenRouterError: (e) => e instanceof OpenRouterError, toError: (e) => e,
    subscribe: async (handler) => { window.__TAURI__.core.invoke('ready'); handler(status); return () => {}; },
    status: async () => status,
    connect: never, cancel: never, submitCode: never, disconnect: never, refresh: never, dismiss: never,
    reload: never, openAgain: never, browserUrl: never, openRevokePage: never, models: never, chat: never,
  };
})();
</script>
"""

# Declarations that may cost compositing layers or repaints.
EFFECTS = "box-shadow|transition|animation|transform|will-change|filter"


def strip_declarations(style, properties):
    """The stylesheet without any declaration of `properties` (a regex
    alternation of property names)."""
    return re.sub(rf"(?<![-\w])({properties})\s*:[^;}}]*;?", "", style)


def strip_rules(style, selector):
    """The stylesheet without the rules whose selector matches `selector`
    (a regex; esbuild writes one rule per `selector{...}`)."""
    return re.sub(rf"[^{{}}]*{selector}[^{{}}]*\{{[^{{}}]*\}}", "", style)


def panel_page():
    with open(os.path.join(ROOT, "dist", "index.html")) as f:
        return f.read()


def with_stand_in(page):
    """The stand-in goes before the panel's own script (or where it was)."""
    at = page.rindex("<script>") if "<script>" in page else page.rindex("</body>")
    return page[:at] + STAND_IN + page[at:]


def without(page, tag):
    return re.sub(rf"<{tag}>.*?</{tag}>", "", page, flags=re.S)


def variants():
    """(name, files) for each page to measure."""
    page = panel_page()
    with open(os.path.join(ROOT, "bench", "floor", "ui", "index.html")) as f:
        floor = f.read()
    style = re.search(r"<style>(.*?)</style>", page, flags=re.S).group(1)
    def restyled(properties):
        return with_stand_in(page.replace(style, strip_declarations(style, properties)))

    def without_rules(selector):
        return with_stand_in(page.replace(style, strip_rules(style, selector)))

    no_script = with_stand_in(without(page, "script")).replace(
        "})();\n</script>", "})();\nwindow.__TAURI_PLUGIN_OPENROUTER__.subscribe(() => {});\n</script>"
    )
    files = {name: open(os.path.join(ROOT, "ui", name)).read() for name in os.listdir(os.path.join(ROOT, "ui"))}
    files["index.html"] = files["index.html"].replace("<head>", "<head>\n" + STAND_IN, 1)
    return [
        ("the floor's page", {"index.html": floor}),
        ("the panel, built (one document)", {"index.html": with_stand_in(page)}),
        ("the panel as files (ui/: a stylesheet and 4 modules)", files),
        ("the panel without its stylesheet", {"index.html": with_stand_in(without(page, "style"))}),
        ("the panel without shadows, transforms, transitions, animations", {"index.html": restyled(EFFECTS)}),
        ("the panel without transform", {"index.html": restyled("transform")}),
        ("the panel without border-radius", {"index.html": restyled("border-radius")}),
        ("the panel without its scrollbar rules (WebKit's own scrollbars)", {"index.html": without_rules("::-webkit-scrollbar")}),
        ("the panel without color-scheme (light only)", {"index.html": with_stand_in(page.replace(style, strip_declarations(style, "color-scheme")).replace('<meta name="color-scheme" content="light dark">', ""))}),
        ("the panel without font-family (the default font)", {"index.html": restyled("font-family")}),
        ("the panel's HTML and stylesheet, no script", {"index.html": no_script}),
    ]


def measure(display, probe, folder, runs, settle):
    samples = []
    for _ in range(runs):
        session = desktop.Session(display)
        try:
            desktop.drop_caches()
            began = time.monotonic()
            program = session.spawn([probe, folder])
            desktop.wait_for_line(program, READY)
            ready = (time.monotonic() - began) * 1000
            desktop.drain(program)
            time.sleep(settle)
            tree = desktop.process_tree(program.pid)
            rss, pss = desktop.memory(tree)
            web = sum(kib for name, kib in desktop.memory_by_process(tree).items() if name.startswith("WebKitWebProces"))
            desktop.kill_group(program)
            samples.append({"ready_ms": ready, "pss_kib": pss, "web_pss_kib": web})
        finally:
            session.close()
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", required=True, help="the page-probe binary")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle-seconds", type=float, default=2)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    probe = os.path.abspath(args.probe)

    work = tempfile.mkdtemp(prefix="openrouter-connect-variants-")
    xvfb, display = desktop.start_display()
    results = []
    try:
        for i, (name, files) in enumerate(variants()):
            folder = os.path.join(work, str(i))
            os.makedirs(folder)
            for file, text in files.items():
                with open(os.path.join(folder, file), "w") as f:
                    f.write(text)
            figures = measure(display, probe, folder, args.runs, args.settle_seconds)
            results.append({"variant": name, **figures})
            print(f"{name}: {figures}", flush=True)
    finally:
        xvfb.terminate()
        xvfb.wait()
        shutil.rmtree(work, ignore_errors=True)

    base = results[0]
    print()
    print(f"| page ({args.runs} cold starts each, medians) | exec → first call | web process PSS | tree PSS |")
    print("| --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['variant']} | {r['ready_ms']:.0f} ms | {r['web_pss_kib'] / 1024:.1f} MiB "
            f"({(r['web_pss_kib'] - base['web_pss_kib']) / 1024:+.1f}) | {r['pss_kib'] / 1024:.1f} MiB |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
