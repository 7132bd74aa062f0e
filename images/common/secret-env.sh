#!/bin/sh
# secret-env COMMAND...: export the NAME=value lines of $SECRET_ENV, then run COMMAND. The stack uploads that
# file into a directory only this container's user may enter, so the secrets are in no `docker inspect`, no
# image and no argv (export is a builtin; nothing is evaluated: a value is taken literally up to the line's end).
set -eu
file=${SECRET_ENV:?secret-env: SECRET_ENV is not set}
if [ ! -r "$file" ]; then
    echo "secret-env: cannot read $file (the stack uploads it when it creates the container)" >&2
    exit 1
fi
while IFS= read -r line || [ -n "$line" ]; do
    name=${line%%=*}
    case $name in
        '' | [0-9]* | *[!A-Za-z0-9_]* | "$line")
            echo "secret-env: $file: a line that is not NAME=value" >&2
            exit 1
            ;;
    esac
    export "$name=${line#*=}"
done < "$file"
exec "$@"
