#!/usr/bin/env bash
# Installs what the browser tests (e2e/, build tag e2e) need, idempotently, from Debian apt
# and the npm registry only: Debian's Chromium and fonts, and the playwright driver that
# playwright-go v0.5200.1 pins (playwright-core 1.52.0) laid out where playwright-go looks.
# Nothing downloads a browser build. Prints the driver directory on its last line.
#
#   D=$(scripts/install-browser-deps.sh | tail -n1)
set -euo pipefail

DRIVER_VERSION=1.52.0
DRIVER_DIR=${PLAYWRIGHT_DRIVER_PATH:-$HOME/.cache/ms-playwright-go/$DRIVER_VERSION}

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
dpkg -s fonts-liberation >/dev/null 2>&1 || need_apt+=(fonts-liberation)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "installing ${need_apt[*]} from apt" >&2
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

if [ ! -f "$DRIVER_DIR/package/cli.js" ] || ! grep -q "\"version\": \"$DRIVER_VERSION\"" "$DRIVER_DIR/package/package.json" 2>/dev/null; then
	echo "laying out playwright-core $DRIVER_VERSION in $DRIVER_DIR" >&2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "playwright-core@$DRIVER_VERSION" >&2)
	rm -rf "$DRIVER_DIR/package"
	mkdir -p "$DRIVER_DIR"
	tar -xzf "$tmp/playwright-core-$DRIVER_VERSION.tgz" -C "$DRIVER_DIR"
fi
ln -sfn "$(command -v node)" "$DRIVER_DIR/node"
echo "$DRIVER_DIR"
