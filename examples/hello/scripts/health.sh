#!/bin/sh
# verify: the health check. A real app would curl its own /healthz here.
set -eu
grep -q hello index.html
