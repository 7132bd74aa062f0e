#!/bin/sh
# Container health = `barman check` for the server.
exec barman check "${1:-cluster}" --nagios
