#!/bin/sh
# Makes sure the Debian packages the test suite drives (scripts/prerequisites.txt) are installed,
# before anything else runs: `npm test` and .ci/run both start here. Missing packages are installed
# with apt-get as root; without root it stops with the one command that installs them. POSIX sh,
# because it runs before Node is checked.
# -f: package names are expanded unquoted (one word each) and must never glob.
set -euf
list="$(dirname "$0")/prerequisites.txt"
# dpkg, run by apt-get, refuses to install without sbin on PATH, which a non-login shell may lack.
PATH="$PATH:/usr/sbin:/sbin"

packages=$(sed -e 's/#.*//' "$list" | tr -s ' \t\n' '   ')
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "secretgate: no dpkg-query, so this is not Debian: install the equivalents of scripts/prerequisites.txt yourself" >&2
  exit 0
fi
# dpkg-query fails when any package is unknown to it; the ones it knows are still printed.
installed=" $(dpkg-query -W -f='${Status} ${Package}\n' $packages 2>/dev/null | sed -n 's/^install ok installed //p' | tr '\n' ' ') "
missing=""
for package in $packages; do
  case "$installed" in
    *" $package "*) ;;
    *) missing="$missing $package" ;;
  esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "secretgate: the tests need Debian packages that are not installed. As root, run:
  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "secretgate: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
