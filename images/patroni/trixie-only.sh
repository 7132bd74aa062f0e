#!/bin/sh
# Print the installed packages whose installed version comes from Debian trixie and not from bookworm.
# The Patroni image takes only Patroni 4 and what it cannot do without from trixie; the build fails
# when anything else drifts in (see the Dockerfile).
set -eu
# shellcheck disable=SC2046 # one argument per package is the point
apt-cache policy $(dpkg-query -W -f '${Package} ') | awk '
  function flush() { if (pkg != "" && trixie && !bookworm) print pkg }
  /^[^ ]/          { flush(); pkg = $1; sub(":$", "", pkg); installed = 0; bookworm = 0; trixie = 0; next }
  /^ \*\*\* /      { installed = 1; next }
  /^     [^ ]/     { installed = 0; next }
  installed && / bookworm\// { bookworm = 1 }
  installed && / trixie\//   { trixie = 1 }
  END              { flush() }' | sort
