#!/bin/sh
# patronictl with the node's REST API credentials (from the secret file): `docker exec <node> patronictl ...`
# and `npm run patronictl` work as documented upstream, while the container's environment holds no password.
exec secret-env /usr/bin/patronictl "$@"
