#!/usr/bin/env bash
# The page's bindings as an app gets them from npm: built and checked with
# strict TypeScript, the committed IIFE (plugin/api-iife.js, which the
# crate's build embeds without npm) the same as the sources build, a packed
# tarball that holds what a user needs and nothing else, npm's publish
# dry run, and, compiled with `strict` against that tarball, an app's file
# (plugin/guest-js/check/consumer.ts, with TypeScript's two module
# resolutions) and the page code of plugin/README.md. Needs the root's
# `npm ci` (the workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
package=tauri-plugin-openrouter-api

npm run --silent -w "$package" check
npm run --silent -w "$package" build

if ! git diff --exit-code --stat -- plugin/api-iife.js; then
    echo "plugin/api-iife.js differs from what guest-js/index.ts builds: commit the rebuilt file" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

tarball="$work/$(npm pack --silent -w "$package" --pack-destination "$work")"
expected="package/CHANGELOG.md
package/LICENSE-APACHE
package/LICENSE-MIT
package/README.md
package/dist-js/index.cjs
package/dist-js/index.d.ts
package/dist-js/index.js
package/package.json"
if ! diff <(echo "$expected") <(tar -tzf "$tarball" | LC_ALL=C sort); then
    echo "the npm package holds other files than expected (above: - expected, + packed)" >&2
    exit 1
fi
if tar -xOzf "$tarball" package/dist-js | grep -q 'sourceMappingURL'; then
    echo "the npm package's scripts name source maps it does not hold" >&2
    exit 1
fi

# What the release's `npm publish` would send, checked by npm itself.
npm publish --dry-run --silent -w "$package" >/dev/null

# An app of its own: the tarball installed as npm installs it, with the
# workspace's @tauri-apps/api and TypeScript (nothing is downloaded).
app="$work/app"
mkdir -p "$app"
cp plugin/guest-js/check/consumer.ts "$app/consumer.ts"
# And the page code of the plugin README's "Set up", as a developer
# pastes it into the template's src/main.ts (its first TypeScript block).
awk '/^```ts$/ { n++; next } /^```$/ { if (n == 1) exit } n == 1' plugin/README.md > "$app/readme.ts"
grep -q "from 'tauri-plugin-openrouter-api'" "$app/readme.ts"
cat > "$app/package.json" <<'JSON'
{ "name": "consumer", "private": true, "type": "module" }
JSON
(cd "$app" && npm install --silent --offline --no-audit --no-fund \
    "$tarball" "$root/node_modules/@tauri-apps/api" "$root/node_modules/typescript")
if [ -e "$app/node_modules/$package/guest-js" ]; then
    echo "the installed package holds its sources" >&2
    exit 1
fi
for resolution in "--module ESNext --moduleResolution Bundler" "--module NodeNext --moduleResolution NodeNext"; do
    # shellcheck disable=SC2086 # two options each
    "$app/node_modules/.bin/tsc" --noEmit --strict --exactOptionalPropertyTypes \
        --noUncheckedIndexedAccess --target ES2020 --lib ES2020,DOM $resolution \
        "$app/consumer.ts"
done
# With the template's tsconfig.json settings (strict, unused names refused).
"$app/node_modules/.bin/tsc" --noEmit --strict --noUnusedLocals --noUnusedParameters \
    --noFallthroughCasesInSwitch --target ES2020 --lib ES2020,DOM --module ESNext \
    --moduleResolution Bundler --isolatedModules "$app/readme.ts"
echo "bindings: built, the IIFE reproduced, $(basename "$tarball") holds what a user needs, an app compiles against it"
