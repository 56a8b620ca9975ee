#!/bin/sh
# pre-link: the new release is unpacked but not live yet; refuse it if it is broken.
set -eu
test -s "$DEPLOYKIT_RELEASE_DIR/index.html"
echo "release $(cat "$DEPLOYKIT_RELEASE_DIR/VERSION") of $DEPLOYKIT_APP looks complete"
