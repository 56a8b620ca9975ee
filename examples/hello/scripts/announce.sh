#!/bin/sh
# post-deploy: the release is live.
set -eu
echo "$DEPLOYKIT_APP $DEPLOYKIT_REF ($DEPLOYKIT_SHA) is live on $DEPLOYKIT_HOST in $DEPLOYKIT_ENVIRONMENT"
